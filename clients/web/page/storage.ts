// Everything the page keeps on the device goes through the SDK's storage interfaces: a KvStore (the own key pair,
// the contact list) and a PinStore (the contacts' pinned keys). openDeviceStore is the one place that picks the
// implementations: memory today, so keys last as long as the tab; the IndexedDB KvStore and a KvStore-backed
// PinStore replace them here, and nothing else in the page changes.

import { MemoryKvStore, MemoryPinStore, type KeyPair, type KvStore, type PinStore } from "../src/index.js";

export interface DeviceStore {
  kv: KvStore;
  pins: PinStore;
}

export interface Contact {
  userId: string;
  /** null for someone who wrote first and was not added by name (the API has no lookup by user id). */
  username: string | null;
}

// One store per account, kept for the page's lifetime: logging out and in again in the same tab keeps the key.
const stores = new Map<string, DeviceStore>();

export function openDeviceStore(userId: string): DeviceStore {
  let s = stores.get(userId);
  if (!s) {
    s = { kv: new MemoryKvStore(), pins: new MemoryPinStore() };
    stores.set(userId, s);
  }
  return s;
}

const KEY = "key/active";
const CONTACT = "contact/";

/** The account's key pair on this device (non-extractable CryptoKeys, structured-cloned as they are). */
export function loadKey(kv: KvStore): Promise<KeyPair | undefined> {
  return kv.get<KeyPair>(KEY);
}

export function saveKey(kv: KvStore, key: KeyPair): Promise<void> {
  return kv.put(KEY, key);
}

export async function listContacts(kv: KvStore): Promise<Contact[]> {
  const out: Contact[] = [];
  for (const k of await kv.keys(CONTACT)) {
    const c = await kv.get<Contact>(k);
    if (c) out.push(c);
  }
  return out;
}

export function saveContact(kv: KvStore, c: Contact): Promise<void> {
  return kv.put(CONTACT + c.userId, c);
}
