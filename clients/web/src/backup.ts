// Passphrase-encrypted PKCS#8 ("BEGIN ENCRYPTED PRIVATE KEY", RFC 8018 PBES2) with WebCrypto only: written
// exactly as the Rust CLI writes it (shared/crypto/src/keys.rs: PBKDF2-HMAC-SHA256, 600 000 iterations, 16-byte
// salt, AES-256-CBC), read with PBKDF2 (HMAC-SHA-1/256/384/512) and AES-128/192/256-CBC. scrypt and everything
// else are refused by name. The private key leaves WebCrypto only at generation (keygen.ts) and comes back as
// non-extractable CryptoKeys here; every plaintext buffer is wiped.

import { type Bytes, bytesEqual, isWellFormed, utf8 } from "./bytes.js";
import {
  DerError,
  TAG_INTEGER,
  TAG_NULL,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  children,
  expect,
  integer,
  readTlv,
  sequence,
  smallUnsignedInteger,
  tlv,
  type Tlv,
} from "./der.js";
import { InputError } from "./errors.js";
import { importPkcs8Der, pemBody, toPem, type KeyPair } from "./keys.js";

export type BackupErrorCode = "bad_passphrase" | "unsupported_kdf" | "unsupported_cipher";

/** An encrypted key that is well-formed but cannot be opened here: wrong passphrase, or a scheme not supported. */
export class BackupError extends Error {
  override name = "BackupError";
  constructor(
    readonly code: BackupErrorCode,
    /** A short reason; never contains the passphrase or key material. */
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
  }
}

/** What the Rust CLI uses (keys.rs PBKDF2_ITERATIONS), and so what this SDK writes. */
export const PBKDF2_ITERATIONS = 600_000;
/** Iteration counts accepted on import: fewer is no protection, more is a denial of service on this device. */
export const MIN_PBKDF2_ITERATIONS = 1000;
export const MAX_PBKDF2_ITERATIONS = 10_000_000;

const SALT_BYTES = 16;
const IV_BYTES = 16;
const MIN_SALT_BYTES = 8; // RFC 8018 §4.1
const MAX_SALT_BYTES = 64;

const oid = (...b: number[]) => new Uint8Array(b);
const PKCS = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d]; // 1.2.840.113549
const NIST_AES = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01]; // 2.16.840.1.101.3.4.1
const OID_PBES2 = oid(...PKCS, 0x01, 0x05, 0x0d);
const OID_PBKDF2 = oid(...PKCS, 0x01, 0x05, 0x0c);
const OID_SCRYPT = oid(0x2b, 0x06, 0x01, 0x04, 0x01, 0xda, 0x47, 0x04, 0x0b); // 1.3.6.1.4.1.11591.4.11
const PRFS = [
  { oid: oid(...PKCS, 0x02, 0x07), hash: "SHA-1" },
  { oid: oid(...PKCS, 0x02, 0x09), hash: "SHA-256" },
  { oid: oid(...PKCS, 0x02, 0x0a), hash: "SHA-384" },
  { oid: oid(...PKCS, 0x02, 0x0b), hash: "SHA-512" },
] as const;
const CIPHERS = [
  { oid: oid(...NIST_AES, 0x02), bits: 128 },
  { oid: oid(...NIST_AES, 0x16), bits: 192 },
  { oid: oid(...NIST_AES, 0x2a), bits: 256 },
] as const;
const HMAC_SHA1 = PRFS[0];
const HMAC_SHA256 = PRFS[1];
const AES_256_CBC = CIPHERS[2];

type Hash = (typeof PRFS)[number]["hash"];

interface Pbes2Params {
  salt: Bytes;
  iterations: number;
  hash: Hash;
  aesBits: 128 | 192 | 256;
  iv: Bytes;
  ciphertext: Bytes;
}

/** A passphrase is a non-empty string; it is used as its UTF-8 bytes (as the CLI and OpenSSL use theirs). */
export function checkPassphrase(passphrase: unknown): asserts passphrase is string {
  if (typeof passphrase !== "string" || passphrase === "") throw new InputError("invalid_input", "the passphrase must be a non-empty string");
  // A lone surrogate has no UTF-8 form: encoding would silently turn it into U+FFFD, another passphrase.
  if (!isWellFormed(passphrase)) throw new InputError("invalid_input", "the passphrase contains a lone surrogate");
}

/**
 * Imports an encrypted PKCS#8 PEM ("BEGIN ENCRYPTED PRIVATE KEY"), e.g. a key file of the Rust CLI, as a KeyPair
 * with non-extractable private keys. Errors: BackupError `bad_passphrase`, `unsupported_kdf` (scrypt, PBES1,
 * an iteration count outside 1000..10 000 000), `unsupported_cipher`; InputError `invalid_key` for a malformed
 * file or a key outside the key rules, `invalid_input` for a bad passphrase argument.
 */
export async function importEncryptedPrivateKeyPem(pem: string, passphrase: string): Promise<KeyPair> {
  checkPassphrase(passphrase);
  const der = pemBody(pem, "ENCRYPTED PRIVATE KEY");
  let p: Pbes2Params;
  try {
    p = parseEncryptedPrivateKeyInfo(der);
  } catch (e) {
    if (e instanceof DerError) throw new InputError("invalid_key", `encrypted PKCS#8: ${e.message}`);
    throw e;
  }
  const key = await deriveAesKey(passphrase, p, "decrypt");
  let plain: Bytes;
  try {
    plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-CBC", iv: p.iv }, key, p.ciphertext));
  } catch {
    // WebCrypto checks the PKCS#7 padding: with a wrong key it is wrong (all but about 1 in 256 times).
    throw new BackupError("bad_passphrase", "the passphrase does not decrypt this key");
  }
  try {
    // ... and the rare wrong key with valid-looking padding yields bytes that are not one DER SEQUENCE.
    if (!isOneSequence(plain)) throw new BackupError("bad_passphrase", "the passphrase does not decrypt this key");
    return await importPkcs8Der(plain);
  } finally {
    plain.fill(0);
  }
}

/**
 * Encrypts PKCS#8 DER as the Rust CLI does: PBES2, PBKDF2-HMAC-SHA256 with PBKDF2_ITERATIONS and a random
 * 16-byte salt, AES-256-CBC with a random IV. The caller owns (and wipes) `pkcs8`.
 */
export async function encryptPkcs8Pem(pkcs8: Bytes, passphrase: string): Promise<string> {
  checkPassphrase(passphrase);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const params = { salt, iterations: PBKDF2_ITERATIONS, hash: HMAC_SHA256.hash, aesBits: AES_256_CBC.bits, iv };
  const key = await deriveAesKey(passphrase, params, "encrypt");
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-CBC", iv }, key, pkcs8));
  const der = sequence(
    sequence(
      tlv(TAG_OID, OID_PBES2),
      sequence(
        sequence(
          tlv(TAG_OID, OID_PBKDF2),
          // keyLength is left out (optional, and implied by the cipher), as RustCrypto and OpenSSL do.
          sequence(tlv(TAG_OCTET_STRING, salt), integer(PBKDF2_ITERATIONS), sequence(tlv(TAG_OID, HMAC_SHA256.oid), tlv(TAG_NULL, new Uint8Array(0)))),
        ),
        sequence(tlv(TAG_OID, AES_256_CBC.oid), tlv(TAG_OCTET_STRING, iv)),
      ),
    ),
    tlv(TAG_OCTET_STRING, ciphertext),
  );
  return toPem("ENCRYPTED PRIVATE KEY", der);
}

/** PBKDF2 straight into a non-extractable AES-CBC key: the derived key bytes never exist in JS memory. */
async function deriveAesKey(
  passphrase: string,
  p: Pick<Pbes2Params, "salt" | "iterations" | "hash" | "aesBits">,
  usage: "encrypt" | "decrypt",
): Promise<CryptoKey> {
  const s = crypto.subtle;
  const pw = utf8(passphrase);
  let base: CryptoKey;
  try {
    base = await s.importKey("raw", pw, "PBKDF2", false, ["deriveKey"]);
  } finally {
    pw.fill(0);
  }
  try {
    return await s.deriveKey({ name: "PBKDF2", salt: p.salt, iterations: p.iterations, hash: p.hash }, base, { name: "AES-CBC", length: p.aesBits }, false, [usage]);
  } catch (e) {
    // Chromium's WebCrypto has no 192-bit AES keys (Node and Firefox do).
    if (p.aesBits === 192) throw new BackupError("unsupported_cipher", "AES-192-CBC is not available in this WebCrypto");
    throw e;
  }
}

function isOneSequence(b: Uint8Array): boolean {
  try {
    const t = readTlv(b, 0);
    return t.tag === TAG_SEQUENCE && t.end === b.length;
  } catch (e) {
    if (e instanceof DerError) return false;
    throw e;
  }
}

function is(der: Uint8Array, t: Tlv, content: Uint8Array): boolean {
  return bytesEqual(der.subarray(t.start, t.end), content);
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
function algorithmId(der: Uint8Array, t: Tlv | undefined): { oid: Tlv; params: Tlv | undefined } {
  const [o, params, ...extra] = children(der, expect(t, TAG_SEQUENCE));
  if (extra.length > 0) throw new DerError("AlgorithmIdentifier: trailing fields");
  return { oid: expect(o, TAG_OID), params };
}

/** The dotted form of an OID, for naming what is not supported. */
function dotted(der: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let v = 0;
  for (let i = t.start; i < t.end; i++) {
    v = v * 128 + (der[i]! & 0x7f);
    if (!(der[i]! & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  const first = parts.shift() ?? 0;
  return [first < 80 ? Math.floor(first / 40) : 2, first < 80 ? first % 40 : first - 80, ...parts].join(".");
}

/**
 * EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm {PBES2, PBES2-params}, encryptedData OCTET STRING }
 * PBES2-params ::= SEQUENCE { keyDerivationFunc {PBKDF2, PBKDF2-params}, encryptionScheme {aesN-CBC, iv} }
 * PBKDF2-params ::= SEQUENCE { salt OCTET STRING, iterationCount INTEGER, keyLength INTEGER OPTIONAL,
 *                              prf AlgorithmIdentifier DEFAULT hmacWithSHA1 }
 */
function parseEncryptedPrivateKeyInfo(der: Uint8Array): Pbes2Params {
  const top = readTlv(der, 0);
  if (top.end !== der.length) throw new DerError("trailing bytes");
  const [encAlg, data, ...extra] = children(der, expect(top, TAG_SEQUENCE));
  if (extra.length > 0) throw new DerError("EncryptedPrivateKeyInfo: trailing fields");
  const scheme = algorithmId(der, encAlg);
  if (!is(der, scheme.oid, OID_PBES2)) {
    throw new BackupError("unsupported_kdf", `encryption scheme ${dotted(der, scheme.oid)} is not PBES2 (PBES1 and PKCS#12 schemes are refused)`);
  }
  const [kdfAlg, encScheme, ...more] = children(der, expect(scheme.params, TAG_SEQUENCE));
  if (more.length > 0) throw new DerError("PBES2-params: trailing fields");

  const kdf = algorithmId(der, kdfAlg);
  if (is(der, kdf.oid, OID_SCRYPT)) throw new BackupError("unsupported_kdf", "scrypt is not supported (WebCrypto has no scrypt); re-encrypt the key with PBKDF2");
  if (!is(der, kdf.oid, OID_PBKDF2)) throw new BackupError("unsupported_kdf", `key derivation ${dotted(der, kdf.oid)} is not supported`);
  const [saltT, iterT, ...opt] = children(der, expect(kdf.params, TAG_SEQUENCE));
  if (saltT?.tag === TAG_SEQUENCE) throw new BackupError("unsupported_kdf", "PBKDF2 with an otherSource salt is not supported");
  const saltO = expect(saltT, TAG_OCTET_STRING);
  const salt = der.slice(saltO.start, saltO.end);
  if (salt.length < MIN_SALT_BYTES || salt.length > MAX_SALT_BYTES) throw new DerError(`salt of ${salt.length} bytes (${MIN_SALT_BYTES}..${MAX_SALT_BYTES})`);
  const iterations = smallUnsignedInteger(der, expect(iterT, TAG_INTEGER));
  if (iterations === null || iterations < MIN_PBKDF2_ITERATIONS || iterations > MAX_PBKDF2_ITERATIONS) {
    throw new BackupError("unsupported_kdf", `iteration count ${iterations ?? "(huge)"} is outside ${MIN_PBKDF2_ITERATIONS}..${MAX_PBKDF2_ITERATIONS}`);
  }
  let keyLength: number | null | undefined;
  if (opt[0]?.tag === TAG_INTEGER) keyLength = smallUnsignedInteger(der, opt.shift()!);
  let prf: (typeof PRFS)[number] = HMAC_SHA1;
  if (opt[0]?.tag === TAG_SEQUENCE) {
    const alg = algorithmId(der, opt.shift());
    const found = PRFS.find((x) => is(der, alg.oid, x.oid));
    if (!found) throw new BackupError("unsupported_kdf", `PBKDF2 pseudo-random function ${dotted(der, alg.oid)} is not supported`);
    if (alg.params && !(alg.params.tag === TAG_NULL && alg.params.end === alg.params.start)) throw new DerError("PRF parameters must be NULL");
    prf = found;
  }
  if (opt.length > 0) throw new DerError("PBKDF2-params: unexpected fields");

  const enc = algorithmId(der, encScheme);
  const cipher = CIPHERS.find((c) => is(der, enc.oid, c.oid));
  if (!cipher) throw new BackupError("unsupported_cipher", `cipher ${dotted(der, enc.oid)} is not supported (AES-128/192/256-CBC only)`);
  const ivT = expect(enc.params, TAG_OCTET_STRING);
  if (ivT.end - ivT.start !== IV_BYTES) throw new DerError("the AES-CBC IV must be 16 bytes");
  if (keyLength !== undefined && keyLength !== cipher.bits / 8) throw new DerError("PBKDF2 keyLength does not match the cipher");

  const ct = expect(data, TAG_OCTET_STRING);
  const ciphertext = der.slice(ct.start, ct.end);
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new DerError("encryptedData is not whole AES blocks");
  return { salt, iterations, hash: prf.hash, aesBits: cipher.bits, iv: der.slice(ivT.start, ivT.end), ciphertext };
}
