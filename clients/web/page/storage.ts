// Everything the page keeps in this browser goes through the SDK's storage: ONE IndexedDB KvStore (database
// "e2ee", src/idb.ts) shared by the accounts used here. The SDK keeps each account's keyring (non-extractable
// CryptoKeys, stored as they are), pins and MLS state in it under its own prefixes; the page adds its own records
// under page/<userId>/: the contact list, how far each group was seen, and whether group chats are set up here.
// The session token is never stored: after a reload the user logs in again with the password.

import { openIndexedDbKvStore, ownerPrefix, type KvStore } from "../src/core.js";

export interface Contact {
  userId: string;
  /** null for someone who wrote first and was not added by name (the API has no lookup by user id). */
  username: string | null;
}

let opened: Promise<KvStore> | null = null;

/** The browser's store, opened once per page; a failed open is tried again next time. */
export function deviceStore(): Promise<KvStore> {
  opened ??= openIndexedDbKvStore().catch((e: unknown) => {
    opened = null;
    throw e;
  });
  return opened;
}

/** The page's own records of one account. */
export class PageRecords {
  readonly #kv: KvStore;
  readonly #prefix: string;

  constructor(kv: KvStore, userId: string) {
    this.#kv = kv;
    this.#prefix = ownerPrefix("page", userId);
  }

  async listContacts(): Promise<Contact[]> {
    const out: Contact[] = [];
    for (const k of await this.#kv.keys(`${this.#prefix}contact/`)) {
      const c = await this.#kv.get<Contact>(k);
      if (c) out.push(c);
    }
    return out;
  }

  saveContact(c: Contact): Promise<void> {
    return this.#kv.put(`${this.#prefix}contact/${c.userId}`, c);
  }

  /** Whether the user set up group chats (an MLS device) in this browser: then they open at sign-in. */
  async groupsEnabled(): Promise<boolean> {
    return (await this.#kv.get<boolean>(`${this.#prefix}groups`)) === true;
  }

  enableGroups(): Promise<void> {
    return this.#kv.put(`${this.#prefix}groups`, true);
  }

  /** The log position up to which the user has seen a group's messages (-1: none). */
  async groupSeen(groupId: string): Promise<number> {
    const seq = await this.#kv.get<unknown>(`${this.#prefix}seen/${groupId}`);
    return typeof seq === "number" ? seq : -1;
  }

  setGroupSeen(groupId: string, seq: number): Promise<void> {
    return this.#kv.put(`${this.#prefix}seen/${groupId}`, seq);
  }

  forgetGroup(groupId: string): Promise<void> {
    return this.#kv.delete(`${this.#prefix}seen/${groupId}`);
  }
}
