// MlsDevice flows (the driver around the client core in WebAssembly) against an in-memory Delivery Service (an
// injected fetch; no MLS validation, only the epoch rule and Welcome routing of docs/mls.md; its MLS codec is ts-mls,
// tests/interop/mls) that lists keys and certified devices and can lie about them, no server: the ghost-device
// refusal, joining, reading, reloading from the KvStore, replays, trust refusals on Welcomes and commits, leaf
// updates, leave and remove, and an epoch conflict retried.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ApiClient, Session, MemoryKvStore, MlsDevice, MlsError, generateKeyPair, deviceCertInput, deviceSessionInput, fromBase64Strict, toHex,
  openSealedStore, isSealedRecord, toBase64, fingerprint, spkiPem,
} from "../../dist/index.js";
import { decodeMessage, ed25519, keyPackageRef, newKeyPackage, newSignatureKeys } from "../../../../tests/interop/mls/tsmls.mjs";

const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const err = (status, code) => json(status, { error: { code, message: code } });
const b64 = (s) => fromBase64Strict(s);
const mls = (s) => decodeMessage(s);

class FakeDs {
  devices = new Map(); // "u/d" -> device view
  keys = new Map(); // user id -> key listing (GET /api/crypto/public-key/{userId}?all=true)
  hidden = new Map(); // viewer user id -> Set("u/d"): devices listed to that viewer with a broken certificate (a lie)
  kps = new Map(); // "u/d" -> [{ encoded, lastResort }]
  refs = new Map(); // key package ref -> "u/d"
  groups = new Map(); // group id -> { epoch, log, joined: Map("u/d" -> epoch it joined at) }
  inbox = new Map(); // "u/d" -> [welcome view]
  calls = []; // [method, path, caller, status]
  claimOverride = null; // (userId) => ClaimedKeyPackage[] | undefined
  beforeCommit = null; // async (caller) => void, runs before the epoch is decided
  tokenGeneration = 0; // device tokens of an older generation are refused (401), as expired ones are
  welcomePageSize = 50; // Welcomes per inbox page (the server's MAX_WELCOMES_PER_READ)
  welcomesQueued = 0; // the inbox position of the next Welcome
  fetch = async (url, init) => {
    const u = new URL(url);
    const body = init.body ? JSON.parse(init.body) : undefined;
    const [kind, userId, deviceId, gen] = (init.headers.authorization ?? "").replace("Bearer ", "").split(":");
    const stale = kind === "dev" && Number(gen) !== this.tokenGeneration;
    const res = stale ? err(401, "invalid_token") : await this.#route(init.method, u.pathname, u.searchParams, body, { kind, userId, deviceId, key: `${userId}/${deviceId}` });
    this.calls.push([init.method, u.pathname, `${userId}/${deviceId ?? ""}`, res.status]);
    return res;
  };
  posts = (suffix, caller) => this.calls.filter(([m, p, c]) => m === "POST" && p.endsWith(suffix) && (!caller || c === caller));

  async #route(method, path, q, body, who) {
    const at = `${method} ${path}`;
    let m;
    if (at === "POST /api/devices") {
      const view = { userId: who.userId, ...body, status: body.certificate ? "active" : "pending", certificate: body.certificate ?? null, createdAt: 1, approvedAt: null, revokedAt: null };
      this.devices.set(`${who.userId}/${body.deviceId}`, view);
      return json(201, view);
    }
    if (at === "POST /api/devices/session") {
      const d = this.devices.get(`${who.userId}/${body.deviceId}`);
      const ok = d && ed25519.verify(b64(body.signature), deviceSessionInput(who.userId, body.deviceId, body.createdAt), b64(d.signatureKey));
      if (!ok) return err(422, "invalid_proof");
      return json(200, { token: `dev:${who.userId}:${body.deviceId}:${this.tokenGeneration}`, tokenType: "Bearer", expiresAt: Date.now() + 3600e3, userId: who.userId, deviceId: body.deviceId });
    }
    if ((m = /^GET \/api\/crypto\/public-key\/(.+)$/.exec(at))) return this.keys.has(m[1]) ? json(200, this.keys.get(m[1])) : err(404, "user_not_found");
    if ((m = /^GET \/api\/devices\/(.+)$/.exec(at))) {
      const hidden = this.hidden.get(who.userId) ?? new Set();
      const listed = [...this.devices.values()].filter((d) => d.userId === m[1]);
      return json(200, { userId: m[1], devices: listed.map((d) => (hidden.has(`${d.userId}/${d.deviceId}`) ? { ...d, certificate: { ...d.certificate, signature: toBase64(new Uint8Array(256)) } } : d)) });
    }
    if (who.kind !== "dev") return err(403, "device_token_required");
    const mine = this.kps.get(who.key) ?? [];
    if (at === "GET /api/key-packages/supply") return json(200, this.#supply(mine));
    if (at === "POST /api/key-packages") {
      for (const encoded of body.keyPackages) {
        const kp = mls(encoded).keyPackage;
        this.refs.set(await keyPackageRef(kp), who.key);
        mine.push({ encoded, lastResort: kp.extensions.some((e) => e.extensionType === 10) });
      }
      this.kps.set(who.key, mine);
      return json(201, this.#supply(mine));
    }
    if (at === "POST /api/key-packages/claim") {
      const out = this.claimOverride?.(body.userId) ??
        [...this.devices.values()].filter((d) => d.userId === body.userId && d.status === "active").flatMap((d) => {
          const list = this.kps.get(`${d.userId}/${d.deviceId}`) ?? [];
          const i = list.findIndex((k) => !k.lastResort);
          const kp = i >= 0 ? list.splice(i, 1)[0] : list.find((k) => k.lastResort);
          return kp ? [{ deviceId: d.deviceId, keyPackage: kp.encoded, lastResort: kp.lastResort }] : [];
        });
      return json(200, { userId: body.userId, keyPackages: out });
    }
    if (at === "POST /api/groups") {
      const groupId = toHex(mls(body.groupInfo).groupInfo.groupContext.groupId);
      this.groups.set(groupId, { epoch: 0, log: [this.#row(0, "create", 0, who, "")], joined: new Map([[who.key, 0]]), groupInfo: body.groupInfo });
      return json(201, { groupId, epoch: 0, seq: 0, members: [], groupInfo: body.groupInfo, ratchetTree: body.ratchetTree });
    }
    if ((m = /^GET \/api\/groups\/(\w+)$/.exec(at))) {
      // This fake keeps no ratchet tree: a device that tries to rejoin from it finds it unusable.
      const g = this.groups.get(m[1]);
      const members = [...g.joined.keys()].map((k) => ({ userId: k.split("/")[0], deviceId: k.split("/")[1] }));
      return json(200, { groupId: m[1], epoch: g.epoch, seq: g.log.length - 1, members, groupInfo: g.groupInfo, ratchetTree: "" });
    }
    if ((m = /^POST \/api\/groups\/(\w+)\/commits$/.exec(at))) {
      const g = this.groups.get(m[1]);
      await this.beforeCommit?.(who.key);
      const epoch = Number(mls(body.commit).publicMessage.content.epoch);
      if (epoch !== g.epoch) return json(409, { error: { code: "wrong_epoch", message: "x", currentEpoch: g.epoch, seq: g.log.length - 1 } });
      g.epoch += 1;
      g.groupInfo = body.groupInfo;
      const row = this.#row(g.log.length, "commit", g.epoch, who, body.commit);
      g.log.push(row);
      if (body.welcome) {
        for (const s of mls(body.welcome).welcome.secrets) {
          const to = this.refs.get(toHex(s.newMember));
          g.joined.set(to, g.epoch);
          const position = this.welcomesQueued++;
          this.inbox.set(to, [...(this.inbox.get(to) ?? []), { groupId: m[1], epoch: g.epoch, welcome: body.welcome, createdAt: Date.now(), position }]);
        }
      }
      return json(201, row);
    }
    if ((m = /^POST \/api\/groups\/(\w+)\/messages$/.exec(at))) {
      const g = this.groups.get(m[1]);
      const row = { ...this.#row(g.log.length, "application", Number(mls(body.message).privateMessage.epoch), who, body.message), clientMessageId: body.clientMessageId };
      g.log.push(row);
      return json(201, row);
    }
    if ((m = /^GET \/api\/groups\/(\w+)\/log$/.exec(at))) {
      const after = q.has("after") ? Number(q.get("after")) : -1;
      // The visibility rule: a device reads from the epoch it joined at, not the commit that added it.
      const g = this.groups.get(m[1]);
      const from = g.joined.get(who.key);
      const rows = g.log.filter((r) => r.seq > after && (r.kind === "commit" ? r.epoch > from : r.epoch >= from));
      const page = rows.slice(0, Number(q.get("limit")));
      return json(200, { groupId: m[1], entries: page, nextAfter: rows.length > page.length ? page.at(-1).seq : null });
    }
    if (at === "GET /api/welcomes") {
      // Pages of `welcomePageSize` after the position `after` (here: the count of Welcomes ever queued before).
      const all = this.inbox.get(who.key) ?? [];
      const after = q.has("after") ? Number(q.get("after")) : -1;
      const rest = all.filter((w) => w.position > after);
      const page = rest.slice(0, this.welcomePageSize);
      const more = rest.length > page.length;
      return json(200, { welcomes: page.map(({ position, ...w }) => w), ...(more ? { nextAfter: String(page.at(-1).position) } : {}) });
    }
    if (at === "POST /api/welcomes/ack") {
      this.inbox.set(who.key, (this.inbox.get(who.key) ?? []).filter((w) => !(w.groupId === body.groupId && w.epoch === body.epoch)));
      return json(200, { ...body, acknowledged: true });
    }
    throw new Error(`fake DS: no route ${at}`);
  }
  #supply(list) {
    return { oneTime: list.filter((k) => !k.lastResort).length, lastResort: list.some((k) => k.lastResort) };
  }
  #row(seq, kind, epoch, who, message) {
    return { seq, kind, epoch, senderUserId: who.userId, senderDeviceId: who.deviceId, message, createdAt: Date.now() };
  }
  /** From now on the server lists `device` ("u/d") to `viewer` (a user id) under a certificate that does not verify. */
  hide(viewer, device) {
    this.hidden.set(viewer, new Set([...(this.hidden.get(viewer) ?? []), device]));
  }
  /** The server appends a copy of a row again (a replay). */
  replay(groupId, seq) {
    const g = this.groups.get(groupId);
    g.log.push({ ...g.log[seq], seq: g.log.length });
  }
}

let keyPair;
async function user(ds, name, opts = {}) {
  keyPair ??= await generateKeyPair(2048);
  const userId = `u_${name}${Math.random().toString(16).slice(2, 10)}`;
  const session = new Session({ api: new ApiClient({ baseUrl: "http://ds", fetch: ds.fetch, token: `user:${userId}` }), userId });
  await session.useKey(keyPair);
  const entry = { keyId: keyPair.keyId, fingerprint: fingerprint(keyPair.keyId), bits: 2048, publicKey: await spkiPem(keyPair.publicKey.encryptKey), createdAt: 1 };
  ds.keys.set(userId, { userId, ...entry, keys: [{ ...entry, status: "active" }] });
  // opts.sealed: the MLS state in a SealedKvStore over a raw MemoryKvStore (what the page does), `raw` kept for checks
  const raw = opts.sealed ? new MemoryKvStore() : undefined;
  const kv = raw ? await openSealedStore(raw, userId, "password of " + name) : (opts.kv ?? new MemoryKvStore());
  const { device, report } = await MlsDevice.init({ session, kv, fetch: ds.fetch, deviceId: "laptop" });
  return { userId, session, kv, raw, device, report, key: `${userId}/laptop` };
}

async function pair() {
  const ds = new FakeDs();
  const alice = await user(ds, "alice");
  const bob = await user(ds, "bob");
  const g = await alice.device.createGroup([bob.userId]);
  assert.deepEqual((await bob.device.sync()).joined, [g.groupId]);
  return { ds, alice, bob, groupId: g.groupId };
}

const texts = (r) => r.messages.map((m) => (m.status === "ok" ? m.text : `<${m.status}>`));

test("init: a certificate by the identity key, a valid session proof, 50 one-time + 1 last-resort packages; a second init is refused", async () => {
  const ds = new FakeDs();
  const a = await user(ds, "alice");
  assert.deepEqual({ ...a.report, fingerprint: undefined }, { userId: a.userId, deviceId: "laptop", status: "active", fingerprint: undefined, keyPackages: 50, lastResort: true });
  const view = ds.devices.get(a.key);
  assert.equal(view.certificate.issuerKeyId, keyPair.keyId);
  const input = deviceCertInput({ userId: a.userId, deviceId: "laptop", signatureKey: b64(view.signatureKey), issuerKeyId: keyPair.keyId, createdAt: view.certificate.issuedAt });
  assert.ok(await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, keyPair.publicKey.verifyKey, b64(view.certificate.signature), input));
  await assert.rejects(MlsDevice.init({ session: a.session, kv: a.kv, fetch: ds.fetch, deviceId: "phone" }), (e) => e instanceof MlsError && e.code === "device_exists");
  // The private halves were stored before the upload: a new process over the store joins by an uploaded package.
  const bob = await user(ds, "bob");
  const g = await bob.device.createGroup([a.userId]);
  const reopened = await MlsDevice.open({ session: a.session, kv: a.kv, fetch: ds.fetch });
  assert.deepEqual((await reopened.sync()).joined, [g.groupId]);
});

test("the device token is reused for a run of operations and renewed once on a 401", async () => {
  const { ds, alice, groupId } = await pair();
  const sessions = () => ds.posts("/api/devices/session", `${alice.userId}/`).length;
  const before = sessions();
  await alice.device.send(groupId, "one");
  await alice.device.send(groupId, "two");
  assert.equal(sessions(), before, "reused");
  ds.tokenGeneration += 1; // the server no longer accepts the token (expired, or the server's key rotated)
  await alice.device.send(groupId, "three");
  assert.equal(sessions(), before + 1, "renewed once");
  const refused = ds.calls.filter(([, , c, status]) => c === alice.key && status === 401);
  assert.equal(refused.length, 1);
});

test("key packages are topped up to 50 when fewer than 10 are left; the private halves are stored first", async () => {
  const ds = new FakeDs();
  const bob = await user(ds, "bob");
  await bob.device.sync();
  assert.equal(ds.posts("/api/key-packages", bob.key).length, 1, "10 or more left: no upload");
  ds.kps.get(bob.key).splice(0, 41); // 9 one-time packages left (and the last-resort one)
  await bob.device.sync();
  const supply = ds.kps.get(bob.key);
  assert.equal(supply.filter((k) => !k.lastResort).length, 50);
  assert.equal(supply.filter((k) => k.lastResort).length, 1);
  assert.equal(ds.posts("/api/key-packages", bob.key).length, 2, "one upload of the 41 missing");
});

test("a ghost device in a claim refuses the whole add: typed error, nothing committed, the group unchanged", async () => {
  const ds = new FakeDs();
  const alice = await user(ds, "alice");
  const bob = await user(ds, "bob");
  const real = ds.kps.get(bob.key).shift().encoded;
  const ghost = await newKeyPackage(newSignatureKeys(), { userId: bob.userId, deviceId: "ghost" }, false);
  ds.claimOverride = (u) => (u === bob.userId ? [{ deviceId: "laptop", keyPackage: real, lastResort: false }, { deviceId: "ghost", keyPackage: ghost.encoded, lastResort: false }] : u === alice.userId ? [] : undefined);
  await assert.rejects(alice.device.createGroup([bob.userId]), (e) => e instanceof MlsError && e.code === "untrusted_device" && e.message.includes(`${bob.userId}/ghost`));
  assert.equal(ds.posts("/commits").length, 0);
  const [g] = await alice.device.groups();
  assert.equal(g.epoch, 0);
  assert.deepEqual(g.members.map((m) => m.userId), [alice.userId]);
  // A package whose credential names another device than the one claimed is refused the same way.
  ds.claimOverride = (u) => (u === bob.userId ? [{ deviceId: "phone", keyPackage: real, lastResort: false }] : undefined);
  await assert.rejects(alice.device.addMembers(g.groupId, [bob.userId]), (e) => e.code === "untrusted_device" && /names another device/.test(e.message));
  assert.equal(ds.posts("/commits").length, 0);
});

test("create, join, messages both ways; a reload from the KvStore continues; a replayed row fails; the used key package is gone", async () => {
  const { ds, alice, bob, groupId } = await pair();
  const sent = await alice.device.send(groupId, "hello bob");
  assert.deepEqual(texts(await bob.device.read(groupId)), ["hello bob"]);
  await bob.device.send(groupId, "hi alice");
  const r = await alice.device.read(groupId);
  assert.deepEqual(texts(r), ["hi alice"]);
  assert.deepEqual({ ...r.messages[0], seq: 0 }, { seq: 0, sender: bob.userId, senderUserId: bob.userId, senderDevice: "laptop", epoch: 1, text: "hi alice", status: "ok" });
  assert.deepEqual(texts(await alice.device.read(groupId)), [], "nothing new on a second read");

  // A new process over Bob's store: a new session and MlsDevice.open continue where the old one stopped.
  const session2 = new Session({ api: new ApiClient({ baseUrl: "http://ds", fetch: ds.fetch, token: `user:${bob.userId}` }), userId: bob.userId });
  const bob2 = await MlsDevice.open({ session: session2, kv: bob.kv, fetch: ds.fetch });
  assert.deepEqual(texts(await bob2.read(groupId)), []);
  await alice.device.send(groupId, "after the reload");
  assert.deepEqual(texts(await bob2.read(groupId)), ["after the reload"]);
  assert.deepEqual(texts(await bob2.read(groupId, { all: true })), ["hello bob", "hi alice", "after the reload"]);
  // The server appends the first message again: its key was used and deleted from the stored state.
  ds.replay(groupId, sent.seq);
  const replayed = await bob2.read(groupId);
  assert.equal(replayed.messages.length, 1);
  assert.equal(replayed.messages[0].status, "failed");
  assert.match(replayed.messages[0].reason, /cannot be processed/);
  await bob2.send(groupId, "still fine");
  assert.deepEqual(texts(await alice.device.read(groupId)), ["still fine"]);
  await assert.rejects(MlsDevice.open({ session: alice.session, kv: new MemoryKvStore() }), (e) => e.code === "no_device");
});

test("MLS state in a SealedKvStore: groups work as before, and the raw store shows neither message texts nor the signature key", async () => {
  const ds = new FakeDs();
  const alice = await user(ds, "alice", { sealed: true });
  const bob = await user(ds, "bob", { sealed: true });
  const g = await alice.device.createGroup([bob.userId]);
  assert.deepEqual((await bob.device.sync()).joined, [g.groupId]);
  await alice.device.send(g.groupId, "secret plans for friday");
  assert.deepEqual(texts(await bob.device.read(g.groupId)), ["secret plans for friday"]);
  await bob.device.send(g.groupId, "count me in");
  assert.deepEqual(texts(await alice.device.read(g.groupId)), ["count me in"]);
  // A reload: the same sealed records open again.
  const bob2 = await MlsDevice.open({ session: bob.session, kv: await openSealedStore(bob.raw, bob.userId, "password of bob"), fetch: ds.fetch });
  assert.deepEqual(texts(await bob2.read(g.groupId, { all: true })), ["secret plans for friday", "count me in"]);
  for (const u of [alice, bob]) {
    // The core's state blob, unsealed: it holds the texts (so looking for them below means something) and the keys.
    const state = (await u.kv.get(`mls/${u.userId}/device`)).state;
    assert.ok(Buffer.from(state).includes("count me in"));
    const seed = state.subarray(state.length - 64, state.length - 32); // 32 bytes of key material and secrets
    const dump = [];
    for (const k of await u.raw.keys("")) {
      const v = await u.raw.get(k);
      if (k.startsWith(`mls/${u.userId}/`)) assert.ok(isSealedRecord(v), k);
      dump.push(JSON.stringify(v, (_, x) => (x instanceof Uint8Array ? `${toBase64(x)} ${toHex(x)} ${new TextDecoder().decode(x)}` : x)));
    }
    const text = dump.join("\n");
    for (const needle of ["secret plans", "count me in", toBase64(seed), toHex(seed)]) assert.ok(!text.includes(needle), needle.slice(0, 12));
    for (const k of await u.raw.keys(`mls/${u.userId}/`)) {
      const bytes = (await u.raw.get(k)).ct;
      assert.ok(!Buffer.from(bytes).includes(Buffer.from(seed)), "the state's bytes");
    }
  }
});

test("sync follows the Welcome inbox's pages (nextAfter) and joins every group", async () => {
  const ds = new FakeDs();
  ds.welcomePageSize = 2;
  const alice = await user(ds, "alice");
  const bob = await user(ds, "bob");
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push((await alice.device.createGroup([bob.userId])).groupId);
  const s = await bob.device.sync();
  assert.deepEqual([...s.joined].sort(), [...ids].sort());
  assert.equal(ds.calls.filter(([m, p, c]) => m === "GET" && p === "/api/welcomes" && c === bob.key).length, 3, "three pages");
  assert.equal(ds.inbox.get(bob.key).length, 0, "all acknowledged");
});

test("a Welcome to a group with an uncertified member is refused and stays in the inbox", async () => {
  const ds = new FakeDs();
  const alice = await user(ds, "alice");
  const bob = await user(ds, "bob");
  ds.hide(bob.userId, alice.key); // the server lists Alice's device to Bob under a certificate that does not verify
  const g = await alice.device.createGroup([bob.userId]);
  const s = await bob.device.sync();
  assert.deepEqual(s.joined, []);
  assert.equal(s.refused.length, 1);
  assert.match(s.refused[0], new RegExp(`${alice.key}`));
  assert.equal(ds.inbox.get(bob.key).length, 1, "not acknowledged");
  assert.deepEqual(await bob.device.groups(), []);
  ds.hidden.clear(); // the honest listing
  assert.deepEqual((await bob.device.sync()).joined, [g.groupId]);
  assert.equal(ds.inbox.get(bob.key).length, 0);
});

test("a commit that brings in an uncertified device is reported failed and not merged", async () => {
  const { ds, alice, bob, groupId } = await pair();
  const carol = await user(ds, "carol");
  ds.hide(bob.userId, carol.key);
  await alice.device.addMembers(groupId, [carol.userId]);
  const r = await bob.device.read(groupId);
  assert.equal(r.messages.length, 1);
  assert.equal(r.messages[0].status, "failed");
  assert.match(r.messages[0].reason, /^trust refused: the commit brings in .*\/laptop/);
  assert.equal(r.epoch, 1);
  // Left behind the group, it looked at the group to rejoin; the rejoin was refused (here: no usable tree) and the
  // state is as it was: still epoch 1 with its two members.
  assert.ok(ds.calls.some(([m, p, c]) => m === "GET" && p === `/api/groups/${groupId}` && c === bob.key));
  assert.equal((await bob.device.groups())[0].members.length, 2);
});

test("the leaf is updated (a commit) before the 51st message; the other member reads every message", async () => {
  const { ds, alice, bob, groupId } = await pair();
  for (let i = 0; i < 50; i++) await alice.device.send(groupId, `m${i}`);
  const before = ds.posts("/commits", alice.key).length;
  await alice.device.send(groupId, "m50");
  assert.equal(ds.posts("/commits", alice.key).length, before + 1);
  const r = await bob.device.read(groupId);
  assert.deepEqual(texts(r), Array.from({ length: 51 }, (_, i) => `m${i}`));
  assert.equal(r.epoch, 2);
});

test("messages(): kept messages without network, including those a send read first; not_in_group once left", async () => {
  const { ds, alice, bob, groupId } = await pair();
  await bob.device.send(groupId, "from bob");
  await alice.device.send(groupId, "from alice"); // reads Bob's message first, then sends
  assert.deepEqual(texts(await alice.device.read(groupId)), [], "already read by the send");
  const calls = ds.calls.length;
  const kept = await alice.device.messages(groupId);
  assert.equal(ds.calls.length, calls, "no request");
  assert.deepEqual(kept.map((m) => [m.senderUserId, m.text, m.status]), [[bob.userId, "from bob", "ok"], [alice.userId, "from alice", "ok"]]);
  assert.ok(kept[0].seq < kept[1].seq);
  assert.deepEqual(kept, (await alice.device.read(groupId, { all: true })).messages);
  await alice.device.leave(groupId);
  await assert.rejects(alice.device.messages(groupId), (e) => e instanceof MlsError && e.code === "not_in_group");
  await assert.rejects(alice.device.messages("not hex"), (e) => e.code === "invalid_input");
});

test("leave: the leaver forgets the group, another member reads `left` and commits the removal", async () => {
  const { ds, alice, bob, groupId } = await pair();
  const left = await bob.device.leave(groupId);
  assert.deepEqual(left, { groupId, removedDevices: [], removalPending: true });
  assert.deepEqual(await bob.device.groups(), []);
  await assert.rejects(bob.device.read(groupId), (e) => e.code === "not_in_group");
  const r = await alice.device.read(groupId);
  assert.deepEqual(r.messages.map((m) => [m.senderUserId, m.status]), [[bob.userId, "left"]]);
  assert.equal(ds.posts("/commits", alice.key).length, 2, "the add, then the removal");
  assert.deepEqual((await alice.device.members(groupId)).members.map((m) => m.userId), [alice.userId]);
});

test("remove: the removed member learns it on its next read and forgets the group", async () => {
  const { alice, bob, groupId } = await pair();
  await alice.device.removeMembers(groupId, [bob.userId]);
  const r = await bob.device.read(groupId);
  assert.equal(r.removed, true);
  assert.deepEqual(await bob.device.groups(), []);
  await assert.rejects(alice.device.removeMembers(groupId, [alice.userId]), (e) => e.code === "invalid_input");
});

test("sync removes a member device its user revoked (one commit); a device still listed stays", async () => {
  const { ds, alice, bob, groupId } = await pair();
  const carol = await user(ds, "carol");
  await alice.device.addMembers(groupId, [carol.userId]);
  await carol.device.sync();
  const before = ds.posts("/commits", alice.key).length;
  await alice.device.sync();
  assert.equal(ds.posts("/commits", alice.key).length, before, "nothing revoked: no commit");
  ds.devices.get(bob.key).status = "revoked"; // what the directory says once Bob revoked that device
  await alice.device.sync();
  assert.equal(ds.posts("/commits", alice.key).length, before + 1);
  assert.deepEqual((await alice.device.members(groupId)).members.map((m) => m.userId).sort(), [alice.userId, carol.userId].sort());
  await carol.device.read(groupId);
  assert.deepEqual((await carol.device.members(groupId)).members.map((m) => m.userId).sort(), [alice.userId, carol.userId].sort());
});

test("an epoch conflict: the loser reads the winner's commit, re-applies its intent and both end consistent", async () => {
  const { ds, alice, bob, groupId } = await pair();
  const carol = await user(ds, "carol");
  const dave = await user(ds, "dave");
  let raced = false;
  ds.beforeCommit = async (caller) => {
    if (caller !== alice.key || raced) return;
    raced = true;
    await bob.device.addMembers(groupId, [dave.userId]); // Bob wins the epoch Alice is about to commit for
  };
  await alice.device.addMembers(groupId, [carol.userId]);
  const statuses = ds.calls.filter(([m, p, c]) => m === "POST" && p.endsWith("/commits") && c === alice.key).map((c) => c[3]);
  assert.deepEqual(statuses, [201, 409, 201], "the create-time add, the lost attempt, the retry");
  await bob.device.read(groupId);
  const [a, b] = [await alice.device.members(groupId), await bob.device.members(groupId)];
  assert.equal(a.epoch, 3);
  assert.equal(b.epoch, 3);
  assert.deepEqual(a.members, b.members);
  assert.equal(a.members.length, 4);
  await bob.device.send(groupId, "all four");
  assert.deepEqual(texts(await alice.device.read(groupId)), ["all four"]);
});

test("status(): the device's state as the directory lists it, asked with the user token; unlisted means revoked", async () => {
  const ds = new FakeDs();
  const alice = await user(ds, "alice");
  assert.equal(await alice.device.status(), "active");
  ds.devices.get(alice.key).status = "pending";
  assert.equal(await alice.device.status(), "pending");
  ds.devices.delete(alice.key);
  assert.equal(await alice.device.status(), "revoked");
  const asked = ds.calls.filter(([m, p]) => m === "GET" && p === `/api/devices/${alice.userId}`);
  assert.equal(asked.length, 3);
  assert.ok(asked.every(([, , caller]) => caller === `${alice.userId}/`), "the user token, not a device token");
});
