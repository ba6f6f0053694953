// MLS groups through the WebAssembly build of the client core, in Node: devices certified by RSA identity keys held
// as WebCrypto CryptoKeys (the statement signed by the driver), a group created, devices added, messages both ways,
// a commit that brings in a device nobody certified refused, the state saved and loaded. The trust rules are the
// core's (clients/core); here they run in JavaScript's engine.

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadCore } from "./load.mjs";
import { NOW, row, trustOf as trustWith, user, wasmDevice } from "./fixtures.mjs";

const { core } = await loadCore();
const device = (owner, deviceId, issuer) => wasmDevice(core, owner, deviceId, issuer);
const trustOf = (users) => trustWith(core, users);

test("two users' devices form a group and talk; the state survives save and load", async () => {
  const alice = await user("u_alice");
  const bob = await user("u_bob");
  const a1 = await device(alice, "laptop");
  const b1 = await device(bob, "phone");
  const aliceTrust = trustOf([alice, bob]);
  const bobTrust = trustOf([alice, bob]);

  const created = JSON.parse(a1.createGroup("team", NOW));
  assert.match(created.groupId, /^[0-9a-f]+$/);
  const [keyPackage] = b1.keyPackages(1, false);
  const bundle = JSON.parse(a1.stageAdd(created.groupId, JSON.stringify([{ userId: "u_bob", deviceId: "phone", keyPackage }]), aliceTrust));
  assert.ok(bundle.commit && bundle.welcome && bundle.groupInfo);
  a1.commitAccepted(created.groupId, NOW);
  assert.equal(a1.epoch(created.groupId), 1);

  const opened = JSON.parse(b1.openWelcome(bundle.welcome, created.groupId, NOW, NOW));
  assert.deepEqual(opened, { groupId: created.groupId, users: ["u_alice"] });
  assert.deepEqual(JSON.parse(b1.finishWelcome(bobTrust, NOW)), { joined: true });
  assert.equal(b1.epoch(created.groupId), 1);

  const hello = a1.encryptText(created.groupId, "hello bob");
  const read = JSON.parse(b1.readRow(created.groupId, row(2, "application", 1, a1, hello), bobTrust));
  assert.equal(read.done, true);
  assert.equal(read.message.text, "hello bob");
  assert.equal(read.message.status, "ok");
  assert.equal(read.message.sender, "alice");

  // Bob's state, saved and loaded (what IndexedDB keeps, encrypted), reads the next message.
  const saved = b1.save();
  b1.free();
  const b1again = core.MlsDevice.load(saved);
  const again = a1.encryptText(created.groupId, "still there?");
  assert.equal(JSON.parse(b1again.readRow(created.groupId, row(3, "application", 1, a1, again), bobTrust)).message.text, "still there?");
  const reply = b1again.encryptText(created.groupId, "yes");
  assert.equal(JSON.parse(a1.readRow(created.groupId, row(4, "application", 1, b1again, reply), aliceTrust)).message.text, "yes");

  // A row whose sender the server names wrongly fails, and nothing breaks.
  const forged = JSON.parse(a1.readRow(created.groupId, row(5, "application", 1, { userId: "u_alice", deviceId: "laptop2" }, b1again.encryptText(created.groupId, "x")), aliceTrust));
  assert.equal(forged.message.status, "failed");
  assert.equal(JSON.parse(a1.groupMeta(created.groupId)).after, 5);
});

test("a key package of a device certified by no trusted key is refused; so is a commit bringing one in", async () => {
  const alice = await user("u_alice");
  const bob = await user("u_bob");
  const carol = await user("u_carol");
  const server = await user("u_server");
  const a1 = await device(alice, "laptop");
  const b1 = await device(bob, "phone");
  // A ghost: listed as bob's, certified by a key that is not bob's.
  const ghost = await device(bob, "ghost", server);
  const c1 = await device(carol, "tablet");
  const aliceTrust = trustOf([alice, bob, carol]);
  assert.equal(aliceTrust.isTrustedDevice("u_bob", "ghost", Buffer.from(ghost.signatureKey, "base64")), false);
  assert.equal(aliceTrust.isTrustedDevice("u_bob", "phone", Buffer.from(b1.signatureKey, "base64")), true);

  const { groupId } = JSON.parse(a1.createGroup(null, NOW));
  const [ghostPackage] = ghost.keyPackages(1, false);
  assert.throws(
    () => a1.stageAdd(groupId, JSON.stringify([{ userId: "u_bob", deviceId: "ghost", keyPackage: ghostPackage }]), aliceTrust),
    (e) => e.code === "untrusted",
  );
  assert.equal(a1.epoch(groupId), 0, "nothing was staged");
  // A package claimed for one device but naming another is refused too.
  const [bobPackage] = b1.keyPackages(1, false);
  assert.throws(
    () => a1.stageAdd(groupId, JSON.stringify([{ userId: "u_bob", deviceId: "other", keyPackage: bobPackage }]), aliceTrust),
    (e) => e.code === "untrusted",
  );

  // Bob's device joins; then a member (carol's device, once added) commits the ghost in: alice refuses that commit.
  const add = JSON.parse(a1.stageAdd(groupId, JSON.stringify([
    { userId: "u_bob", deviceId: "phone", keyPackage: bobPackage },
    { userId: "u_carol", deviceId: "tablet", keyPackage: c1.keyPackages(1, false)[0] },
  ]), aliceTrust));
  a1.commitAccepted(groupId, NOW);
  // Carol's device has been told by a lying server that the ghost is fine (it trusts whatever it is shown).
  const carolFooled = new core.Trust();
  for (const u of [alice, carol]) {
    carolFooled.observeKeys(u.userId, "", JSON.stringify(u.listing), NOW);
    carolFooled.checkDevices(u.userId, JSON.stringify(u.devices));
  }
  const serverAsBob = { ...server, userId: "u_bob", listing: { ...server.listing, userId: "u_bob" }, devices: bob.devices };
  carolFooled.observeKeys("u_bob", "", JSON.stringify(serverAsBob.listing), NOW);
  carolFooled.checkDevices("u_bob", JSON.stringify(bob.devices));
  assert.equal(carolFooled.isTrustedDevice("u_bob", "ghost", Buffer.from(ghost.signatureKey, "base64")), true);
  JSON.parse(c1.openWelcome(add.welcome, groupId, NOW, NOW));
  // Carol's device does not trust bob's real phone (it pinned the server's key): the Welcome waits, not final.
  const refused = JSON.parse(c1.finishWelcome(carolFooled, NOW));
  assert.equal(refused.joined, false);
  assert.equal(refused.refused, "untrusted_member");
  assert.equal(refused.final, false);
  // With bob's honest listing it joins.
  const carolTrust = trustOf([alice, bob, carol]);
  c1.openWelcome(add.welcome, groupId, NOW, NOW);
  assert.deepEqual(JSON.parse(c1.finishWelcome(carolTrust, NOW)), { joined: true });
  const sneak = JSON.parse(c1.stageAdd(groupId, JSON.stringify([{ userId: "u_bob", deviceId: "ghost", keyPackage: ghost.keyPackages(1, false)[0] }]), carolFooled));
  const waiting = JSON.parse(a1.readRow(groupId, row(3, "commit", 2, c1, sneak.commit), aliceTrust));
  assert.deepEqual(waiting, { done: false, users: ["u_bob"] });
  const decided = JSON.parse(a1.finishCommit(groupId, aliceTrust));
  assert.equal(decided.message.status, "failed");
  assert.match(decided.message.reason, /trust refused/);
  assert.equal(a1.epoch(groupId), 1, "the group is unchanged");
  assert.deepEqual(JSON.parse(a1.memberDevices(groupId)).map((d) => d.deviceId).sort(), ["laptop", "phone", "tablet"]);
});
