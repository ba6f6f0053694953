// The data key of the encryption at rest (sealed.ts, review N9), apart from the store that uses it, so that an app
// can unlock the key where it holds the password (the page: at sign-in, in the code the 1:1 chat loads) and load the
// store itself (records, serialization, migration: sealed.ts) only where it is used (the page: the group chats
// chunk). The data key is random AES-256, generated once per account on this device and stored only wrapped
// (AES-256-GCM key wrap, AAD bound to the user id) under a key derived from the account password with
// PBKDF2-SHA-256; unlockSealedKey unwraps it into a NON-extractable CryptoKey and keeps neither the password nor
// anything derived from it. WebCrypto only.

import { isWellFormed, utf8 } from "./bytes.js";
import { InputError } from "./errors.js";
import { type KvStore } from "./kv.js";
import { ownerPrefix, StorageError } from "./storage.js";

/** PBKDF2-SHA-256 iterations for a new wrapped key (the CLI's key files and OWASP's 2023 figure: 600 000). */
export const SEALED_PBKDF2_ITERATIONS = 600_000;
/** A stored wrap record with fewer iterations (or more than the maximum) is refused as corrupt. */
const MAX_ITERATIONS = 10_000_000;

const KEY_RECORD_VERSION = 1;
const NONCE_BYTES = 12;
const SALT_BYTES = 16;
/** AAD of the wrapped data key: this domain string, a NUL, the owner's user id. */
const KEY_DOMAIN = "e2ee-web sealed-kv data key v1";

/** The wrapped data key of one account, under `sealed/<userId>/key`. */
export interface KeyRecord {
  v: typeof KEY_RECORD_VERSION;
  kdf: "PBKDF2-SHA-256";
  iterations: number;
  salt: Uint8Array;
  /** AES-256-GCM key wrap of the raw data key: nonce and wrapped bytes (key + tag). */
  nonce: Uint8Array;
  wrapped: Uint8Array;
  /** False until the plaintext records written before sealing existed (see openSealedStore) are all sealed. */
  migrated: boolean;
}

/** Where the wrapped data key of `userId` is kept. */
export function sealedKeyName(userId: string): string {
  return ownerPrefix("sealed", userId) + "key";
}

/**
 * The data key of account `userId` in `kv`, unwrapped with `password` into a non-extractable AES-GCM CryptoKey (for
 * openSealedStore / SealedKvStore). On first use on this device it generates the key and stores it wrapped under
 * `password` (not yet `migrated`: openSealedStore seals the plaintext records written before). A password that does
 * not unwrap the stored key throws StorageError "wrong_password" and changes nothing; a stored record of another
 * shape, or with fewer than 600 000 iterations, is "corrupt_record". Runs under a Web Lock per account where the
 * platform has Web Locks, so two tabs signing in at once create one key.
 */
export async function unlockSealedKey(kv: KvStore, userId: string, password: string): Promise<CryptoKey> {
  checkPassword(password);
  const name = sealedKeyName(userId); // checks the user id
  return withSealedLock(userId, async () => {
    let rec = await loadKeyRecord(kv, name);
    if (!rec) {
      const fresh = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
      await kv.put(name, (rec = await wrapDataKey(fresh, userId, password, false)));
    }
    return unwrapDataKey(rec, userId, password, false);
  });
}

/**
 * Wraps the data key of `userId` under `newPassword` (fresh salt) after unwrapping it with `oldPassword`; for a
 * password change. StorageError "wrong_password" when `oldPassword` does not unwrap it; nothing is written then.
 * The API has no password change today; a client that adds one calls this once the server accepted the new password.
 */
export async function changeSealedStorePassword(kv: KvStore, userId: string, oldPassword: string, newPassword: string): Promise<void> {
  checkPassword(oldPassword);
  checkPassword(newPassword);
  const name = sealedKeyName(userId);
  await withSealedLock(userId, async () => {
    const rec = await loadKeyRecord(kv, name);
    if (!rec) throw new StorageError("corrupt_record", "no sealed data key is stored for this account");
    const extractable = await unwrapDataKey(rec, userId, oldPassword, true);
    await kv.put(name, await wrapDataKey(extractable, userId, newPassword, rec.migrated));
  });
}

/** The stored key record of `name` (sealedKeyName), checked; undefined when there is none. */
export async function loadKeyRecord(kv: KvStore, name: string): Promise<KeyRecord | undefined> {
  const r = await kv.get<Partial<KeyRecord>>(name);
  if (r === undefined) return undefined;
  if (
    typeof r !== "object" || r === null || r.v !== KEY_RECORD_VERSION || r.kdf !== "PBKDF2-SHA-256" ||
    !Number.isInteger(r.iterations) || r.iterations! < SEALED_PBKDF2_ITERATIONS || r.iterations! > MAX_ITERATIONS ||
    !isBytes(r.salt, SALT_BYTES) || !isBytes(r.nonce, NONCE_BYTES) || !isBytes(r.wrapped, 48) || typeof r.migrated !== "boolean"
  ) {
    throw new StorageError("corrupt_record", "the stored wrapped data key has an unknown shape");
  }
  return r as KeyRecord;
}

/** Runs `fn` under the account's Web Lock where there is navigator.locks (browsers), else directly (Node). */
export function withSealedLock<T>(userId: string, fn: () => Promise<T>): Promise<T> {
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
  return locks ? (locks.request(`e2ee-sealed-${userId}`, fn) as Promise<T>) : fn();
}

/** `domain`, a NUL, `name`, as UTF-8: the AAD binding a ciphertext to what it is for. */
export function aad(domain: string, name: string): Uint8Array<ArrayBuffer> {
  return utf8(`${domain}\0${name}`);
}

function isBytes(v: unknown, length: number): boolean {
  return v instanceof Uint8Array && v.length === length;
}

function checkPassword(password: unknown): asserts password is string {
  if (typeof password !== "string" || password === "") throw new InputError("invalid_input", "the password must be a non-empty string");
  if (!isWellFormed(password)) throw new InputError("invalid_input", "the password contains a lone surrogate");
}

/** The key-wrapping key: PBKDF2-SHA-256 of the password's UTF-8 bytes, straight into a non-extractable AES-GCM key. */
async function passwordKey(password: string, salt: Uint8Array, iterations: number): Promise<CryptoKey> {
  const pw = utf8(password);
  try {
    const base = await crypto.subtle.importKey("raw", pw, "PBKDF2", false, ["deriveKey"]);
    return await crypto.subtle.deriveKey(
      { name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(salt), iterations },
      base,
      { name: "AES-GCM", length: 256 },
      false,
      ["wrapKey", "unwrapKey"],
    );
  } finally {
    pw.fill(0);
  }
}

async function wrapDataKey(dataKey: CryptoKey, userId: string, password: string, migrated: boolean): Promise<KeyRecord> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const kek = await passwordKey(password, salt, SEALED_PBKDF2_ITERATIONS);
  const wrapped = new Uint8Array(await crypto.subtle.wrapKey("raw", dataKey, kek, { name: "AES-GCM", iv: nonce, additionalData: aad(KEY_DOMAIN, userId) }));
  return { v: KEY_RECORD_VERSION, kdf: "PBKDF2-SHA-256", iterations: SEALED_PBKDF2_ITERATIONS, salt, nonce, wrapped, migrated };
}

async function unwrapDataKey(rec: KeyRecord, userId: string, password: string, extractable: boolean): Promise<CryptoKey> {
  const kek = await passwordKey(password, rec.salt, rec.iterations);
  try {
    return await crypto.subtle.unwrapKey(
      "raw",
      new Uint8Array(rec.wrapped),
      kek,
      { name: "AES-GCM", iv: new Uint8Array(rec.nonce), additionalData: aad(KEY_DOMAIN, userId) },
      { name: "AES-GCM", length: 256 },
      extractable,
      ["encrypt", "decrypt"],
    );
  } catch {
    throw new StorageError("wrong_password", "this password does not unlock the encrypted state stored in this browser");
  }
}
