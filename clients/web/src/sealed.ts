// Encryption at rest for what the SDK keeps in a KvStore (review N9): SealedKvStore wraps another KvStore and stores
// every value as AES-256-GCM ciphertext, so a copy of the browser profile (the IndexedDB files) shows no MLS secret
// and no message text. The data key (sealedkey.ts) is random, generated once per account on this device, and stored
// only wrapped (AES-256-GCM key wrap) under a key derived from the account password with PBKDF2-SHA-256; it is
// unwrapped into a NON-extractable CryptoKey that lives in memory only. WebCrypto only.
//
// Records: the value is serialized to JSON (Uint8Array/ArrayBuffer/undefined encoded losslessly; anything else that
// JSON cannot carry, e.g. a CryptoKey, is refused with InputError), encrypted with a fresh 12-byte nonce and AAD =
// domain string + the record's key name (a record moved under another name does not decrypt), and stored as
// {v: 1, nonce, ct}. A record that does not decrypt, or is not such a record, is StorageError "corrupt_record":
// never garbage, never a plaintext value passed through.

import { fromBase64Strict, toBase64, utf8 } from "./bytes.js";
import { InputError } from "./errors.js";
import { type KvStore } from "./kv.js";
import { aad, loadKeyRecord, sealedKeyName, unlockSealedKey, withSealedLock } from "./sealedkey.js";
import { StorageError } from "./storage.js";

const RECORD_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** AAD of a sealed record: this domain string, a NUL, the record's key name. */
const RECORD_DOMAIN = "e2ee-web sealed-kv record v1";

/** What a SealedKvStore writes into the underlying store for each value. */
export interface SealedRecord {
  v: typeof RECORD_VERSION;
  nonce: Uint8Array;
  ct: Uint8Array;
}

/** The MLS records of one account (src/mls/store.ts writes them there; the user id as it is, not encoded). */
export function mlsPrefix(userId: string): string {
  return `mls/${userId}/`;
}

/** A KvStore that keeps every value encrypted in `inner`. Keys (record names) are stored as they are. */
export class SealedKvStore implements KvStore {
  readonly #inner: KvStore;
  readonly #key: CryptoKey;

  /** `key`: an AES-GCM CryptoKey (from openSealedStore: non-extractable, in memory only). */
  constructor(inner: KvStore, key: CryptoKey) {
    if (!(key instanceof CryptoKey) || key.algorithm.name !== "AES-GCM" || !key.usages.includes("encrypt") || !key.usages.includes("decrypt")) {
      throw new InputError("invalid_key", "a SealedKvStore needs an AES-GCM key for encrypt and decrypt");
    }
    this.#inner = inner;
    this.#key = key;
  }

  /** The data key (non-extractable when it came from openSealedStore). */
  get key(): CryptoKey {
    return this.#key;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const raw = await this.#inner.get<unknown>(key);
    if (raw === undefined) return undefined;
    return (await openRecord(this.#key, key, raw)) as T;
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.#inner.put(key, await sealRecord(this.#key, key, value));
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }

  keys(prefix: string): Promise<string[]> {
    return this.#inner.keys(prefix);
  }
}

export interface OpenSealedOptions {
  /**
   * Key prefixes whose records may still be plaintext from before sealing (default: the account's MLS records,
   * `mls/<userId>/`). When the data key is created, and until that migration has finished once, every
   * plaintext record under them is encrypted in place; after that a plaintext record there is corrupt_record.
   */
  migratePrefixes?: string[];
}

/**
 * The SealedKvStore of account `userId` over `kv`. `secret` is the account password, or the data key that
 * unlockSealedKey(kv, userId, password) returned (an app that unlocks at sign-in and opens the store later, e.g. the
 * page: the password is not kept, only that non-extractable key). With the password it unlocks the key first: on
 * first use on this device that generates it, stores it wrapped under the password; a password that does not unwrap
 * the stored key throws StorageError "wrong_password" and changes nothing. Then, once per account and device, the
 * plaintext records written before sealing (see `migratePrefixes`) are encrypted in place. Runs under a Web Lock per
 * account where the platform has Web Locks.
 */
export async function openSealedStore(kv: KvStore, userId: string, secret: string | CryptoKey, opts: OpenSealedOptions = {}): Promise<SealedKvStore> {
  const name = sealedKeyName(userId); // checks the user id
  const store = new SealedKvStore(kv, typeof secret === "string" ? await unlockSealedKey(kv, userId, secret) : secret);
  const prefixes = opts.migratePrefixes ?? [mlsPrefix(userId)];
  return withSealedLock(userId, async () => {
    const rec = await loadKeyRecord(kv, name);
    if (!rec) throw new StorageError("corrupt_record", "no sealed data key is stored for this account");
    if (!rec.migrated) {
      for (const prefix of prefixes) {
        for (const k of await kv.keys(prefix)) {
          const v = await kv.get<unknown>(k);
          if (v !== undefined && !isSealedRecord(v)) await store.put(k, v);
        }
      }
      await kv.put(name, { ...rec, migrated: true });
    }
    return store;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------------------------

/** Whether `v` has the shape of a record SealedKvStore writes (any version). */
export function isSealedRecord(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v).sort();
  return keys.length === 3 && keys[0] === "ct" && keys[1] === "nonce" && keys[2] === "v";
}

async function sealRecord(key: CryptoKey, name: string, value: unknown): Promise<SealedRecord> {
  const plain = utf8(serialize(value));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  try {
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad(RECORD_DOMAIN, name) }, key, plain));
    return { v: RECORD_VERSION, nonce, ct };
  } finally {
    plain.fill(0);
  }
}

async function openRecord(key: CryptoKey, name: string, raw: unknown): Promise<unknown> {
  if (!isSealedRecord(raw)) throw new StorageError("corrupt_record", "a record that should be encrypted is not");
  const r = raw as Partial<SealedRecord>;
  if (r.v !== RECORD_VERSION) throw new StorageError("corrupt_record", "an encrypted record of an unknown version");
  if (!(r.nonce instanceof Uint8Array) || r.nonce.length !== NONCE_BYTES || !(r.ct instanceof Uint8Array) || r.ct.length < TAG_BYTES) {
    throw new StorageError("corrupt_record", "an encrypted record has an unknown shape");
  }
  let plain: Uint8Array;
  try {
    plain = new Uint8Array(
      await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(r.nonce), additionalData: aad(RECORD_DOMAIN, name) }, key, new Uint8Array(r.ct)),
    );
  } catch {
    // A wrong key, a changed byte, or a record moved here from another key name.
    throw new StorageError("corrupt_record", "an encrypted record does not decrypt (changed, or moved from another key)");
  }
  try {
    return deserialize(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    throw new StorageError("corrupt_record", "an encrypted record holds no value the SDK wrote");
  } finally {
    plain.fill(0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Lossless JSON: plain objects, arrays, strings, finite numbers, booleans, null, undefined, Uint8Array, ArrayBuffer
// ---------------------------------------------------------------------------------------------------------------
//
// Bytes become {"$b": base64}, an ArrayBuffer {"$a": base64}, undefined {"$u": 0}. A plain object's own key that
// starts with "$" is written with one more "$" in front, so an object with the single key "$b", "$a" or "$u" can
// only be one of these encodings.

const MAX_DEPTH = 64;

/** The JSON text of `value`; InputError for anything it cannot carry losslessly. */
export function serialize(value: unknown): string {
  return JSON.stringify(encode(value, 0, new Set()));
}

/** The value `serialize` was given (Uint8Array for both Uint8Array and its subclasses such as Node's Buffer). */
export function deserialize(text: string): unknown {
  return decode(JSON.parse(text) as unknown, 0);
}

function refuse(what: string): never {
  throw new InputError("invalid_input", `the encrypted store cannot keep ${what}`);
}

function encode(v: unknown, depth: number, seen: Set<object>): unknown {
  if (depth > MAX_DEPTH) refuse("values nested this deep");
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (v === undefined) return { $u: 0 };
  if (typeof v === "number") {
    if (!Number.isFinite(v)) refuse("NaN or an infinite number");
    return v;
  }
  if (typeof v !== "object") refuse(`a ${typeof v}`);
  if (seen.has(v)) refuse("a value that contains itself");
  if (v instanceof Uint8Array) return { $b: toBase64(v) };
  if (v instanceof ArrayBuffer) return { $a: toBase64(new Uint8Array(v)) };
  seen.add(v);
  try {
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) refuse("an array of a subclass");
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) out.push(encode(v[i], depth + 1, seen)); // holes become undefined
      return out;
    }
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      // CryptoKey, Map, Date, other typed arrays, class instances: not what JSON can carry (a CryptoKey must never
      // be exported to get there). Store those in a plain KvStore, not an encrypted one.
      const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
      refuse(typeof name === "string" && name !== "" ? `a ${name}` : "an object that is not plain");
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) define(out, k.startsWith("$") ? `$${k}` : k, encode((v as Record<string, unknown>)[k], depth + 1, seen));
    return out;
  } finally {
    seen.delete(v);
  }
}

function decode(v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH + 1) throw new Error("too deep");
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => decode(x, depth + 1));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const k = keys[0]!;
    if (k === "$u") return undefined;
    if (k === "$b" || k === "$a") {
      const bytes = typeof o[k] === "string" ? fromBase64Strict(o[k] as string) : null;
      if (bytes === null) throw new Error("bad bytes");
      return k === "$b" ? bytes : bytes.buffer;
    }
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (k.startsWith("$") && !k.startsWith("$$")) throw new Error("unknown tag");
    define(out, k.startsWith("$") ? k.slice(1) : k, decode(o[k], depth + 1));
  }
  return out;
}

/** out[k] = value as an own property, also for k = "__proto__" (an assignment would set the prototype). */
function define(out: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
}
