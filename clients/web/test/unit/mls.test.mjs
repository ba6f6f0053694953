// Unit tests of the MLS layer's bytes, no server: the statements devices sign (against expected bytes built here
// from the Rust definitions), and that the client core signs and certifies exactly those bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { deviceCertInput, deviceSessionInput, deviceFingerprint, isDeviceId, InputError, loadCore } from "../../dist/index.js";
import { CoreDevice } from "../../dist/mls/core.js";
import { ed25519 } from "../../../../tests/interop/mls/tsmls.mjs";

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

test("the session proof: the core's raw Ed25519 signature over these statement bytes, under the device's key", async () => {
  await loadCore();
  const device = CoreDevice.create("u_1", "laptop");
  const key = Buffer.from(device.signatureKey, "base64");
  assert.equal(key.length, 32);
  const sig = Buffer.from(device.sessionProof(1_700_000_000_000), "base64");
  assert.equal(sig.length, 64);
  assert.equal(ed25519.verify(sig, deviceSessionInput("u_1", "laptop", 1_700_000_000_000), key), true);
  assert.equal(ed25519.verify(sig, deviceSessionInput("u_1", "laptop", 1_700_000_000_001), key), false);
  // And the certificate statement the core hands the identity key to sign is deviceCertInput's.
  const issuerKeyId = "ab".repeat(32);
  assert.equal(hex(device.certificateInput(issuerKeyId, 5)), hex(deviceCertInput({ userId: "u_1", deviceId: "laptop", signatureKey: key, issuerKeyId, createdAt: 5 })));
  device.free();
});

test("device fingerprint: SHA-256 of the key, lowercase hex in 16 groups of four", async () => {
  const key = new Uint8Array(32).map((_, i) => i);
  const digest = createHash("sha256").update(key).digest("hex");
  const fp = await deviceFingerprint(key);
  assert.equal(fp, digest.match(/.{4}/g).join(" "));
  assert.equal(fp.split(" ").length, 16);
});
