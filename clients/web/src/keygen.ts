// Keys on the device: generation with non-extractable private keys, PEM export of the public half, and the
// key-operation statements of docs/security.md (proof of possession, authorization by the active key).

import { asBytes, concat, field, toBase64, u64 } from "./bytes.js";
import { InputError } from "./errors.js";
import { importPublicKeyPem, RSA_BITS, type KeyPair, type RsaBits } from "./keys.js";

// ---------------------------------------------------------------------------------------------------------------
// Keys: generation, PEM export of the public half, key-operation statements
// ---------------------------------------------------------------------------------------------------------------

const OAEP: RsaHashedImportParams = { name: "RSA-OAEP", hash: "SHA-256" };
const PSS: RsaHashedImportParams = { name: "RSA-PSS", hash: "SHA-256" };

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
  if (!(RSA_BITS as readonly number[]).includes(bits)) throw new InputError("invalid_input", "bits must be 2048, 3072 or 4096");
  const s = crypto.subtle;
  const gen = (await s.generateKey(
    { name: "RSA-OAEP", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["encrypt", "decrypt"],
  )) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await s.exportKey("pkcs8", gen.privateKey));
  try {
    const [decryptKey, signKey] = await Promise.all([
      s.importKey("pkcs8", pkcs8, OAEP, false, ["decrypt"]),
      s.importKey("pkcs8", pkcs8, PSS, false, ["sign"]),
    ]);
    const publicKey = await importPublicKeyPem(await spkiPem(gen.publicKey));
    return { keyId: publicKey.keyId, modulusBits: publicKey.modulusBits, decryptKey, signKey, publicKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** SPKI PEM of a public CryptoKey (PublicKeyInfo.encryptKey will do). */
export async function spkiPem(publicKey: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const b64 = toBase64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----\n`;
}

/** keyOpInput = field("e2ee.key-op.v1") || field(operation) || field(userId) || field(keyId) || u64(createdAt). */
export function keyOpInput(operation: "register" | "revoke", userId: string, keyId: string, createdAt: number): Uint8Array {
  return concat([field("e2ee.key-op.v1"), field(operation), field(userId), field(keyId), u64(createdAt)]);
}

/** An RSA-PSS-SHA256 signature (32-byte salt, as docs/envelope.md), base64. */
export async function pssSign(key: CryptoKey, data: Uint8Array): Promise<string> {
  return toBase64(new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, key, asBytes(data))));
}


