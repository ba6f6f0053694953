// A device driven straight on the client core's WebAssembly API (clients/wasm) and a TypeScript SDK device (the SDK's
// driver around the same build) in one group through the served API: the wasm device is certified by its user's identity key (a WebCrypto key that
// signs the statement the core builds), gets a device token with the core's session proof, uploads key packages, is
// added by the TS device, joins from the Welcome inbox, reads and posts messages, and commits a leaf update that the
// server validates (its GroupInfo too) and the TS device processes.
//   E2EE_SERVER=http://127.0.0.1:9100 npm run test:served   (needs scripts/build-wasm.sh's output)

import assert from "node:assert/strict";
import { before, test } from "node:test";
import { ApiClient, MemoryKvStore, MlsApi, MlsDevice, Session, generateKeyPair } from "../../dist/index.js";
import { loadCore } from "../wasm/load.mjs";
import { PASSWORD, SERVER, requires, suffix } from "./support.mjs";

const skip = requires();
const { core } = await loadCore();
const S = {};

async function login(name) {
  const username = `${name}_${suffix}`;
  const api = new ApiClient({ baseUrl: SERVER });
  await api.register(username, PASSWORD);
  const { userId } = await api.login(username, PASSWORD);
  const session = new Session({ api, userId });
  const keys = await generateKeyPair(2048);
  await session.registerKey(keys);
  return { username, userId, api, session, keys };
}

/** The wasm device's driver, reduced to what the test needs: its API client with a device token, and its Trust. */
async function wasmDevice(user, deviceId) {
  const device = core.MlsDevice.create(user.userId, deviceId);
  const issuedAt = Date.now();
  const signature = await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, user.keys.signKey, device.certificateInput(user.keys.keyId, issuedAt));
  const view = await new MlsApi(user.api).registerDevice({
    deviceId, displayName: deviceId, signatureKey: device.signatureKey,
    certificate: { issuerKeyId: user.keys.keyId, issuedAt, signature: Buffer.from(signature).toString("base64") },
  });
  assert.equal(view.status, "active");
  const createdAt = Date.now();
  const { token } = await new MlsApi(user.api).deviceSession({ deviceId, createdAt, signature: device.sessionProof(createdAt) });
  const client = new ApiClient({ baseUrl: SERVER, token });
  const api = new MlsApi(client);
  await api.uploadKeyPackages(device.keyPackages(5, false));
  const trust = new core.Trust();
  /** Fetches `userIds`' key and device listings into the Trust (what a driver does before a trust decision). */
  const learn = async (userIds) => {
    for (const userId of userIds) {
      trust.observeKeys(userId, "", JSON.stringify(await user.api.publicKey(userId, true)), Date.now());
      trust.checkDevices(userId, JSON.stringify((await api.listDevices(userId)).devices));
    }
  };
  /** Reads the group's log from this device's position: the new messages. */
  const read = async (groupId) => {
    const messages = [];
    for (;;) {
      const page = await api.groupLog(groupId, JSON.parse(device.groupMeta(groupId)).after ?? null);
      for (const entry of page.entries) {
        let r = JSON.parse(device.readRow(groupId, JSON.stringify(entry), trust));
        if (!r.done) {
          await learn(r.users);
          r = JSON.parse(device.finishCommit(groupId, trust));
        }
        if (r.message) messages.push(r.message);
      }
      device.endOfPage(groupId, page.nextAfter === null);
      if (page.nextAfter === null || page.entries.length === 0) return messages;
    }
  };
  return { device, api, trust, learn, read };
}

if (SERVER) {
  before(async () => {
    S.alice = await login("walice");
    S.alice.device = (await MlsDevice.init({ session: S.alice.session, kv: new MemoryKvStore(), deviceId: "laptop", username: S.alice.username })).device;
    S.wendy = await login("wendy");
    S.wendy.w = await wasmDevice(S.wendy, "wasm");
  });
}

test("a TS device adds a wasm device; messages both ways; a wasm leaf update the server and the TS device accept", { skip }, async () => {
  const { alice, wendy } = S;
  const w = wendy.w;
  const group = await alice.device.createGroup([wendy.userId]);
  assert.deepEqual(group.members.map((m) => `${m.userId}/${m.deviceId}`).sort(), [`${alice.userId}/laptop`, `${wendy.userId}/wasm`].sort());

  // The Welcome: opened by the core, its members' users looked up, joined.
  const { welcomes } = await w.api.welcomes();
  assert.equal(welcomes.length, 1);
  const opened = JSON.parse(w.device.openWelcome(welcomes[0].welcome, welcomes[0].groupId, welcomes[0].createdAt, Date.now()));
  assert.deepEqual(opened, { groupId: group.groupId, users: [alice.userId] });
  await w.learn([alice.userId, wendy.userId]);
  assert.deepEqual(JSON.parse(w.device.finishWelcome(w.trust, Date.now())), { joined: true });
  await w.api.ackWelcome(welcomes[0].groupId, welcomes[0].epoch);

  await alice.device.send(group.groupId, "hello wasm");
  const got = await w.read(group.groupId);
  assert.deepEqual(got.filter((m) => m.status === "ok").map((m) => m.text), ["hello wasm"]);
  assert.deepEqual(got.filter((m) => m.status !== "ok"), [], "nothing failed");

  const message = w.device.encryptText(group.groupId, "hello sdk");
  const entry = await w.api.postMessage(group.groupId, crypto.randomUUID(), message);
  w.device.recordSent(group.groupId, entry.seq, entry.epoch, "hello sdk", w.trust);
  const aliceRead = await alice.device.read(group.groupId);
  assert.deepEqual(aliceRead.messages.map((m) => [m.text, m.status, m.senderUserId]), [["hello sdk", "ok", wendy.userId]]);

  // A leaf update by the wasm device: the server validates the commit and the GroupInfo, the TS device merges it.
  const epoch = w.device.epoch(group.groupId);
  const staged = JSON.parse(w.device.stageUpdate(group.groupId));
  await w.api.postCommit(group.groupId, staged);
  w.device.commitAccepted(group.groupId, Date.now());
  assert.equal(w.device.epoch(group.groupId), epoch + 1);
  await alice.device.send(group.groupId, "after the update");
  assert.deepEqual((await w.read(group.groupId)).map((m) => m.text), ["after the update"]);
  // The state survives a save and a load, as the browser keeps it.
  const again = core.MlsDevice.load(w.device.save());
  assert.equal(again.epoch(group.groupId), epoch + 1);
  assert.deepEqual(JSON.parse(again.groupMeta(group.groupId)).messages.map((m) => m.text), ["hello wasm", "hello sdk", "after the update"]);
});
