// The contact list: contacts added by username (kept in the device store), each with the state of their key as
// the SDK's pins see it (pinned on first use; "changed" when the directory's active key is not the pinned one,
// until the user accepts it) and the number of unread messages from them.

import { ApiError, fingerprint, KeyChangedError, type Session } from "../src/core.js";
import { checkUsername } from "./input.js";
import { renderChatEntries } from "./dom.js";
import { UserInputError } from "./errors.js";
import type { Contact, PageRecords } from "./storage.js";

export type KeyState =
  | { kind: "checking" }
  | { kind: "pinned"; keyId: string }
  | { kind: "changed"; pinnedKeyId: string; newKeyId: string }
  | { kind: "no-key" };

export interface ContactEntry extends Contact {
  key: KeyState;
  /** Ids of unread messages from this contact (from the last inbox poll). */
  unread: Set<string>;
}

/** How a contact is named on screen. */
export function contactName(c: Contact): string {
  return c.username ?? `unnamed user ${c.userId.slice(0, 12)}…`;
}

/** One line on the key, with an icon and words (never colour alone). */
export function keyStateText(k: KeyState): string {
  switch (k.kind) {
    case "checking":
      return "… checking key";
    case "pinned":
      return "✓ key pinned";
    case "changed":
      return "⚠ key changed: sending blocked";
    case "no-key":
      return "✕ no key yet: cannot receive messages";
  }
}

export class Contacts {
  readonly #session: Session;
  readonly #records: PageRecords;
  readonly #list: HTMLUListElement;
  readonly #empty: HTMLElement;
  readonly #entries = new Map<string, ContactEntry>();
  #openId: string | null = null;
  #closed = false;
  /** Called when the user picks a contact. */
  onOpen: (c: ContactEntry) => void = () => {};
  /** Called after a contact's key state or unread count changed. */
  onChange: (c: ContactEntry) => void = () => {};

  constructor(session: Session, records: PageRecords, list: HTMLUListElement, empty: HTMLElement) {
    this.#session = session;
    this.#records = records;
    this.#list = list;
    this.#empty = empty;
  }

  /** The contacts kept on this device; their key states are checked again (one request each). */
  async load(): Promise<void> {
    for (const c of await this.#records.listContacts()) this.#entries.set(c.userId, { ...c, key: { kind: "checking" }, unread: new Set() });
    this.render();
    await Promise.all([...this.#entries.keys()].map((id) => this.checkKey(id)));
  }

  get(userId: string): ContactEntry | undefined {
    return this.#entries.get(userId);
  }

  /** Adds the user named in `field` (the SDK pins name <-> id, and the key on first use here). */
  async add(field: HTMLInputElement): Promise<ContactEntry> {
    const name = checkUsername(field);
    const user = await this.#session.lookup(name);
    if (user.userId === this.#session.userId) throw new UserInputError("That is your own account.", field);
    const existing = this.#entries.get(user.userId);
    const entry: ContactEntry = existing ?? { userId: user.userId, username: user.username, key: { kind: "checking" }, unread: new Set() };
    entry.username = user.username;
    await this.#records.saveContact({ userId: entry.userId, username: entry.username });
    this.#entries.set(entry.userId, entry);
    this.render();
    await this.checkKey(entry.userId);
    return entry;
  }

  /** The entry for a sender, added unnamed when they wrote first. */
  async ensure(userId: string): Promise<ContactEntry> {
    const known = this.#entries.get(userId);
    if (known) return known;
    const pin = await this.#session.pins.get(userId);
    const entry: ContactEntry = { userId, username: pin?.username || null, key: { kind: "checking" }, unread: new Set() };
    await this.#records.saveContact({ userId, username: entry.username });
    this.#entries.set(userId, entry);
    this.render();
    await this.checkKey(userId);
    return entry;
  }

  /**
   * Compares the directory's active key with the pin, the rule sendText enforces (a contact never seen before is
   * pinned now: trust on first use). The key id is computed from the key itself (Session.activeKeyId), not taken
   * from the server.
   */
  async checkKey(userId: string): Promise<KeyState> {
    const entry = this.#entries.get(userId);
    if (!entry) throw new Error(`page: no contact ${userId}`);
    let state: KeyState;
    try {
      let pin = await this.#session.pins.get(userId);
      if (!pin) {
        await this.#session.acceptKeyChange(userId); // with no pin yet, this pins the active key
        pin = await this.#session.pins.get(userId);
        if (!pin) throw new Error("page: the key was not pinned");
        state = { kind: "pinned", keyId: pin.keyId };
      } else {
        const active = await this.#session.activeKeyId(userId);
        if (active === null) state = { kind: "no-key" };
        else state = active === pin.keyId ? { kind: "pinned", keyId: pin.keyId } : { kind: "changed", pinnedKeyId: pin.keyId, newKeyId: active };
      }
    } catch (e) {
      // acceptKeyChange of a user without a key yet
      if (!(e instanceof ApiError && e.status === 404 && e.code === "no_active_key")) throw e;
      state = { kind: "no-key" };
    }
    this.#update(entry, state);
    return state;
  }

  /** sendText refused: the error says which key is pinned and which one is new. */
  keyChanged(e: KeyChangedError): void {
    const entry = this.#entries.get(e.userId);
    if (entry) this.#update(entry, { kind: "changed", pinnedKeyId: e.oldKeyId, newKeyId: e.newKeyId });
  }

  /** The user compared fingerprints and trusts the new key (the old one still verifies what it signed). */
  async acceptKey(userId: string): Promise<void> {
    await this.#session.acceptKeyChange(userId);
    await this.checkKey(userId);
  }

  /** Replaces the unread messages of every contact with those of the latest inbox poll. */
  setUnread(bySender: Map<string, string[]>): void {
    let changed = false;
    for (const e of this.#entries.values()) {
      const ids = bySender.get(e.userId) ?? [];
      if (ids.length === e.unread.size && ids.every((id) => e.unread.has(id))) continue;
      e.unread = new Set(ids);
      changed = true;
    }
    if (changed) this.render();
  }

  markRead(userId: string, messageId: string): void {
    const e = this.#entries.get(userId);
    if (e?.unread.delete(messageId)) this.render();
  }

  setOpen(userId: string | null): void {
    this.#openId = userId;
    this.render();
  }

  /** Signed out: the list is emptied and stays so, even if a check still in flight completes. */
  close(): void {
    this.#closed = true;
    this.#list.replaceChildren();
  }

  #update(entry: ContactEntry, state: KeyState): void {
    // unchanged: no redraw, so a repeated check does not announce the same warning again
    if (JSON.stringify(entry.key) === JSON.stringify(state)) return;
    entry.key = state;
    this.render();
    this.onChange(entry);
  }

  /** Redraws the list, keeping keyboard focus on the contact that had it. */
  render(): void {
    if (this.#closed) return;
    renderChatEntries(
      this.#list,
      this.#empty,
      [...this.#entries.values()].map((e) => ({
        id: e.userId,
        name: contactName(e),
        state: keyStateText(e.key),
        stateClass: `key-${e.key.kind}`,
        unread: e.unread.size,
        open: e.userId === this.#openId,
        onOpen: () => this.onOpen(e),
      })),
    );
  }
}

/** Fingerprint lines for the chat's key panel. */
export function keyPanelText(c: ContactEntry): { summary: string; detail: string | null } {
  const name = contactName(c);
  switch (c.key.kind) {
    case "checking":
      return { summary: `Checking the key of ${name}…`, detail: null };
    case "pinned":
      return {
        summary: `Key of ${name}: ${fingerprint(c.key.keyId)}`,
        detail: "Pinned when first seen. Compare it with your contact over another channel.",
      };
    case "changed":
      return {
        summary: `⚠ The key of ${name} changed. Sending is blocked until you accept the new key.`,
        detail: `Pinned key: ${fingerprint(c.key.pinnedKeyId)}. New key: ${fingerprint(c.key.newKeyId)}. ` +
          "Accept it only after your contact confirmed the new fingerprint.",
      };
    case "no-key":
      return { summary: `✕ ${name} has no key yet, so nothing can be sealed for them.`, detail: null };
  }
}
