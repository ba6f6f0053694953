// The device directory calls of the SDK, no server: the revocation statement (the bytes of the Rust
// `DeviceRevocation`) signed with the identity CryptoKey, and the paged device list walked to its end (and a server
// that pages forever stopped).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ApiClient, MlsApi, InputError, ResponseError, deviceRevokeInput, generateKeyPair, revokeDeviceBody, fromBase64Strict,
} from "../../dist/index.js";

const hex = (b) => Buffer.from(b).toString("hex");
function field(s) {
  const bytes = Buffer.from(s, "utf8");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(bytes.length);
  return Buffer.concat([len, bytes]);
}
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

test("device revocation statement: the bytes of DeviceRevocation::signing_input", () => {
  // shared/crypto/src/device.rs test: e2ee.device-revoke.v1, u_alice, laptop-1, u64 1_764_145_653_000.
  const time = Buffer.alloc(8);
  time.writeBigUInt64BE(1_764_145_653_000n);
  const expected = Buffer.concat([field("e2ee.device-revoke.v1"), field("u_alice"), field("laptop-1"), time]);
  assert.equal(hex(deviceRevokeInput("u_alice", "laptop-1", 1_764_145_653_000)), hex(expected));
  assert.deepEqual([...expected.subarray(0, 4)], [0, 0, 0, 21]);
  for (const [u, d, t] of [["", "d", 1], ["u_1", "a/b", 1], ["u_1", "d", -1], ["u_1", "d", 1.5]]) {
    assert.throws(() => deviceRevokeInput(u, d, t), InputError);
  }
});

test("a revocation body is signed RSA-PSS by the identity key over the statement", async () => {
  const identity = await generateKeyPair(2048);
  const body = await revokeDeviceBody(identity, "u_alice", "phone", 1_764_145_653_000);
  assert.deepEqual(Object.keys(body).sort(), ["authorization", "createdAt", "deviceId"]);
  assert.equal(body.authorization.keyId, identity.keyId);
  const verifyKey = identity.publicKey.verifyKey;
  const signature = fromBase64Strict(body.authorization.signature);
  const verifies = (input) => crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, verifyKey, signature, input);
  assert.equal(await verifies(deviceRevokeInput("u_alice", "phone", 1_764_145_653_000)), true);
  assert.equal(await verifies(deviceRevokeInput("u_alice", "laptop", 1_764_145_653_000)), false);
});

test("listDevices walks every page after nextAfter; a server that pages forever is stopped", async () => {
  const view = (i) => ({ userId: "u_bob", deviceId: `d${i}`, displayName: "d", signatureKey: "AAAA", status: "active", certificate: null, createdAt: 1, approvedAt: null, revokedAt: null });
  const asked = [];
  const paged = async (url) => {
    const after = new URL(url).searchParams.get("after");
    asked.push(after);
    const start = after === null ? 0 : Number(after.slice(1)) + 1;
    const end = Math.min(start + 3, 7);
    const body = { userId: "u_bob", devices: Array.from({ length: end - start }, (_, k) => view(start + k)) };
    if (end < 7) body.nextAfter = `d${end - 1}`;
    return json(200, body);
  };
  const api = new MlsApi(new ApiClient({ baseUrl: "http://h", fetch: paged, token: "t" }));
  const list = await api.listDevices("u_bob");
  assert.deepEqual(list.devices.map((d) => d.deviceId), ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]);
  assert.deepEqual(asked, [null, "d2", "d5"]);
  assert.equal(list.nextAfter, undefined);

  let calls = 0;
  const looping = async () => (calls++, json(200, { userId: "u_bob", devices: [view(0)], nextAfter: "d0" }));
  const stuck = new MlsApi(new ApiClient({ baseUrl: "http://h", fetch: looping, token: "t" }));
  await assert.rejects(stuck.listDevices("u_bob"), ResponseError);
  assert.equal(calls, 2);
});
