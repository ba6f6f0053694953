// MLS groups between TS devices against a running API: E2EE_SERVER=http://127.0.0.1:9100 npm run test:served
// Skipped when E2EE_SERVER is unset, except with CI=true, where that is a failure. The tests run in order and share
// one group: create and messages both ways, a third member, an epoch conflict (with a removal), a reload from the
// KvStore, a second device of a user approved and added, and leaving.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { ApiClient, MemoryKvStore, MlsDevice, MlsError, Session, generateKeyPair, loadCore } from "../../dist/index.js";
import { CoreDevice } from "../../dist/mls/core.js";
import { PASSWORD, SERVER, requires, suffix } from "./support.mjs";

const skip = requires();
const U = {};
let groupId;

/** Commit posts seen by a device's client: [status] in order; `gate` runs before one is sent. */
function watched() {
  const w = { commits: [], gate: null };
  w.fetch = async (url, init) => {
    const commit = init.method === "POST" && String(url).endsWith("/commits");
    if (commit && w.gate) {
      const g = w.gate;
      w.gate = null;
      await g();
    }
    const res = await fetch(url, init);
    if (commit) w.commits.push(res.status);
    return res;
  };
  return w;
}

async function login(username) {
  const api = new ApiClient({ baseUrl: SERVER });
  const r = await api.login(username, PASSWORD);
  return new Session({ api, userId: r.userId });
}

async function account(name) {
  const username = `${name}_${suffix}`;
  await new ApiClient({ baseUrl: SERVER }).register(username, PASSWORD);
  const session = await login(username);
  await session.registerKey(await generateKeyPair(2048));
  const kv = new MemoryKvStore();
  const w = watched();
  const { device, report } = await MlsDevice.init({ session, kv, deviceId: "laptop", fetch: w.fetch, username });
  assert.equal(report.status, "active");
  assert.equal(report.keyPackages, 50);
  assert.equal(report.lastResort, true);
  return { username, userId: session.userId, session, kv, device, w };
}

const texts = (r) => r.messages.map((m) => (m.status === "ok" ? m.text : `<${m.status}>`));
const devicesOf = (g) => g.members.map((m) => `${m.userId}/${m.deviceId}`);
const userIds = (g) => [...new Set(g.members.map((m) => m.userId))].sort();

if (SERVER) {
  before(async () => {
    for (const n of ["alice", "bob", "carol", "dave"]) U[n] = await account(n);
  });
}

test("create a group, join from the Welcome, messages both ways", { skip }, async () => {
  const { alice, bob } = U;
  const bobInfo = await alice.device.lookup(bob.username);
  const g = await alice.device.createGroup([bobInfo.userId], { name: "served" });
  groupId = g.groupId;
  assert.match(groupId, /^[0-9a-f]{32}$/);
  assert.equal(g.epoch, 1);
  assert.equal(g.name, "served");
  assert.deepEqual(g.members.find((m) => m.userId === bob.userId).username, bob.username);
  const s = await bob.device.sync();
  assert.deepEqual(s.joined, [groupId]);
  assert.deepEqual((await bob.device.sync()).joined, [], "the Welcome was acknowledged");

  const sent = await alice.device.send(groupId, "hello bob");
  assert.equal(sent.kind, "application");
  const r = await bob.device.read(groupId);
  assert.deepEqual(texts(r), ["hello bob"]);
  assert.equal(r.messages[0].senderUserId, alice.userId);
  assert.equal(r.messages[0].senderDevice, "laptop");
  await bob.device.send(groupId, "hi alice");
  assert.deepEqual(texts(await alice.device.read(groupId)), ["hi alice"]);
  assert.deepEqual(texts(await alice.device.read(groupId)), []);
  assert.deepEqual(texts(await alice.device.read(groupId, { all: true })), ["hello bob", "hi alice"]);
});

test("a third member reads from the epoch she joined at, not before", { skip }, async () => {
  const { alice, bob, carol } = U;
  const g = await alice.device.addMembers(groupId, [carol.userId]);
  assert.deepEqual(userIds(g), [alice.userId, bob.userId, carol.userId].sort());
  assert.deepEqual((await carol.device.sync()).joined, [groupId]);
  await bob.device.send(groupId, "welcome carol");
  assert.deepEqual(texts(await carol.device.read(groupId)), ["welcome carol"]);
  assert.deepEqual(texts(await alice.device.read(groupId)), ["welcome carol"]);
});

test("an epoch conflict: two devices commit at once, the loser is retried, both end consistent", { skip }, async () => {
  const { alice, bob, carol, dave } = U;
  // Alice's add of Dave is held until Bob's removal of Carol has won the epoch both commit for.
  alice.w.gate = () => bob.device.removeMembers(groupId, [carol.userId]);
  const before = alice.w.commits.length;
  await alice.device.addMembers(groupId, [dave.userId]);
  const statuses = alice.w.commits.slice(before);
  assert.equal(statuses.length, 2, `${statuses}`);
  assert.equal(statuses[0], 409);
  assert.equal(statuses[1], 201);
  await bob.device.read(groupId);
  const [a, b] = [await alice.device.members(groupId), await bob.device.members(groupId)];
  assert.equal(a.epoch, b.epoch);
  // The same devices in the same order (each side labels them with the names it knows).
  assert.deepEqual(devicesOf(a), devicesOf(b));
  assert.deepEqual(userIds(a), [alice.userId, bob.userId, dave.userId].sort());

  // Carol learns of her removal on her next read and reads nothing sent after it.
  assert.deepEqual((await dave.device.sync()).joined, [groupId]);
  await alice.device.send(groupId, "carol is gone");
  // (A removed device reads up to the commit that removed it; after that the group is unknown to it: 404.)
  const c = await carol.device.read(groupId);
  assert.equal(c.removed, true);
  assert.deepEqual(texts(c), []);
  await assert.rejects(carol.device.send(groupId, "still here?"), (e) => e instanceof MlsError && e.code === "not_in_group");
  assert.deepEqual(await carol.device.leave(groupId), { groupId, removedDevices: [], removalPending: false });
  assert.deepEqual(await carol.device.groups(), []);
  assert.deepEqual(texts(await dave.device.read(groupId)), ["carol is gone"]);
  assert.deepEqual(texts(await bob.device.read(groupId)), ["carol is gone"]);
});

test("a reload from the KvStore (a new session and MlsDevice.open) continues", { skip }, async () => {
  const { alice, bob } = U;
  const session = await login(bob.username);
  const reopened = await MlsDevice.open({ session, kv: bob.kv });
  assert.equal(reopened.deviceId, "laptop");
  assert.deepEqual((await reopened.groups()).map((g) => g.groupId), [groupId]);
  await alice.device.send(groupId, "after bob's reload");
  assert.deepEqual(texts(await reopened.read(groupId)), ["after bob's reload"]);
  await reopened.send(groupId, "reloaded bob here");
  assert.deepEqual(texts(await alice.device.read(groupId)), ["reloaded bob here"]);
  bob.device = reopened;
});

test("a second device: requested pending, approved by the first, added to the group on the first's sync", { skip }, async () => {
  const { alice, bob } = U;
  const session = await login(alice.username); // a new device: the account's password, no identity key
  const { device: phone, report } = await MlsDevice.request({ session, kv: new MemoryKvStore(), deviceId: "phone" });
  assert.equal(report.status, "pending");
  const listed = await alice.device.approve();
  assert.deepEqual(listed.map((d) => [d.deviceId, d.status, d.fingerprint]), [["phone", "pending", report.fingerprint]]);
  // The link code the phone shows (review N10): a malformed one, or one made by another device, approves nothing.
  assert.match(report.linkCode, /^[A-Z2-7]{4}(-[A-Z2-7]{4}){7}$/);
  await assert.rejects(alice.device.approve({ deviceId: "phone", code: "not a code" }), (e) => e.code === "invalid_input");
  await loadCore();
  const elsewhere = CoreDevice.create(alice.userId, "phone"); // same ids, another signature key
  await assert.rejects(alice.device.approve({ deviceId: "phone", code: elsewhere.startLink() }), (e) => e instanceof MlsError && e.code === "untrusted_device");
  elsewhere.free();
  assert.equal(await phone.status(), "pending");
  assert.equal((await alice.device.approve({ deviceId: "phone", code: report.linkCode }))[0].status, "active");
  // The phone holds no identity key: it trusts its user's devices under the key the approval's link proof names.
  assert.deepEqual((await phone.devices(alice.userId)).map((d) => [d.deviceId, d.trusted]).sort(), [["laptop", true], ["phone", true]]);
  await phone.sync(); // uploads its key packages
  await alice.device.sync(); // adds the certified phone to the group
  assert.deepEqual((await phone.sync()).joined, [groupId]);
  await bob.device.send(groupId, "to both of alice's devices");
  assert.deepEqual(texts(await phone.read(groupId)), ["to both of alice's devices"]);
  assert.deepEqual(texts(await alice.device.read(groupId)), ["to both of alice's devices"]);
  const devices = await bob.device.devices(alice.userId);
  assert.deepEqual(devices.map((d) => [d.deviceId, d.status, d.trusted]).sort(), [["laptop", "active", true], ["phone", "active", true]]);
  U.phone = phone;
});

test("leave: the other members read `left` and one of them commits the removal", { skip }, async () => {
  const { alice, bob, dave, phone } = U;
  const r = await alice.device.leave(groupId);
  assert.deepEqual(r, { groupId, removedDevices: ["phone"], removalPending: true });
  assert.deepEqual(await alice.device.groups(), []);
  const b = await bob.device.read(groupId);
  assert.deepEqual(b.messages.map((m) => [m.senderUserId, m.status]), [[alice.userId, "left"]]);
  assert.deepEqual(userIds(await bob.device.members(groupId)), [bob.userId, dave.userId].sort());
  const d = await dave.device.read(groupId);
  assert.ok(d.removed === false && d.messages.some((m) => m.status === "left"));
  assert.equal((await phone.read(groupId)).removed, true);
  await dave.device.send(groupId, "just us");
  assert.deepEqual(texts(await bob.device.read(groupId)), ["just us"]);
});

test("an older copy of a device (restored from before its own commit) cannot read that commit, rejoins by external commit and reads on", { skip }, async () => {
  const { bob, dave } = U;
  const g = await bob.device.createGroup([dave.userId, U.carol.userId]);
  assert.deepEqual((await dave.device.sync()).joined, [g.groupId]);
  const key = `mls/${bob.userId}/device`;
  const older = structuredClone(await bob.kv.get(key)); // e.g. a backup, or another tab's copy
  await bob.device.send(g.groupId, "before the copy's gap");
  // Bob's device commits (it removes Carol: a commit with an update path, whose secrets its older copy cannot
  // derive): epoch 2, which the copy never reached.
  await bob.device.removeMembers(g.groupId, [U.carol.userId]);
  assert.deepEqual((await dave.device.read(g.groupId)).messages.map((m) => m.text), ["before the copy's gap"]);

  // The older copy is what the device has now.
  const kv = new MemoryKvStore();
  await kv.put(key, older);
  const copy = await MlsDevice.open({ session: bob.session, kv });
  const before = await copy.read(g.groupId);
  // Its own message (sent after the copy was made) is skipped as its own; its own commit is a row it cannot process,
  // which leaves it behind the group: it rejoined by external commit from the server's GroupInfo of epoch 2.
  assert.deepEqual(before.messages.map((m) => m.status), ["failed"]);
  assert.equal(before.epoch, 3, "rejoined: epoch 2 plus its external commit");
  await dave.device.send(g.groupId, "can the copy read this?");
  assert.deepEqual(texts(await copy.read(g.groupId)), ["can the copy read this?"]);
  await copy.send(g.groupId, "the copy is back");
  assert.deepEqual(texts(await dave.device.read(g.groupId)), ["the copy is back"]);
  // Only one leaf of Bob's device: the rejoin replaced the old one.
  assert.equal((await dave.device.members(g.groupId)).members.filter((m) => m.userId === bob.userId).length, 1);
});

test("revoking a device removes it from every group of the revoking device; the other members follow the commit", { skip }, async () => {
  const { dave } = U;
  const erin = await account("erin");
  const { device: tablet } = await MlsDevice.request({ session: erin.session, kv: new MemoryKvStore(), deviceId: "tablet" });
  await erin.device.approve({ deviceId: "tablet" });
  await tablet.sync(); // its key packages
  const g = await erin.device.createGroup([dave.userId]); // with both of Erin's devices
  assert.deepEqual(devicesOf(g).sort(), [`${dave.userId}/laptop`, `${erin.userId}/laptop`, `${erin.userId}/tablet`].sort());
  assert.deepEqual((await dave.device.sync()).joined, [g.groupId]);
  await erin.device.revokeDevice("tablet");
  const after = await erin.device.members(g.groupId);
  assert.deepEqual(devicesOf(after).sort(), [`${dave.userId}/laptop`, `${erin.userId}/laptop`].sort());
  await dave.device.read(g.groupId);
  assert.deepEqual(devicesOf(await dave.device.members(g.groupId)), devicesOf(after));
  const refused = await tablet.sync().catch((e) => e);
  assert.ok(refused instanceof Error && refused.status >= 400 && refused.status < 500, `the revoked device is refused: ${refused}`);
});
