// Interop with a second, independent MLS implementation: a ts-mls device (TypeScript, LukaJCB/ts-mls) and a device
// on the WebAssembly build of our client core (openmls) in one group — the ts-mls device joins by the core's
// Welcome, messages go both ways, and a ts-mls commit (a leaf update) is processed by the core. The ts-mls side uses
// the same ciphersuite and group configuration as docs/mls.md describes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NOW, b64, certify, row, trustOf, user, wasmDevice } from "../../../clients/web/test/wasm/fixtures.mjs";
import { loadCore } from "../../../clients/web/test/wasm/load.mjs";
import {
  CLIENT_CONFIG, acceptAll, createApplicationMessage, createCommit, decodeContent as text, decodeMessage, emptyPskIndex, encodeMessage, joinGroup,
  newKeyPackage, newSignatureKeys, processMessage, suite, textContent as content,
} from "./tsmls.mjs";

const { core } = await loadCore();

test("a ts-mls device and a core (wasm) device share a group: Welcome, messages both ways, a ts-mls commit", async () => {
  const cs = await suite();
  const alice = await user("u_alice");
  const bob = await user("u_bob");
  const a1 = await wasmDevice(core, alice, "laptop");
  const bobKeys = newSignatureKeys();
  const ts = { userId: "u_bob", deviceId: "ts" };
  await certify(bob, "ts", b64(bobKeys.publicKey));
  const kp = await newKeyPackage(bobKeys, ts, false);
  const trust = trustOf(core, [alice, bob]);

  const { groupId } = JSON.parse(a1.createGroup("interop", NOW));
  const bundle = JSON.parse(a1.stageAdd(groupId, JSON.stringify([{ ...ts, keyPackage: kp.encoded }]), trust));
  a1.commitAccepted(groupId, NOW);

  const welcome = decodeMessage(bundle.welcome);
  assert.equal(welcome?.wireformat, "mls_welcome");
  let bobState = await joinGroup(welcome.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, cs, undefined, undefined, CLIENT_CONFIG);
  assert.equal(Number(bobState.groupContext.epoch), a1.epoch(groupId));

  // core → ts-mls
  const fromCore = decodeMessage(a1.encryptText(groupId, "hello from openmls"));
  const read = await processMessage(fromCore, bobState, emptyPskIndex, acceptAll, cs);
  assert.equal(read.kind, "applicationMessage");
  assert.deepEqual(text(read.message), { type: "text", text: "hello from openmls" });
  bobState = read.newState;

  // ts-mls → core
  const sent = await createApplicationMessage(bobState, content("hello from ts-mls"), cs);
  bobState = sent.newState;
  const message = encodeMessage({ wireformat: "mls_private_message", version: "mls10", privateMessage: sent.privateMessage });
  const got = JSON.parse(a1.readRow(groupId, row(2, "application", 1, ts, message), trust));
  assert.equal(got.message.status, "ok");
  assert.equal(got.message.text, "hello from ts-mls");

  // A ts-mls commit (its leaf updated; PublicMessage as the Delivery Service requires) processed by the core.
  const commit = await createCommit({ state: bobState, cipherSuite: cs }, { wireAsPublicMessage: true, ratchetTreeExtension: true });
  bobState = commit.newState;
  const merged = JSON.parse(a1.readRow(groupId, row(3, "commit", 2, ts, encodeMessage(commit.commit)), trust));
  assert.deepEqual(merged, { done: true });
  assert.equal(a1.epoch(groupId), 2);

  // And the new epoch works both ways.
  const after = await processMessage(decodeMessage(a1.encryptText(groupId, "epoch 2")), bobState, emptyPskIndex, acceptAll, cs);
  assert.deepEqual(text(after.message), { type: "text", text: "epoch 2" });
});
