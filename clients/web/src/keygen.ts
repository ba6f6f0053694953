// Keys on the device: generation with non-extractable private keys (optionally with an encrypted backup of the
// new key), PEM export of the public half, and the key-operation statements of docs/security.md (proof of
// possession, authorization by the active key).

import { checkPassphrase, encryptPkcs8Pem } from "./backup.js";
import { asBytes, type Bytes, concat, field, toBase64, u64 } from "./bytes.js";
import { InputError } from "./errors.js";
import { importPkcs8Der, RSA_BITS, toPem, type KeyPair, type RsaBits } from "./keys.js";

// ---------------------------------------------------------------------------------------------------------------
// Keys: generation, PEM export of the public half, key-operation statements
// ---------------------------------------------------------------------------------------------------------------

/**
 * A fresh RSA key pair (e = 65537) whose private CryptoKeys are non-extractable.
 *
 * WebCrypto binds a CryptoKey to one algorithm, but the protocol uses one RSA key for both RSA-OAEP-256
 * (unwrapping content keys) and RSA-PSS-SHA-256 (signing). So the key is generated once as *extractable*, its
 * PKCS#8 exported, and that PKCS#8 imported twice as NON-extractable keys (OAEP "decrypt", PSS "sign"); the
 * exported buffer is then wiped with fill(0). The extractable generated key object is dropped (it is only
 * reachable from this function) — a short window in which the private key exists in JS memory, which is the
 * price of one key for two algorithms.
 */
export async function generateKeyPair(bits: RsaBits = 2048): Promise<KeyPair> {
  return withFreshPkcs8(bits, importPkcs8Der);
}

/**
 * generateKeyPair plus a passphrase-encrypted PKCS#8 PEM of the new key (backup.ts: PBKDF2-HMAC-SHA256, 600 000
 * iterations, AES-256-CBC, as the Rust CLI writes). This is the only moment the private key can be exported:
 * afterwards it exists only as non-extractable CryptoKeys.
 */
export async function generateKeyPairWithBackup(passphrase: string, bits: RsaBits = 2048): Promise<{ keyPair: KeyPair; encryptedPem: string }> {
  checkPassphrase(passphrase); // before the (slow) generation
  return withFreshPkcs8(bits, async (pkcs8) => {
    const keyPair = await importPkcs8Der(pkcs8);
    return { keyPair, encryptedPem: await encryptPkcs8Pem(pkcs8, passphrase) };
  });
}

/** Generates a key, hands its PKCS#8 to `use` and wipes it afterwards, whatever `use` did. */
async function withFreshPkcs8<T>(bits: RsaBits, use: (pkcs8: Bytes) => Promise<T>): Promise<T> {
  if (!(RSA_BITS as readonly number[]).includes(bits)) throw new InputError("invalid_input", "bits must be 2048, 3072 or 4096");
  const s = crypto.subtle;
  const gen = (await s.generateKey(
    { name: "RSA-OAEP", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["encrypt", "decrypt"],
  )) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await s.exportKey("pkcs8", gen.privateKey));
  try {
    return await use(pkcs8);
  } finally {
    pkcs8.fill(0);
  }
}

/** SPKI PEM of a public CryptoKey (PublicKeyInfo.encryptKey will do). */
export async function spkiPem(publicKey: CryptoKey): Promise<string> {
  return toPem("PUBLIC KEY", new Uint8Array(await crypto.subtle.exportKey("spki", publicKey)));
}

/** keyOpInput = field("e2ee.key-op.v1") || field(operation) || field(userId) || field(keyId) || u64(createdAt). */
export function keyOpInput(operation: "register" | "revoke", userId: string, keyId: string, createdAt: number): Uint8Array {
  return concat([field("e2ee.key-op.v1"), field(operation), field(userId), field(keyId), u64(createdAt)]);
}

/** An RSA-PSS-SHA256 signature (32-byte salt, as docs/envelope.md), base64. */
export async function pssSign(key: CryptoKey, data: Uint8Array): Promise<string> {
  return toBase64(new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, key, asBytes(data))));
}


