// Unit tests of the MLS layer's bytes, no server: the statements devices sign (against expected bytes built here
// from the Rust definitions), the content encoding (the Rust test's cases), key packages as the server wants them,
// the stored group state, and the documented ts-mls ↔ RFC 9420 difference in `external_pub`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ed25519 } from "@noble/curves/ed25519.js";
import { createGroup, decodeMlsMessage } from "ts-mls";
import { createGroupInfoWithExternalPub } from "ts-mls/createCommit.js";
import {
  deviceCertInput, deviceSessionInput, deviceFingerprint, encodeContent, decodeContent, isDeviceId, InputError,
  KEY_PACKAGE_LIFETIME_SECONDS, LAST_RESORT_EXTENSION,
} from "../../dist/index.js";
import { newKeyPackage, newSignatureKeys, signRaw, credentialOf, identityOf, suite, CLIENT_CONFIG, encodeState, decodeState } from "../../dist/mls/suite.js";

const enc = new TextEncoder();
const hex = (b) => Buffer.from(b).toString("hex");
/** field(b) = u32be(len) || b, written out independently of src/bytes.ts. */
function field(b) {
  const bytes = typeof b === "string" ? Buffer.from(b, "utf8") : Buffer.from(b);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}
function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

test("device certificate statement: the bytes of DeviceStatement::signing_input", () => {
  // shared/crypto/src/device.rs test: fields e2ee.device-cert.v1, u_alice, laptop-1, [7; 32], issuer hex, u64 time.
  const issuer = "ab".repeat(32);
  const key = new Uint8Array(32).fill(7);
  const input = deviceCertInput({ userId: "u_alice", deviceId: "laptop-1", signatureKey: key, issuerKeyId: issuer, createdAt: 1_764_145_653_000 });
  const expected = Buffer.concat([field("e2ee.device-cert.v1"), field("u_alice"), field("laptop-1"), field(key), field(issuer), u64(1_764_145_653_000)]);
  assert.equal(hex(input), hex(expected));
  // The framing really is u32 big-endian lengths: the context string is 19 bytes.
  assert.deepEqual([...input.subarray(0, 4)], [0, 0, 0, 19]);
  assert.equal(input.length, 4 + 19 + 4 + 7 + 4 + 8 + 4 + 32 + 4 + 64 + 8);
});

test("device certificate statement: malformed statements are refused (DeviceStatement::check)", () => {
  const good = { userId: "u_alice", deviceId: "laptop-1", signatureKey: new Uint8Array(32), issuerKeyId: "ab".repeat(32), createdAt: 1 };
  for (const bad of [
    { deviceId: "" }, { deviceId: "d".repeat(65) }, { deviceId: "a/b" }, { deviceId: "lap top" },
    { userId: "" }, { userId: "u_\n" }, { signatureKey: new Uint8Array() }, { signatureKey: new Uint8Array(257) },
    { issuerKeyId: "AB".repeat(32) }, { createdAt: -1 },
  ]) {
    assert.throws(() => deviceCertInput({ ...good, ...bad }), (e) => e instanceof InputError && e.code === "invalid_input", JSON.stringify(Object.keys(bad)));
  }
  assert.equal(isDeviceId("d".repeat(64)), true);
  assert.equal(isDeviceId("phone_2-b"), true);
});

test("device session statement: the Rust test vector of device_session_input", () => {
  // shared/protocol/src/devices.rs: device_session_input("u_1", "d", 0x0102).
  const expected = Buffer.concat([
    Buffer.from([0, 0, 0, 22]), Buffer.from("e2ee.device-session.v1"), Buffer.from([0, 0, 0, 3]), Buffer.from("u_1"),
    Buffer.from([0, 0, 0, 1]), Buffer.from("d"), Buffer.from([0, 0, 0, 0, 0, 0, 1, 2]),
  ]);
  assert.equal(hex(deviceSessionInput("u_1", "d", 0x0102)), hex(expected));
  assert.throws(() => deviceSessionInput("u_1", "a/b", 1), InputError);
});

test("the session proof is a raw Ed25519 signature that verifies under the device's public key", () => {
  const keys = newSignatureKeys();
  assert.equal(keys.signKey.length, 32);
  assert.equal(keys.publicKey.length, 32);
  const input = deviceSessionInput("u_1", "laptop", 1_700_000_000_000);
  const sig = signRaw(keys, input);
  assert.equal(sig.length, 64);
  assert.equal(ed25519.verify(sig, input, keys.publicKey), true);
  const other = deviceSessionInput("u_1", "laptop", 1_700_000_000_001);
  assert.equal(ed25519.verify(sig, other, keys.publicKey), false);
});

test("device fingerprint: SHA-256 of the key, lowercase hex in 16 groups of four", async () => {
  const key = new Uint8Array(32).map((_, i) => i);
  const digest = createHash("sha256").update(key).digest("hex");
  const fp = await deviceFingerprint(key);
  assert.equal(fp, digest.match(/.{4}/g).join(" "));
  assert.equal(fp.split(" ").length, 16);
});

test("content: the wire form of content.rs, unknown fields ignored, unknown types and non-JSON refused", () => {
  const dec = new TextDecoder();
  assert.equal(dec.decode(encodeContent({ type: "text", text: 'hi "there"' })), '{"type":"text","text":"hi \\"there\\""}');
  assert.equal(dec.decode(encodeContent({ type: "leave" })), '{"type":"leave"}');
  assert.deepEqual(decodeContent(enc.encode('{"text":"a","type":"text","sentAt":1}')), { type: "text", text: "a" });
  assert.deepEqual(decodeContent(enc.encode('{"type":"leave","why":"x"}')), { type: "leave" });
  assert.equal(decodeContent(enc.encode('{"type":"reaction","emoji":"+1"}')), null);
  assert.equal(decodeContent(enc.encode("plain text")), null);
  assert.equal(decodeContent(enc.encode('{"type":"text","text":5}')), null);
  assert.equal(decodeContent(enc.encode('{"type":"text","text":"\\ud800"}')), null);
  assert.equal(decodeContent(new Uint8Array([0x7b, 0xff, 0x7d])), null); // not UTF-8
  assert.equal(decodeContent(enc.encode('["text"]')), null);
});

test("credentials: the identity is userId/deviceId, split at the last slash", () => {
  const c = credentialOf({ userId: "u_ab12", deviceId: "laptop" });
  assert.equal(new TextDecoder().decode(c.identity), "u_ab12/laptop");
  assert.deepEqual(identityOf(c), { userId: "u_ab12", deviceId: "laptop" });
  assert.equal(identityOf({ credentialType: "basic", identity: enc.encode("no-slash") }), null);
  assert.equal(identityOf({ credentialType: "basic", identity: enc.encode("u_1/bad device") }), null);
  assert.equal(identityOf({ credentialType: "basic", identity: enc.encode("/laptop") }), null);
  assert.equal(identityOf({ credentialType: "x509", certificates: [] }), null);
});

test("key packages: ciphersuite 0x0001, a 12-week lifetime from an hour ago, last resort listed in the capabilities", async () => {
  const keys = newSignatureKeys();
  const now = Date.UTC(2026, 0, 1);
  const one = await newKeyPackage(keys, { userId: "u_1", deviceId: "laptop" }, false, now);
  const last = await newKeyPackage(keys, { userId: "u_1", deviceId: "laptop" }, true, now);
  for (const kp of [one, last]) {
    const bytes = Buffer.from(kp.encoded, "base64");
    const [msg, end] = decodeMlsMessage(bytes, 0);
    assert.equal(end, bytes.length);
    assert.equal(msg.wireformat, "mls_key_package");
    // KeyPackage: version (u16 1), then cipher_suite (u16 0x0001), right after the MLSMessage header (version, wire format).
    assert.deepEqual([...bytes.subarray(0, 8)], [0, 1, 0, 5, 0, 1, 0, 1]);
    const { lifetime } = msg.keyPackage.leafNode;
    assert.equal(lifetime.notBefore, BigInt(now / 1000 - 3600));
    assert.equal(lifetime.notAfter - lifetime.notBefore, BigInt(KEY_PACKAGE_LIFETIME_SECONDS + 3600)); // the server's maximum
    assert.equal(hex(msg.keyPackage.leafNode.signaturePublicKey), hex(keys.publicKey));
    assert.deepEqual(identityOf(msg.keyPackage.leafNode.credential), { userId: "u_1", deviceId: "laptop" });
  }
  assert.deepEqual(one.publicPackage.extensions, []);
  assert.deepEqual(last.publicPackage.extensions.map((e) => e.extensionType), [LAST_RESORT_EXTENSION]);
  assert.ok(last.publicPackage.leafNode.capabilities.extensions.includes(LAST_RESORT_EXTENSION));
  assert.ok(!one.publicPackage.leafNode.capabilities.extensions.includes(LAST_RESORT_EXTENSION));
  assert.notEqual(one.ref, last.ref);
  assert.match(one.ref, /^[0-9a-f]{64}$/);
});

test("group state: ts-mls's encoding round-trips (structured clone cannot: the config holds functions)", async () => {
  const cs = await suite();
  const kp = await newKeyPackage(newSignatureKeys(), { userId: "u_1", deviceId: "laptop" }, false);
  const state = await createGroup(new Uint8Array(16).fill(1), kp.publicPackage, kp.privatePackage, [], cs, CLIENT_CONFIG);
  assert.throws(() => structuredClone(state), (e) => e.name === "DataCloneError");
  const bytes = encodeState(state);
  const back = decodeState(bytes);
  assert.equal(hex(encodeState(back)), hex(bytes));
  assert.equal(back.clientConfig, CLIENT_CONFIG);
  assert.equal(back.clientConfig.keyRetentionConfig.retainKeysForEpochs, 2);
  assert.throws(() => decodeState(bytes.subarray(0, bytes.length - 1)), (e) => e.code === "invalid_state");
  assert.throws(() => decodeState(new Uint8Array([...bytes, 0])), (e) => e.code === "invalid_state");
});

test("interop finding: ts-mls writes external_pub without the length prefix RFC 9420 gives it", async () => {
  // RFC 9420 §12.4.3.2: struct { HPKEPublicKey external_pub; } with HPKEPublicKey = opaque<V>, so for X25519 the
  // extension data is 0x20 || 32 key bytes (33 bytes; openmls 0.9 writes and reads that). ts-mls 1.6.4 writes the
  // 32 raw bytes, so openmls cannot read a ts-mls external_pub and ts-mls misreads an openmls one. This SDK
  // therefore publishes GroupInfos without external_pub. If this test fails, ts-mls changed: revisit that choice.
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
