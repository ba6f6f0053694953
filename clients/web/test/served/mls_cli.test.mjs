// The two drivers of the client core through a running API: a TS SDK device (the core in WebAssembly) and a Rust CLI
// device (the core natively) in one group, each creating a group with the other, messages both ways, and commits by
// each side (add, remove, leaf update) processed by the other. (Interop with a second MLS implementation, ts-mls:
// tests/interop/mls.) Needs E2EE_SERVER and E2EE_CLI (the `e2ee` binary); skipped without them, a failure with CI=true.
// The CLI runs as the Rust e2e tests drive it: its own profile directory (E2EE_PROFILE_DIR), --json, and the
// password and passphrase in environment variables named by --password-env / --passphrase-env.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient, MemoryKvStore, MlsDevice, Session, generateKeyPair } from "../../dist/index.js";
import { PASSWORD, SERVER, cliRunner, requires, suffix } from "./support.mjs";

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
  await S.ts.device.send(S.rustGroup, "hello from the TS SDK");
  const back = await cliRead("rusty", S.rustGroup);
  assert.deepEqual(texts(back), ["hello from the TS SDK"]);
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
  // A CLI add commit, processed by the TS SDK (its new leaf checked against the certificate under the pin)...
  const added = await cli("rusty", ["group", "add", S.rustGroup, S.ts2.username]);
  assert.deepEqual(userIds(added.members), [S.rust.userId, S.ts.userId, S.ts2.userId].sort());
  assert.deepEqual((await S.ts2.device.sync()).joined, [S.rustGroup]);
  await cli("rusty", ["group", "send", S.rustGroup, "three of us"]);
  assert.deepEqual(texts((await S.ts.device.read(S.rustGroup)).messages), ["three of us"]);
  assert.deepEqual(texts((await S.ts2.device.read(S.rustGroup)).messages), ["three of us"]);
  const members = await S.ts.device.members(S.rustGroup);
  assert.deepEqual(userIds(members.members), [S.rust.userId, S.ts.userId, S.ts2.userId].sort());

  // ...and a TS SDK remove commit, processed by the CLI.
  const removed = await S.ts.device.removeMembers(S.rustGroup, [S.ts2.userId]);
  assert.deepEqual(userIds(removed.members), [S.rust.userId, S.ts.userId].sort());
  await S.ts.device.send(S.rustGroup, "tobias is out");
  assert.deepEqual(texts(await cliRead("rusty", S.rustGroup)), ["tobias is out"]);
  const cliMembers = await cli("rusty", ["group", "members", S.rustGroup]);
  assert.deepEqual(userIds(cliMembers.members), [S.rust.userId, S.ts.userId].sort());
  assert.equal((await S.ts2.device.read(S.rustGroup)).removed, true);

  // A TS SDK add commit processed by the CLI, then a CLI removal processed by the TS SDK.
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

test("a TS SDK leaf update (after 50 messages) is processed by the CLI", { skip }, async () => {
  const sent = [];
  for (let i = 0; i < 51; i++) sent.push((await S.ts.device.send(S.rustGroup, `burst ${i}`)).epoch);
  assert.equal(sent[50], sent[0] + 1, "the burst crosses exactly one leaf update (a commit)");
  assert.deepEqual(texts(await cliRead("rusty", S.rustGroup)), Array.from({ length: 51 }, (_, i) => `burst ${i}`));
  await cli("rusty", ["group", "send", S.rustGroup, "after your update"]);
  assert.deepEqual(texts((await S.ts.device.read(S.rustGroup)).messages), ["after your update"]);
});
