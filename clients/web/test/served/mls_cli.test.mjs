// Interop with the Rust CLI (openmls 0.9) through a running API: a TS device and a CLI device in one group, each
// creating a group with the other, messages both ways, and commits by each side (add, remove) processed by the
// other. Needs E2EE_SERVER and E2EE_CLI (the `e2ee` binary); skipped without them, a failure with CI=true.
// The CLI runs as the Rust e2e tests drive it: its own profile directory (E2EE_PROFILE_DIR), --json, and the
// password and passphrase in environment variables named by --password-env / --passphrase-env.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeMlsMessage } from "ts-mls";
import { ApiClient, MemoryKvStore, MlsApi, MlsDevice, Session, deviceSessionInput, fromBase64Strict, generateKeyPair, toBase64, toHex } from "../../dist/index.js";
import { PASSWORD, SERVER, cliRunner, requires, suffix } from "./support.mjs";
import { DeviceStore } from "../../dist/mls/store.js";
import { signRaw, suite } from "../../dist/mls/suite.js";

const skip = requires({ cli: true });
let profileDir;
let runCli;
const S = {};

/** `e2ee --json --profile <profile> args... [--passphrase-env ...]`; the parsed JSON output (it must succeed). */
function cli(profile, args, { unlock = true } = {}) {
  return runCli(profile, [...args, ...(unlock ? ["--passphrase-env", "E2EE_TEST_PASSPHRASE"] : [])]);
}

async function cliAccount(profile) {
  const username = `${profile}_${suffix}`;
  const reg = await cli(profile, ["register", username, "--password-env", "E2EE_TEST_PASSWORD"], { unlock: false });
  await cli(profile, ["keys", "init"]);
  const dev = await cli(profile, ["device", "init", "--device-id", "laptop"]);
  assert.equal(dev.status, "active");
  return { username, userId: reg.userId, profile };
}

async function tsAccount(name) {
  const username = `${name}_${suffix}`;
  const api = new ApiClient({ baseUrl: SERVER });
  await api.register(username, PASSWORD);
  const { userId } = await api.login(username, PASSWORD);
  const session = new Session({ api, userId });
  await session.registerKey(await generateKeyPair(2048));
  const kv = new MemoryKvStore();
  const { device } = await MlsDevice.init({ session, kv, deviceId: "browser", username });
  return { username, userId, device, session, kv };
}

const texts = (messages) => messages.map((m) => (m.status === "ok" ? m.text : `<${m.status}: ${m.reason}>`));
const cliRead = async (profile, groupId) => (await cli(profile, ["group", "read", groupId])).messages;
const userIds = (members) => [...new Set(members.map((m) => m.userId))].sort();

if (skip === false) {
  before(async () => {
    profileDir = mkdtempSync(join(tmpdir(), "e2ee-web-mls-cli-"));
    runCli = cliRunner(profileDir, { E2EE_TEST_PASSWORD: PASSWORD, E2EE_TEST_PASSPHRASE: "the right passphrase" });
    [S.rust, S.ts, S.ts2] = await Promise.all([cliAccount("rusty"), tsAccount("tessa"), tsAccount("tobias")]);
    // Each side looks the other up by name (TOFU pins of the name and, at first trust, of the key).
    await S.ts.device.lookup(S.rust.username);
  });
  after(() => rmSync(profileDir, { recursive: true, force: true }));
}

test("the CLI creates a group with the TS user: the TS device joins, messages both ways", { skip }, async () => {
  const created = await cli("rusty", ["group", "create", "--name", "from-rust", "--member", S.ts.username]);
  S.rustGroup = created.groupId;
  assert.equal(created.members.length, 2);
  const synced = await S.ts.device.sync();
  assert.deepEqual(synced.joined, [S.rustGroup], JSON.stringify(synced.refused));
  await cli("rusty", ["group", "send", S.rustGroup, "hello from openmls"]);
  const r = await S.ts.device.read(S.rustGroup);
  assert.deepEqual(texts(r.messages), ["hello from openmls"]);
  assert.equal(r.messages[0].senderUserId, S.rust.userId);
  assert.equal(r.messages[0].sender, S.rust.username);
  await S.ts.device.send(S.rustGroup, "hello from ts-mls");
  const back = await cliRead("rusty", S.rustGroup);
  assert.deepEqual(texts(back), ["hello from ts-mls"]);
  assert.equal(back[0].senderUserId, S.ts.userId);
  assert.equal(back[0].senderDevice, "browser");
});

test("the TS user creates a group with the CLI user: the CLI joins, messages both ways", { skip }, async () => {
  const g = await S.ts.device.createGroup([S.rust.userId], { name: "from-ts" });
  S.tsGroup = g.groupId;
  assert.deepEqual(userIds(g.members), [S.rust.userId, S.ts.userId].sort());
  const synced = await cli("rusty", ["sync"]);
  assert.ok(synced.joined.includes(S.tsGroup), JSON.stringify(synced));
  await S.ts.device.send(S.tsGroup, "ts group, first message");
  assert.deepEqual(texts(await cliRead("rusty", S.tsGroup)), ["ts group, first message"]);
  await cli("rusty", ["group", "send", S.tsGroup, "rust answers"]);
  assert.deepEqual(texts((await S.ts.device.read(S.tsGroup)).messages), ["rust answers"]);
});

test("commits both ways: the CLI adds a TS user, the TS device removes her, each side processes the other's commit", { skip }, async () => {
  // An openmls add commit, processed by ts-mls (its new leaf checked against the certificate under the pin)...
  const added = await cli("rusty", ["group", "add", S.rustGroup, S.ts2.username]);
  assert.deepEqual(userIds(added.members), [S.rust.userId, S.ts.userId, S.ts2.userId].sort());
  assert.deepEqual((await S.ts2.device.sync()).joined, [S.rustGroup]);
  await cli("rusty", ["group", "send", S.rustGroup, "three of us"]);
  assert.deepEqual(texts((await S.ts.device.read(S.rustGroup)).messages), ["three of us"]);
  assert.deepEqual(texts((await S.ts2.device.read(S.rustGroup)).messages), ["three of us"]);
  const members = await S.ts.device.members(S.rustGroup);
  assert.deepEqual(userIds(members.members), [S.rust.userId, S.ts.userId, S.ts2.userId].sort());

  // ...and a ts-mls remove commit, processed by openmls.
  const removed = await S.ts.device.removeMembers(S.rustGroup, [S.ts2.userId]);
  assert.deepEqual(userIds(removed.members), [S.rust.userId, S.ts.userId].sort());
  await S.ts.device.send(S.rustGroup, "tobias is out");
  assert.deepEqual(texts(await cliRead("rusty", S.rustGroup)), ["tobias is out"]);
  const cliMembers = await cli("rusty", ["group", "members", S.rustGroup]);
  assert.deepEqual(userIds(cliMembers.members), [S.rust.userId, S.ts.userId].sort());
  assert.equal((await S.ts2.device.read(S.rustGroup)).removed, true);

  // A ts-mls add commit processed by openmls, then an openmls removal processed by ts-mls.
  await S.ts.device.addMembers(S.tsGroup, [S.ts2.userId]);
  await S.ts2.device.sync();
  await S.ts2.device.send(S.tsGroup, "tobias joined the ts group");
  assert.deepEqual(texts(await cliRead("rusty", S.tsGroup)), ["tobias joined the ts group"]);
  await cli("rusty", ["group", "remove", S.tsGroup, S.ts2.username]);
  await cli("rusty", ["group", "send", S.tsGroup, "rust removed tobias"]);
  const r = await S.ts.device.read(S.tsGroup);
  assert.deepEqual(texts(r.messages), ["tobias joined the ts group", "rust removed tobias"]);
  assert.deepEqual(userIds((await S.ts.device.members(S.tsGroup)).members), [S.rust.userId, S.ts.userId].sort());
});

test("a ts-mls leaf update (after 50 messages) is processed by openmls", { skip }, async () => {
  const sent = [];
  for (let i = 0; i < 51; i++) sent.push((await S.ts.device.send(S.rustGroup, `burst ${i}`)).epoch);
  assert.equal(sent[50], sent[0] + 1, "the burst crosses exactly one leaf update (a commit)");
  assert.deepEqual(texts(await cliRead("rusty", S.rustGroup)), Array.from({ length: 51 }, (_, i) => `burst ${i}`));
  await cli("rusty", ["group", "send", S.rustGroup, "after your update"]);
  assert.deepEqual(texts((await S.ts.device.read(S.rustGroup)).messages), ["after your update"]);
});

test("interop finding: openmls's GroupInfo external_pub has the RFC 9420 length prefix that ts-mls reads as key bytes", { skip }, async (t) => {
  // The last commit of the TS group is the CLI's removal: the server holds openmls's GroupInfo for that epoch.
  const rec = await new DeviceStore(S.ts.kv, S.ts.userId).loadDevice();
  const createdAt = Date.now();
  const signature = toBase64(signRaw(rec.keys, deviceSessionInput(S.ts.userId, rec.deviceId, createdAt)));
  const { token } = await new MlsApi(S.ts.session.api).deviceSession({ deviceId: rec.deviceId, createdAt, signature });
  const view = (await new ApiClient({ baseUrl: SERVER, token }).request("GET", `/api/groups/${S.tsGroup}`)).data;
  const bytes = fromBase64Strict(view.groupInfo);
  const [msg] = decodeMlsMessage(bytes, 0);
  const ext = msg.groupInfo.extensions.find((e) => e.extensionType === "external_pub");
  t.diagnostic(`openmls external_pub extension_data (${ext.extensionData.length} bytes): ${toHex(ext.extensionData)}`);
  // RFC 9420 §12.4.3.2: ExternalPub { HPKEPublicKey external_pub } = opaque<V>: 0x20 || 32 bytes of X25519 key.
  assert.equal(ext.extensionData.length, 33);
  assert.equal(ext.extensionData[0], 0x20);
  // ts-mls 1.6.4 (joinGroupExternal) hands the extension data to HPKE as the key itself: 33 bytes, refused; the key
  // after the prefix imports. So an external join of ts-mls into an openmls group fails (and, mirrored, openmls
  // cannot read ts-mls's unprefixed external_pub). This SDK publishes GroupInfos without it and never joins externally.
  const cs = await suite();
  await assert.rejects(cs.hpke.importPublicKey(ext.extensionData));
  await cs.hpke.importPublicKey(ext.extensionData.subarray(1));
});
