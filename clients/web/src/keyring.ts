// The user's key pairs on this device, persisted in a KvStore: every key by key id (non-extractable CryptoKeys,
// stored by structured clone) and which one is active. Old keys stay after a rotation, so messages sealed for an
// old key id still open (the Rust SDK's keyring.rs does the same with key files).

import { InputError } from "./errors.js";
import { isKeyId } from "./ids.js";
import { isRsaKeyFor, keyId, RSA_BITS, type KeyPair, type RsaBits } from "./keys.js";
import { MemoryKvStore, type KvStore } from "./kv.js";
import { ownerPrefix, StorageError } from "./storage.js";

const RECORD_VERSION = 1;
/** What is stored under `keyring/<owner>/key/<keyId>`. */
interface KeyRecord {
  v: typeof RECORD_VERSION;
  keyPair: KeyPair;
  addedAt: number;
}

export interface KeyringEntry {
  keyId: string;
  modulusBits: RsaBits;
  /** When this device stored the key (ms since the epoch). */
  addedAt: number;
  active: boolean;
}

/**
 * The key pairs of one account on this device. Reads are synchronous from memory (loaded by `open`); every
 * change is written to the KvStore before memory changes, so a failed write leaves both as they were. Another
 * tab's changes become visible after `reload()`.
 */
export class Keyring {
  readonly ownerId: string;
  #kv: KvStore;
  #prefix: string;
  #keys: Map<string, KeyRecord>;
  #active: string | null;

  private constructor(kv: KvStore, ownerId: string, keys: Map<string, KeyRecord>, active: string | null) {
    this.ownerId = ownerId;
    this.#kv = kv;
    this.#prefix = ownerPrefix("keyring", ownerId);
    this.#keys = keys;
    this.#active = active;
  }

  /** Loads the keyring of `ownerId` (a user id) from `kv`; empty on first use. */
  static async open(kv: KvStore, ownerId: string): Promise<Keyring> {
    const ring = new Keyring(kv, ownerId, new Map(), null);
    await ring.reload();
    return ring;
  }

  /** An empty keyring in memory only (tests, or a page that keeps nothing on the device). */
  static inMemory(ownerId: string): Keyring {
    return new Keyring(new MemoryKvStore(), ownerId, new Map(), null);
  }

  /** Reads everything again from the store (e.g. after another tab rotated the key). */
  async reload(): Promise<void> {
    const keys = new Map<string, KeyRecord>();
    for (const k of await this.#kv.keys(this.#prefix + "key/")) {
      const id = k.slice(this.#prefix.length + 4);
      keys.set(id, await checkRecord(await this.#kv.get<unknown>(k), id));
    }
    const active = (await this.#kv.get<unknown>(this.#prefix + "active")) ?? null;
    if (active !== null && (typeof active !== "string" || !keys.has(active))) {
      throw new StorageError("corrupt_record", "the active key id names no stored key");
    }
    this.#keys = keys;
    this.#active = active;
  }

  /** The key used for sending, signing and authorizing the next key; null before the first key. */
  get active(): KeyPair | null {
    return this.#active === null ? null : this.#keys.get(this.#active)!.keyPair;
  }

  /** The key pair `keyId` if this device holds it (active or older). */
  get(keyId: string): KeyPair | undefined {
    return this.#keys.get(keyId)?.keyPair;
  }

  /** Every key of this device, oldest first. */
  entries(): KeyringEntry[] {
    return [...this.#keys.values()]
      .map((r) => ({ keyId: r.keyPair.keyId, modulusBits: r.keyPair.modulusBits, addedAt: r.addedAt, active: r.keyPair.keyId === this.#active }))
      .sort((a, b) => a.addedAt - b.addedAt || (a.keyId < b.keyId ? -1 : 1));
  }

  /**
   * Stores `keyPair` (kept if already held) and, with `activate`, makes it the active key. The private keys
   * must be non-extractable, as generateKeyPair and importPrivateKeyPem make them.
   */
  async add(keyPair: KeyPair, opts: { activate?: boolean } = {}): Promise<void> {
    await checkKeyPair(keyPair, (d) => new InputError("invalid_key", d));
    if (!this.#keys.has(keyPair.keyId)) {
      const record: KeyRecord = { v: RECORD_VERSION, keyPair, addedAt: Date.now() };
      await this.#kv.put(this.#prefix + "key/" + keyPair.keyId, record);
      this.#keys.set(keyPair.keyId, record);
    }
    if (opts.activate) await this.activate(keyPair.keyId);
  }

  /** Makes a held key the active one. */
  async activate(keyId: string): Promise<void> {
    if (!this.#keys.has(keyId)) throw new InputError("invalid_input", "the keyring does not hold this key id");
    if (this.#active === keyId) return;
    await this.#kv.put(this.#prefix + "active", keyId);
    this.#active = keyId;
  }

  /**
   * Deletes a key that is not active. Whatever was sealed only for it becomes unreadable on this device, so
   * the SDK itself does this only for a key the server refused to register.
   */
  async remove(keyId: string): Promise<void> {
    if (keyId === this.#active) throw new InputError("invalid_input", "the active key cannot be removed");
    if (!this.#keys.has(keyId)) return;
    await this.#kv.delete(this.#prefix + "key/" + keyId);
    this.#keys.delete(keyId);
  }
}

/** A stored record must be what `add` wrote, for the key id it is stored under. */
async function checkRecord(v: unknown, id: string): Promise<KeyRecord> {
  const r = v as Partial<KeyRecord> | null | undefined;
  if (!r || typeof r !== "object" || r.v !== RECORD_VERSION || typeof r.addedAt !== "number" || !r.keyPair) {
    throw new StorageError("corrupt_record", "a keyring record has an unknown shape");
  }
  await checkKeyPair(r.keyPair, (d) => new StorageError("corrupt_record", `keyring record: ${d}`));
  if (r.keyPair.keyId !== id) throw new StorageError("corrupt_record", "a keyring record is stored under another key id");
  return r as KeyRecord;
}

/** The shape of a KeyPair with non-extractable private keys, and a key id that is its public key's. */
async function checkKeyPair(kp: unknown, err: (detail: string) => Error): Promise<void> {
  const k = kp as Partial<KeyPair> | null;
  if (!k || typeof k !== "object" || !isKeyId(k.keyId)) throw err("not a KeyPair");
  if (!(RSA_BITS as readonly unknown[]).includes(k.modulusBits)) throw err("unsupported modulus size");
  const pub = k.publicKey;
  if (!isRsaKeyFor(k.decryptKey, "RSA-OAEP", "decrypt") || !isRsaKeyFor(k.signKey, "RSA-PSS", "sign")) throw err("not RSA private keys");
  if (k.decryptKey.extractable || k.signKey.extractable) throw err("private keys must be non-extractable");
  if (!pub || !isRsaKeyFor(pub.encryptKey, "RSA-OAEP", "encrypt") || !isRsaKeyFor(pub.verifyKey, "RSA-PSS", "verify")) {
    throw err("not RSA public keys");
  }
  if (pub.keyId !== k.keyId || (await keyId(pub.encryptKey)) !== k.keyId) throw err("the key id is not the public key's");
}
