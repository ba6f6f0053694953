// Just enough DER to check key containers before handing them to WebCrypto: the algorithm OID of SPKI / PKCS#8
// (WebCrypto does not let us insist on rsaEncryption), the public modulus/exponent inside a PKCS#8 RSA key
// (so the reader's key id can be derived without ever making the private key extractable), and the PBES2
// parameters of an encrypted PKCS#8 (backup.ts), which are also written here.

import { concat } from "./bytes.js";

export interface Tlv {
  tag: number;
  start: number; // first content byte
  end: number; // one past the last content byte
}

export class DerError extends Error {
  override name = "DerError";
}

export function readTlv(buf: Uint8Array, off: number, limit = buf.length): Tlv {
  if (off + 2 > limit) throw new DerError("truncated");
  const tag = buf[off]!;
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new DerError("bad length");
    // DER: the shortest length form only (no leading zero byte, long form only from 128 on).
    if (buf[p] === 0) throw new DerError("non-minimal length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    if (len < 0x80) throw new DerError("non-minimal length");
    p += n;
  }
  if (p + len > limit) throw new DerError("truncated");
  return { tag, start: p, end: p + len };
}

/** The children of a constructed TLV, which must fill it exactly. */
export function children(buf: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let off = t.start;
  while (off < t.end) {
    const c = readTlv(buf, off, t.end);
    out.push(c);
    off = c.end;
  }
  return out;
}

export function expect(t: Tlv | undefined, tag: number): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected tag 0x${tag.toString(16)}`);
  return t;
}

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;

/** DER of OID 1.2.840.113549.1.1.1 (rsaEncryption), content bytes only. */
export const OID_RSA_ENCRYPTION = new Uint8Array([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01]);

/** INTEGER content without the sign-padding leading zero bytes. */
export function unsignedInteger(buf: Uint8Array, t: Tlv): Uint8Array {
  let s = t.start;
  while (s < t.end - 1 && buf[s] === 0) s++;
  return buf.subarray(s, t.end);
}

/**
 * A non-negative INTEGER that fits a JS safe integer, in strict DER: minimal encoding, no sign bit set.
 * Returns null when it is larger (the caller decides what "too large" means for it).
 */
export function smallUnsignedInteger(buf: Uint8Array, t: Tlv): number | null {
  const n = t.end - t.start;
  if (n === 0) throw new DerError("empty INTEGER");
  if (buf[t.start]! & 0x80) throw new DerError("negative INTEGER");
  if (n > 1 && buf[t.start] === 0 && !(buf[t.start + 1]! & 0x80)) throw new DerError("non-minimal INTEGER");
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 256 + buf[i]!;
    if (v > Number.MAX_SAFE_INTEGER) return null;
  }
  return v;
}

/** DER encoding of one TLV (definite, minimal length). */
export function tlv(tag: number, content: Uint8Array): Uint8Array<ArrayBuffer> {
  const n = content.length;
  const len: number[] = [];
  if (n < 0x80) len.push(n);
  else {
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    len.unshift(0x80 | len.length);
  }
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

/** A SEQUENCE of already-encoded elements. */
export function sequence(...elements: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return tlv(TAG_SEQUENCE, concat(elements));
}

/** A non-negative INTEGER (minimal, with a 0x00 when the top bit is set). */
export function integer(v: number): Uint8Array<ArrayBuffer> {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError("integer out of range");
  const bytes: number[] = [];
  for (let x = v; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  if (bytes.length === 0 || bytes[0]! & 0x80) bytes.unshift(0);
  return tlv(TAG_INTEGER, new Uint8Array(bytes));
}
