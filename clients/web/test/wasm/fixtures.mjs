// What the wasm tests share: users with RSA identity keys (WebCrypto CryptoKeys), their listings as the server
// answers them, devices certified by an identity key (the driver signs the statement), a Trust fed with those
// listings, and log rows as the server stores them.

import { deviceCertInput, fingerprint, generateKeyPair, spkiPem } from "../../dist/index.js";

export const NOW = Date.now();
export const b64 = (bytes) => Buffer.from(bytes).toString("base64");

/** A user with an RSA identity key, listed as `GET /api/crypto/public-key/{userId}?all=true` answers. */
export async function user(userId) {
  const keys = await generateKeyPair(2048);
  const entry = { keyId: keys.keyId, fingerprint: fingerprint(keys.keyId), bits: 2048, publicKey: await spkiPem(keys.publicKey.encryptKey), createdAt: NOW - 10_000 };
  return { userId, keys, listing: { userId, ...entry, keys: [{ ...entry, status: "active" }] }, devices: [] };
}

/** Lists `owner`'s device `deviceId` with MLS signature key `signatureKey` (base64), certified by `issuer`'s key. */
export async function certify(owner, deviceId, signatureKey, issuer = owner) {
  const issuedAt = NOW - 5_000;
  const input = deviceCertInput({ userId: owner.userId, deviceId, signatureKey: Buffer.from(signatureKey, "base64"), issuerKeyId: issuer.keys.keyId, createdAt: issuedAt });
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, issuer.keys.signKey, input));
  owner.devices.push({
    userId: owner.userId, deviceId, displayName: deviceId, signatureKey, status: "active",
    certificate: { issuerKeyId: issuer.keys.keyId, issuedAt, signature: b64(signature) },
    createdAt: issuedAt, approvedAt: null, revokedAt: null,
  });
}

/** A new wasm device of `owner`, certified by `issuer` (the owner, unless a ghost is made). */
export async function wasmDevice(core, owner, deviceId, issuer = owner) {
  const device = core.MlsDevice.create(owner.userId, deviceId);
  await certify(owner, deviceId, device.signatureKey, issuer);
  return device;
}

/** What a device learns of `users` from the server's listings (usernames: the user id without `u_`). */
export function trustOf(core, users) {
  const trust = new core.Trust();
  for (const u of users) {
    trust.observeKeys(u.userId, u.userId.slice(2), JSON.stringify(u.listing), NOW);
    trust.checkDevices(u.userId, JSON.stringify(u.devices));
  }
  return trust;
}

/** A row of `GET /api/groups/{id}/log` for `message` (base64) posted by `sender` ({userId, deviceId}). */
export function row(seq, kind, epoch, sender, message) {
  return JSON.stringify({ seq, kind, epoch, senderUserId: sender.userId, senderDeviceId: sender.deviceId, message, createdAt: NOW });
}
