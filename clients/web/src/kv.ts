// Where the SDK keeps state on the device: a small key-value interface over structured-cloneable values, so that a
// browser keeps CryptoKeys, pins and MLS state in IndexedDB (structured clone keeps non-extractable keys
// non-extractable) and tests use memory.

/** A key-value store of structured-cloneable values. Keys are strings; `keys(prefix)` lists them in order. */
export interface KvStore {
  get<T>(key: string): Promise<T | undefined>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** The keys that start with `prefix`, ascending. */
  keys(prefix: string): Promise<string[]>;
}

/** A KvStore in memory; values are structured-cloned on the way in and out, as IndexedDB does. */
export class MemoryKvStore implements KvStore {
  #map = new Map<string, unknown>();
  async get<T>(key: string): Promise<T | undefined> {
    return this.#map.has(key) ? (structuredClone(this.#map.get(key)) as T) : undefined;
  }
  async put(key: string, value: unknown): Promise<void> {
    this.#map.set(key, structuredClone(value));
  }
  async delete(key: string): Promise<void> {
    this.#map.delete(key);
  }
  async keys(prefix: string): Promise<string[]> {
    return [...this.#map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
