// The browser's KvStore: one IndexedDB object store of structured-cloned values. Structured clone keeps a
// non-extractable CryptoKey non-extractable, so private keys can be stored without ever being exported.

import { InputError } from "./errors.js";
import { type KvStore } from "./kv.js";
import { StorageError, storageError } from "./storage.js";

const STORE = "kv";
const VERSION = 1;

/** Opens (creating on first use) the database `dbName` with its one object store. */
export async function openIndexedDbKvStore(dbName = "e2ee"): Promise<IndexedDbKvStore> {
  if (typeof dbName !== "string" || dbName === "") throw new InputError("invalid_input", "dbName must be a non-empty string");
  const idb = globalThis.indexedDB;
  if (!idb) throw new StorageError("storage_unavailable", "IndexedDB is not available here");
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    let req: IDBOpenDBRequest;
    try {
      req = idb.open(dbName, VERSION);
    } catch (e) {
      reject(new StorageError("storage_unavailable", "cannot open the database", { cause: e }));
      return;
    }
    // Version 1 is the first version, so opening is never "blocked" (that needs an upgrade of an open older one).
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(new StorageError("storage_unavailable", "cannot open the database", { cause: req.error }));
  });
  if (!db.objectStoreNames.contains(STORE)) {
    db.close();
    throw new StorageError("corrupt_record", `database ${dbName} exists without the "${STORE}" object store`);
  }
  return new IndexedDbKvStore(db);
}

/** A KvStore over one IndexedDB object store; use openIndexedDbKvStore to get one. */
export class IndexedDbKvStore implements KvStore {
  #db: IDBDatabase;
  #closed = false;

  constructor(db: IDBDatabase) {
    this.#db = db;
    // A newer version of the page wants to upgrade: let it, instead of blocking it forever.
    db.onversionchange = () => this.close();
    db.onclose = () => {
      this.#closed = true;
    };
  }

  async get<T>(key: string): Promise<T | undefined> {
    checkKey(key);
    return (await this.#run("readonly", "get", (s) => s.get(key))) as T | undefined;
  }

  async put(key: string, value: unknown): Promise<void> {
    checkKey(key);
    await this.#run("readwrite", "put", (s) => s.put(value, key));
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.#run("readwrite", "delete", (s) => s.delete(key));
  }

  async keys(prefix: string): Promise<string[]> {
    checkKey(prefix, "prefix");
    const range = prefixRange(prefix);
    const keys = await this.#run("readonly", "keys", (s) => (range ? s.getAllKeys(range) : s.getAllKeys()));
    return keys.map((k) => {
      if (typeof k !== "string") throw new StorageError("corrupt_record", "the store holds a key that is not a string");
      return k;
    });
  }

  /** Closes the database; later calls throw StorageError "storage_closed". */
  close(): void {
    this.#closed = true;
    this.#db.close();
  }

  /**
   * One request in its own transaction. It resolves only on the transaction's `complete` (a write is then
   * committed, not merely queued) and rejects on `abort`, which IndexedDB fires after any failed request.
   */
  #run<T>(mode: IDBTransactionMode, what: string, op: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.#closed) {
        reject(new StorageError("storage_closed", `${what}: the store is closed`));
        return;
      }
      let tx: IDBTransaction;
      let req: IDBRequest<T>;
      try {
        // "strict": a written key must survive a crash or power loss (browsers default to relaxed flushing).
        tx = this.#db.transaction(STORE, mode, mode === "readwrite" ? { durability: "strict" } : undefined);
        req = op(tx.objectStore(STORE));
      } catch (e) {
        // Thrown synchronously, e.g. DataCloneError from put or InvalidStateError on a closed connection. A
        // transaction without requests commits nothing, so there is nothing to undo.
        reject(storageError(e, what));
        return;
      }
      tx.oncomplete = () => resolve(req.result);
      tx.onabort = () => reject(storageError(tx.error ?? req.error, `${what}: transaction aborted`));
    });
  }
}

function checkKey(key: unknown, what = "key"): asserts key is string {
  if (typeof key !== "string") throw new InputError("invalid_input", `${what} must be a string`);
}

/**
 * The key range of the strings that start with `prefix` (null for "": every key). IndexedDB orders strings by
 * UTF-16 code units, so the upper bound is the prefix with its last code unit below U+FFFF incremented.
 */
function prefixRange(prefix: string): IDBKeyRange | null {
  if (prefix === "") return null;
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xffff) return IDBKeyRange.bound(prefix, prefix.slice(0, i) + String.fromCharCode(c + 1), false, true);
  }
  return IDBKeyRange.lowerBound(prefix); // only U+FFFF code units: every longer string is above it
}
