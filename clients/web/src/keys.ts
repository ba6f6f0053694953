// RSA keys: PEM import with the spec's key rules (2048/3072/4096-bit modulus, exponent 65537, rsaEncryption),
// key ids and human fingerprints. WebCrypto binds a CryptoKey to one algorithm, so each key is imported once per
// use: RSA-OAEP-256 for wrapping/unwrapping the content key and RSA-PSS-SHA-256 for signatures.

import { asBytes, type Bytes, concat, field, fromBase64Strict, toBase64, toBase64Url, toHex, utf8, bytesEqual, compareBytes, isWellFormed } from "./bytes.js";
import {
  DerError,
  OID_RSA_ENCRYPTION,
  TAG_BIT_STRING,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  children,
  expect,
  readTlv,
  unsignedInteger,
} from "./der.js";
import { InputError } from "./errors.js";
import { checkId } from "./ids.js";

export const RSA_BITS = [2048, 3072, 4096] as const;
export type RsaBits = (typeof RSA_BITS)[number];

const OAEP: RsaHashedImportParams = { name: "RSA-OAEP", hash: "SHA-256" };
const PSS: RsaHashedImportParams = { name: "RSA-PSS", hash: "SHA-256" };

/** A public key ready for sealing to it and verifying its signatures. */
export interface PublicKeyInfo {
  readonly keyId: string;
  readonly modulusBits: RsaBits;
  /** RSA-OAEP / SHA-256, usage "encrypt". */
  readonly encryptKey: CryptoKey;
  /** RSA-PSS / SHA-256, usage "verify". */
  readonly verifyKey: CryptoKey;
}

/** A private key (non-extractable) with its public half. */
export interface KeyPair {
  readonly keyId: string;
  readonly modulusBits: RsaBits;
  /** RSA-OAEP / SHA-256, usage "decrypt", not extractable. */
  readonly decryptKey: CryptoKey;
  /** RSA-PSS / SHA-256, usage "sign", not extractable. */
  readonly signKey: CryptoKey;
  readonly publicKey: PublicKeyInfo;
}

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new InputError("invalid_input", "WebCrypto (crypto.subtle) is not available; a secure context is required");
  return s;
}

export async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await subtle().digest("SHA-256", asBytes(data)));
}

/** Key id: lowercase hex SHA-256 of the key's SPKI DER (64 characters). */
export async function keyId(publicKey: CryptoKey): Promise<string> {
  if (publicKey.type !== "public") throw new InputError("invalid_key", "keyId needs a public key");
  const spki = new Uint8Array(await subtle().exportKey("spki", publicKey));
  return toHex(await sha256(spki));
}

/** Human fingerprint: first 32 hex digits of the key id, upper case, 8 groups of 4. */
export function fingerprint(id: string): string {
  if (!/^[0-9a-f]{64}$/.test(id)) throw new InputError("invalid_input", "fingerprint needs a 64-character lowercase hex key id");
  return id.slice(0, 32).toUpperCase().match(/.{4}/g)!.join(" ");
}

/** Chat id of a 1:1 chat: "c_" + hex SHA-256(field(min) || field(max)), min/max by UTF-8 bytes. */
export async function chatId(a: string, b: string): Promise<string> {
  for (const [v, what] of [[a, "a"], [b, "b"]] as const) {
    const problem = checkId(v);
    if (problem) throw new InputError("invalid_input", `chatId ${what}: ${problem}`);
  }
  const ab = utf8(a);
  const bb = utf8(b);
  // JS `<` compares UTF-16 code units, which orders e.g. U+FF5E and U+1F600 differently from their UTF-8 bytes.
  const [lo, hi] = compareBytes(ab, bb) <= 0 ? [ab, bb] : [bb, ab];
  return "c_" + toHex(await sha256(concat([field(lo), field(hi)])));
}

/** The DER inside exactly one PEM block labelled `label` (InputError "invalid_key" otherwise). */
export function pemBody(pem: string, label: string): Bytes {
  if (typeof pem !== "string" || !isWellFormed(pem)) throw new InputError("invalid_key", "PEM must be a string");
  const m = new RegExp(`^\\s*-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\s]*?)-----END ${label}-----\\s*$`).exec(pem);
  if (!m) throw new InputError("invalid_key", `expected one PEM block "BEGIN ${label}"`);
  const der = fromBase64Strict(m[1]!.replace(/[\r\n\t ]/g, ""));
  if (!der || der.length === 0) throw new InputError("invalid_key", "PEM body is not valid base64");
  return der;
}

/** PEM with 64-character lines and a final newline, as OpenSSL and the Rust CLI write it. */
export function toPem(label: string, der: Uint8Array): string {
  const b64 = toBase64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Check an AlgorithmIdentifier: OID rsaEncryption with NULL or absent parameters. */
function checkRsaAlgorithmId(der: Uint8Array, algId: ReturnType<typeof readTlv>): void {
  const [oid, params, ...extra] = children(der, expect(algId, TAG_SEQUENCE));
  const o = expect(oid, TAG_OID);
  if (!bytesEqual(der.subarray(o.start, o.end), OID_RSA_ENCRYPTION)) throw new DerError("not rsaEncryption");
  if (extra.length > 0 || (params && !(params.tag === 0x05 && params.end === params.start))) {
    throw new DerError("unexpected algorithm parameters");
  }
}

function checkSpki(der: Uint8Array): void {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new DerError("trailing bytes");
  const [algId, key, ...extra] = children(der, expect(top, TAG_SEQUENCE));
  if (!algId || extra.length > 0) throw new DerError("bad SubjectPublicKeyInfo");
  checkRsaAlgorithmId(der, algId);
  expect(key, TAG_BIT_STRING);
}

/** Check a PKCS#8 PrivateKeyInfo for rsaEncryption and return the public modulus and exponent it contains. */
function pkcs8PublicParts(der: Uint8Array): { n: Uint8Array; e: Uint8Array } {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new DerError("trailing bytes");
  const [version, algId, octets] = children(der, expect(top, TAG_SEQUENCE));
  expect(version, TAG_INTEGER);
  checkRsaAlgorithmId(der, algId!);
  const inner = expect(octets, TAG_OCTET_STRING);
  // RSAPrivateKey ::= SEQUENCE { version, modulus, publicExponent, privateExponent, ... }
  const rsa = readTlv(der, inner.start, inner.end);
  const [, n, e] = children(der, expect(rsa, TAG_SEQUENCE));
  return { n: unsignedInteger(der, expect(n, TAG_INTEGER)), e: unsignedInteger(der, expect(e, TAG_INTEGER)) };
}

/** Enforce the spec's key rules on what WebCrypto reports about an imported key. */
function checkRsaParams(key: CryptoKey): RsaBits {
  const alg = key.algorithm as RsaHashedKeyAlgorithm;
  const bits = alg.modulusLength;
  if (!(RSA_BITS as readonly number[]).includes(bits)) {
    throw new InputError("invalid_key", `${bits}-bit modulus; 2048, 3072 or 4096 required`);
  }
  const e = alg.publicExponent;
  let s = 0;
  while (s < e.length - 1 && e[s] === 0) s++;
  if (!bytesEqual(e.subarray(s), new Uint8Array([1, 0, 1]))) throw new InputError("invalid_key", "public exponent must be 65537");
  return bits as RsaBits;
}

async function importPublicParts(spkiOrJwk: { spki: Bytes } | { jwk: JsonWebKey }): Promise<PublicKeyInfo> {
  const s = subtle();
  // Public keys are extractable: exporting the SPKI is how the key id is computed, and nothing about them is secret.
  const [encryptKey, verifyKey] =
    "spki" in spkiOrJwk
      ? await Promise.all([
          s.importKey("spki", spkiOrJwk.spki, OAEP, true, ["encrypt"]),
          s.importKey("spki", spkiOrJwk.spki, PSS, true, ["verify"]),
        ])
      : await Promise.all([
          s.importKey("jwk", spkiOrJwk.jwk, OAEP, true, ["encrypt"]),
          s.importKey("jwk", spkiOrJwk.jwk, PSS, true, ["verify"]),
        ]);
  const modulusBits = checkRsaParams(encryptKey);
  return { keyId: await keyId(encryptKey), modulusBits, encryptKey, verifyKey };
}

/** Import an SPKI PEM public key ("BEGIN PUBLIC KEY"). */
export async function importPublicKeyPem(pem: string): Promise<PublicKeyInfo> {
  const der = pemBody(pem, "PUBLIC KEY");
  try {
    checkSpki(der);
  } catch (e) {
    throw new InputError("invalid_key", e instanceof DerError ? `SPKI: ${e.message}` : "SPKI: unreadable");
  }
  try {
    return await importPublicParts({ spki: der });
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError("invalid_key", "WebCrypto rejected the public key");
  }
}

/** Import an unencrypted PKCS#8 PEM private key ("BEGIN PRIVATE KEY"); the private CryptoKeys are non-extractable. */
export async function importPrivateKeyPem(pem: string): Promise<KeyPair> {
  const der = pemBody(pem, "PRIVATE KEY");
  try {
    return await importPkcs8Der(der);
  } finally {
    der.fill(0); // the decoded PKCS#8 holds the private exponent
  }
}

/**
 * A KeyPair from PKCS#8 DER (rsaEncryption, the key rules above); the private CryptoKeys are non-extractable.
 * The caller owns `der` and wipes it.
 */
export async function importPkcs8Der(der: Bytes): Promise<KeyPair> {
  let parts: { n: Uint8Array; e: Uint8Array };
  try {
    parts = pkcs8PublicParts(der);
  } catch (e) {
    throw new InputError("invalid_key", e instanceof DerError ? `PKCS#8: ${e.message}` : "PKCS#8: unreadable");
  }
  const s = subtle();
  try {
    const [decryptKey, signKey] = await Promise.all([
      s.importKey("pkcs8", der, OAEP, false, ["decrypt"]),
      s.importKey("pkcs8", der, PSS, false, ["sign"]),
    ]);
    const modulusBits = checkRsaParams(decryptKey);
    // The public half comes from the modulus and exponent in the PKCS#8 itself, never from exporting the private key.
    const publicKey = await importPublicParts({
      jwk: { kty: "RSA", n: toBase64Url(parts.n), e: toBase64Url(parts.e), ext: true },
    });
    if (publicKey.modulusBits !== modulusBits) throw new InputError("invalid_key", "inconsistent key");
    return { keyId: publicKey.keyId, modulusBits, decryptKey, signKey, publicKey };
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError("invalid_key", "WebCrypto rejected the private key");
  }
}

/** Modulus length in bytes of an RSA CryptoKey (256, 384 or 512 for accepted keys). */
export function modulusBytes(key: CryptoKey): number {
  return Math.ceil((key.algorithm as RsaHashedKeyAlgorithm).modulusLength / 8);
}

/** True when the key is an RSA key for `name` with SHA-256 and the given usage. */
export function isRsaKeyFor(key: unknown, name: "RSA-OAEP" | "RSA-PSS", usage: KeyUsage): key is CryptoKey {
  if (typeof CryptoKey !== "undefined" && !(key instanceof CryptoKey)) return false;
  const k = key as CryptoKey;
  const alg = k.algorithm as RsaHashedKeyAlgorithm | undefined;
  return !!alg && alg.name === name && alg.hash?.name === "SHA-256" && k.usages.includes(usage);
}
