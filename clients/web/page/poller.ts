// Polling: PollLoop runs a poll at a fixed pause after the previous one ends (the inbox here, group chats in
// groups/groups.ts). The inbox poller: every pollIntervalMs the unread inbox is fetched and opened (SDK), the open chat
// takes its own messages (shown and marked read), the rest become unread counts per contact, and the open contact's
// key is checked again so a key change shows up without trying to send.

import type { MessageReport, Session } from "../src/core.js";
import type { ChatView } from "./chat.js";
import { contactName, type Contacts } from "./contacts.js";
import { announce } from "./dom.js";

/** Runs `poll` now, then again `intervalMs` after each run ends (never two at once); errors go to `onError`. */
export class PollLoop {
  readonly #intervalMs: number;
  readonly #poll: () => Promise<void>;
  readonly #onError: (e: unknown) => void;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #running = false;

  constructor(intervalMs: number, poll: () => Promise<void>, onError: (e: unknown) => void) {
    this.#intervalMs = intervalMs;
    this.#poll = poll;
    this.#onError = onError;
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    this.#running = true;
    void this.#loop();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  async #loop(): Promise<void> {
    if (!this.#running) return;
    try {
      await this.#poll();
    } catch (e) {
      this.#onError(e); // shown to the user; polling goes on (a server that was down may come back)
    }
    if (this.#running) this.#timer = setTimeout(() => void this.#loop(), this.#intervalMs);
  }
}

export class Poller {
  readonly #session: Session;
  readonly #contacts: Contacts;
  readonly #chat: ChatView;
  readonly #loop: PollLoop;
  /** Unread ids already announced, so each new message is announced once. */
  #announced = new Set<string>();

  constructor(session: Session, contacts: Contacts, chat: ChatView, intervalMs: number, onError: (e: unknown) => void) {
    this.#session = session;
    this.#contacts = contacts;
    this.#chat = chat;
    this.#loop = new PollLoop(intervalMs, () => this.poll(), onError);
  }

  start(): void {
    this.#loop.start();
  }

  stop(): void {
    this.#loop.stop();
  }

  /** One poll. */
  async poll(): Promise<void> {
    const inbox = await this.#session.inbox();
    if (!this.#loop.running) return;
    for (const senderId of new Set(inbox.map((m) => m.senderId))) await this.#contacts.ensure(senderId);
    const taken = await this.#chat.receive(inbox);
    const bySender = new Map<string, string[]>();
    const fresh: MessageReport[] = [];
    for (const m of inbox) {
      if (taken.has(m.messageId)) continue;
      bySender.set(m.senderId, [...(bySender.get(m.senderId) ?? []), m.messageId]);
      if (!this.#announced.has(m.messageId)) fresh.push(m);
    }
    this.#contacts.setUnread(bySender);
    for (const m of fresh) this.#announced.add(m.messageId);
    const names = [...new Set(fresh.map((m) => this.#contacts.get(m.senderId)).filter((c) => c !== undefined).map(contactName))];
    if (names.length > 0) announce(`New message${fresh.length > 1 ? "s" : ""} from ${names.join(", ")}.`);
    const open = this.#chat.contact;
    if (open) await this.#contacts.checkKey(open.userId);
  }
}
