// The byte strings devices sign (docs/mls.md), exactly as the Rust definitions build them
// (shared/crypto/src/device.rs `DeviceStatement::signing_input`, shared/protocol/src/devices.rs
// `device_session_input`), and the fingerprint a user compares when approving a device.

import { concat, field, toHex, u64 } from "../bytes.js";
import { InputError } from "../errors.js";
import { checkId } from "../ids.js";
import { sha256 } from "../keys.js";

export const DEVICE_CERT_CONTEXT = "e2ee.device-cert.v1";
export const DEVICE_SESSION_CONTEXT = "e2ee.device-session.v1";
export const DEVICE_REVOKE_CONTEXT = "e2ee.device-revoke.v1";
const MAX_SIGNATURE_KEY_BYTES = 256;

/** The device id rule: 1–64 of `A–Z a–z 0–9 _ -` (so never a `/`, the separator in an MLS credential). */
export function isDeviceId(v: unknown): v is string {
  return typeof v === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(v);
}

/** "`userId`'s device `deviceId` signs MLS messages with `signatureKey`, says identity key `issuerKeyId` at `createdAt`." */
export interface DeviceStatement {
  userId: string;
  deviceId: string;
  signatureKey: Uint8Array;
  /** 64 lowercase hex digits. */
  issuerKeyId: string;
  /** Milliseconds since the Unix epoch. */
  createdAt: number;
}

/** Why the statement is malformed, or null (the checks of `DeviceStatement::check`). */
function statementProblem(s: DeviceStatement): string | null {
  const id = checkId(s.userId);
  if (id) return `userId: ${id}`;
  if (!isDeviceId(s.deviceId)) return "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -";
  if (s.signatureKey.length < 1 || s.signatureKey.length > MAX_SIGNATURE_KEY_BYTES) return "signatureKey must be 1 to 256 bytes";
  if (!/^[0-9a-f]{64}$/.test(s.issuerKeyId)) return "issuerKeyId must be 64 lowercase hex digits";
  if (!Number.isSafeInteger(s.createdAt) || s.createdAt < 0) return "createdAt must be a non-negative integer";
  return null;
}

/** field("e2ee.device-cert.v1") || field(userId) || field(deviceId) || field(signatureKey) || field(issuerKeyId) || u64(createdAt). */
export function deviceCertInput(s: DeviceStatement): Uint8Array {
  const problem = statementProblem(s);
  if (problem) throw new InputError("invalid_input", `device statement: ${problem}`);
  return concat([field(DEVICE_CERT_CONTEXT), field(s.userId), field(s.deviceId), field(s.signatureKey), field(s.issuerKeyId), u64(s.createdAt)]);
}

/** field("e2ee.device-session.v1") || field(userId) || field(deviceId) || u64(createdAt): signed raw with the device's Ed25519 key. */
export function deviceSessionInput(userId: string, deviceId: string, createdAt: number): Uint8Array {
  const id = checkId(userId);
  if (id) throw new InputError("invalid_input", `userId: ${id}`);
  if (!isDeviceId(deviceId)) throw new InputError("invalid_input", "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -");
  return concat([field(DEVICE_SESSION_CONTEXT), field(userId), field(deviceId), u64(createdAt)]);
}

/** field("e2ee.device-revoke.v1") || field(userId) || field(deviceId) || u64(createdAt): signed RSA-PSS by the user's
 * active identity key to authorize `POST /api/devices/revoke` (shared/crypto `DeviceRevocation`). */
export function deviceRevokeInput(userId: string, deviceId: string, createdAt: number): Uint8Array {
  const id = checkId(userId);
  if (id) throw new InputError("invalid_input", `userId: ${id}`);
  if (!isDeviceId(deviceId)) throw new InputError("invalid_input", "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -");
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) throw new InputError("invalid_input", "createdAt must be a non-negative integer");
  return concat([field(DEVICE_REVOKE_CONTEXT), field(userId), field(deviceId), u64(createdAt)]);
}

/** SHA-256 of a device signature key, lowercase hex in groups of four (as the Rust client prints it). */
export async function deviceFingerprint(signatureKey: Uint8Array): Promise<string> {
  return toHex(await sha256(signatureKey)).match(/.{4}/g)!.join(" ");
}
