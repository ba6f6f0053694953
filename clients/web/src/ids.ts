// The id rule of docs/envelope.md, shared by user ids and client message ids (the server applies the same rule):
// 1–128 bytes of UTF-8 and no control character, where "control" is exactly U+0000–U+001F and U+007F
// (C1 controls such as U+0085 are allowed). Ids are compared byte for byte and never normalized.

import { isWellFormed, utf8 } from "./bytes.js";

export const MAX_ID_BYTES = 128;

/** null when `v` is a valid id, otherwise a short reason. */
export function checkId(v: unknown): string | null {
  if (typeof v !== "string") return "not a string";
  if (!isWellFormed(v)) return "lone surrogate";
  const n = utf8(v).length;
  if (n < 1 || n > MAX_ID_BYTES) return `${n} bytes, 1..${MAX_ID_BYTES} required`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return "control character";
  return null;
}

/** A key id: 64 lowercase hex digits (SHA-256 of the SPKI DER, see keys.ts). */
export function isKeyId(v: unknown): v is string {
  return typeof v === "string" && /^[0-9a-f]{64}$/.test(v);
}
