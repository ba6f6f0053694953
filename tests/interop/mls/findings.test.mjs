// Findings about ts-mls 1.6.4 that our clients' choices depend on (docs/mls.md, "interop with openmls").
import { test } from "node:test";
import assert from "node:assert/strict";
import { createGroupInfoWithExternalPub } from "ts-mls/createCommit.js";
import { CLIENT_CONFIG, createGroup, newKeyPackage, newSignatureKeys, suite } from "./tsmls.mjs";

const hex = (b) => Buffer.from(b).toString("hex");

test("interop finding: ts-mls writes external_pub without the length prefix RFC 9420 gives it", async () => {
  // RFC 9420 §12.4.3.2: struct { HPKEPublicKey external_pub; } with HPKEPublicKey = opaque<V>, so for X25519 the
  // extension data is 0x20 || 32 key bytes (33 bytes; openmls 0.9 writes and reads that). ts-mls 1.6.4 writes the
  // 32 raw bytes, so openmls cannot read a ts-mls external_pub and ts-mls misreads an openmls one. Our clients (openmls) write
  // the RFC form, so a ts-mls device cannot rejoin our groups externally. If this test fails, ts-mls changed: revisit that choice.
  const cs = await suite();
  const kp = await newKeyPackage(newSignatureKeys(), { userId: "u_1", deviceId: "laptop" }, false);
  const state = await createGroup(new Uint8Array(16).fill(2), kp.publicPackage, kp.privatePackage, [], cs, CLIENT_CONFIG);
  const gi = await createGroupInfoWithExternalPub(state, [], cs);
  const ext = gi.extensions.find((e) => e.extensionType === "external_pub");
  const pair = await cs.hpke.deriveKeyPair(state.keySchedule.externalSecret);
  const raw = await cs.hpke.exportPublicKey(pair.publicKey);
  assert.equal(raw.length, 32);
  assert.equal(hex(ext.extensionData), hex(raw)); // ts-mls: the bare key
  assert.notEqual(hex(ext.extensionData), hex(Buffer.concat([Buffer.from([0x20]), raw]))); // not the RFC form
});
