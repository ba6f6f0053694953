// Byte helpers shared by the envelope code: UTF-8, hex, strict base64 and the length-prefixed encodings of
// docs/envelope.md (u32, u64, field). Everything works on plain Uint8Array so it runs in browsers and Node alike.

/** Bytes backed by a plain ArrayBuffer: what WebCrypto's BufferSource accepts (TS >= 5.7 tells the two apart). */
export type Bytes = Uint8Array<ArrayBuffer>;

/** `u` itself when it is backed by an ArrayBuffer, else a copy (e.g. a view of a SharedArrayBuffer). */
export function asBytes(u: Uint8Array): Bytes {
  return u.buffer instanceof ArrayBuffer ? (u as Bytes) : new Uint8Array(u);
}

const encoder = new TextEncoder();
// `fatal` so that invalid UTF-8 is an error instead of being silently replaced by U+FFFD.
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function utf8(s: string): Bytes {
  return encoder.encode(s);
}

/** Decode UTF-8, throwing a TypeError on invalid input (never replacing bytes). */
export function fromUtf8(b: Uint8Array): string {
  return strictDecoder.decode(b);
}

/** True when the string has no lone surrogate, i.e. it has an exact UTF-8 encoding. */
export function isWellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return false;
    }
  }
  return true;
}

export function concat(parts: readonly Uint8Array[]): Bytes {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function u32(n: number): Bytes {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError("u32 out of range");
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, false);
  return out;
}

export function u64(n: number): Bytes {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("u64 out of range");
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), false);
  return out;
}

/** field(b) = u32(len(b)) || b; a string enters as its UTF-8 bytes. */
export function field(b: Uint8Array | string): Bytes {
  const bytes = typeof b === "string" ? utf8(b) : b;
  return concat([u32(bytes.length), bytes]);
}

export function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

export function fromHex(s: string): Bytes {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new TypeError("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lexicographic byte order (memcmp semantics, shorter prefix first). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DECODE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Standard base64 with `=` padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  let s = "";
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + "=";
  }
  return s;
}

/**
 * Strict base64 decode: standard alphabet, mandatory `=` padding, no whitespace, and canonical (the unused
 * trailing bits must be zero), so every byte string has exactly one accepted encoding. Returns null when the
 * text is not such an encoding; callers map that to their own error.
 */
export function fromBase64Strict(s: string): Bytes | null {
  if (s.length % 4 !== 0) return null;
  let pad = 0;
  if (s.endsWith("==")) pad = 2;
  else if (s.endsWith("=")) pad = 1;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const v = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const c = s.charCodeAt(i + j);
      if (last && j >= 4 - pad) {
        if (c !== 0x3d) return null; // only the final padding positions may be '='
        continue;
      }
      const d = c < 128 ? DECODE[c]! : -1;
      if (d < 0) return null; // '=' in the middle, whitespace, base64url or any other character
      v[j] = d;
    }
    const n = (v[0]! << 18) | (v[1]! << 12) | (v[2]! << 6) | v[3]!;
    if (last && pad === 2) {
      if ((v[1]! & 0x0f) !== 0) return null; // non-canonical: trailing bits set
      out[o++] = n >> 16;
    } else if (last && pad === 1) {
      if ((v[2]! & 0x03) !== 0) return null;
      out[o++] = n >> 16;
      out[o++] = (n >> 8) & 0xff;
    } else {
      out[o++] = n >> 16;
      out[o++] = (n >> 8) & 0xff;
      out[o++] = n & 0xff;
    }
  }
  return out;
}

/** base64url without padding, as JWK wants it. */
export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
