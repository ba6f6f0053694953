// Just enough DER to check key containers before handing them to WebCrypto: the algorithm OID of SPKI / PKCS#8
// (WebCrypto does not let us insist on rsaEncryption) and the public modulus/exponent inside a PKCS#8 RSA key
// (so the reader's key id can be derived without ever making the private key extractable).

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
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
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
