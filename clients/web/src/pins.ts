// Trust on first use of contacts (the rules of the Rust SDK, clients/sdk/src/contacts.rs): username <-> user id
// and each user's key pinned on first contact; a change is refused until the user accepts it.

import { isWellFormed } from "./bytes.js";
import { InputError } from "./errors.js";
import { checkId, isKeyId } from "./ids.js";
import { fingerprint } from "./keys.js";
import { type KvStore } from "./kv.js";
import { ownerPrefix, StorageError } from "./storage.js";

/** A contact's active key differs from the pinned one: nothing is sent until `acceptKeyChange(userId)`. */
export class KeyChangedError extends Error {
  override name = "KeyChangedError";
  constructor(
    readonly userId: string,
    readonly username: string,
    readonly oldKeyId: string,
    readonly newKeyId: string,
  ) {
    super(`the key of ${username} changed (${fingerprint(oldKeyId)} -> ${fingerprint(newKeyId)}); verify and accept it`);
  }
  get oldFingerprint(): string {
    return fingerprint(this.oldKeyId);
  }
  get newFingerprint(): string {
    return fingerprint(this.newKeyId);
  }
}

/** A username now maps to another user id than pinned (or a pinned user id to another name): refused. */
export class IdentityChangedError extends Error {
  override name = "IdentityChangedError";
  constructor(
    readonly username: string,
    readonly pinnedUserId: string | null,
    readonly userId: string,
  ) {
    super(`the username ${username} is pinned to another user id than the server now gives`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Pins (trust on first use)
// ---------------------------------------------------------------------------------------------------------------

export interface Pin {
  userId: string;
  username: string;
  /** The pinned key: active when first seen or last accepted. */
  keyId: string;
  /** Earlier keys accepted before (they still verify what they signed). */
  knownKeyIds: string[];
  firstSeen: number;
}

/** Where pins live; async so that an IndexedDB implementation fits. */
export interface PinStore {
  get(userId: string): Promise<Pin | undefined>;
  put(pin: Pin): Promise<void>;
  /** The user id pinned for a (folded) username. */
  getByUsername(username: string): Promise<string | undefined>;
  putUsername(username: string, userId: string): Promise<void>;
}

/** Usernames are unique case-insensitively after NFC (as the server stores them). */
export function foldUsername(name: string): string {
  return name.normalize("NFC").toLowerCase().normalize("NFC");
}

export class MemoryPinStore implements PinStore {
  #pins = new Map<string, Pin>();
  #names = new Map<string, string>();
  async get(userId: string): Promise<Pin | undefined> {
    const p = this.#pins.get(userId);
    return p ? { ...p, knownKeyIds: [...p.knownKeyIds] } : undefined;
  }
  async put(pin: Pin): Promise<void> {
    this.#pins.set(pin.userId, { ...pin, knownKeyIds: [...pin.knownKeyIds] });
  }
  async getByUsername(username: string): Promise<string | undefined> {
    return this.#names.get(foldUsername(username));
  }
  async putUsername(username: string, userId: string): Promise<void> {
    this.#names.set(foldUsername(username), userId);
  }
}


/**
 * Pins kept in a KvStore (IndexedDB in a browser), per account: `pins/<ownerId>/user/<userId>` holds a Pin,
 * `pins/<ownerId>/name/<folded username>` the user id. Records that are not what this class wrote are refused
 * with StorageError "corrupt_record" rather than trusted.
 */
export class KvPinStore implements PinStore {
  #kv: KvStore;
  #prefix: string;
  constructor(kv: KvStore, ownerId: string) {
    this.#kv = kv;
    this.#prefix = ownerPrefix("pins", ownerId);
  }
  async get(userId: string): Promise<Pin | undefined> {
    const v = await this.#kv.get<unknown>(this.#userKey(userId));
    if (v === undefined) return undefined;
    if (!isPin(v) || v.userId !== userId) throw new StorageError("corrupt_record", "a pin record has an unknown shape");
    return v;
  }
  async put(pin: Pin): Promise<void> {
    if (!isPin(pin)) throw new InputError("invalid_input", "not a Pin");
    const { userId, username, keyId, knownKeyIds, firstSeen } = pin;
    await this.#kv.put(this.#userKey(userId), { userId, username, keyId, knownKeyIds: [...knownKeyIds], firstSeen });
  }
  async getByUsername(username: string): Promise<string | undefined> {
    const v = await this.#kv.get<unknown>(this.#nameKey(username));
    if (v !== undefined && (typeof v !== "string" || checkId(v) !== null)) throw new StorageError("corrupt_record", "a username record has an unknown shape");
    return v;
  }
  async putUsername(username: string, userId: string): Promise<void> {
    if (checkId(userId) !== null) throw new InputError("invalid_input", "not a user id");
    await this.#kv.put(this.#nameKey(username), userId);
  }
  #userKey(userId: string): string {
    if (checkId(userId) !== null) throw new InputError("invalid_input", "not a user id");
    return `${this.#prefix}user/${encodeURIComponent(userId)}`;
  }
  #nameKey(username: string): string {
    if (typeof username !== "string" || !isWellFormed(username) || username === "") throw new InputError("invalid_input", "not a username");
    return `${this.#prefix}name/${encodeURIComponent(foldUsername(username))}`;
  }
}

function isPin(v: unknown): v is Pin {
  const p = v as Partial<Pin> | null;
  return (
    !!p && typeof p === "object" && checkId(p.userId) === null && typeof p.username === "string" &&
    isKeyId(p.keyId) && Array.isArray(p.knownKeyIds) &&
    p.knownKeyIds.every(isKeyId) && Number.isFinite(p.firstSeen)
  );
}
