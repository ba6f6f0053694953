// The 1:1 chat with one contact: history pages (newest first, "load older" for the rest), each message with its
// verified / unverified / failed state from the SDK, new messages from the poller, mark-read, the key panel
// (fingerprint, "key changed" with its accept action) and the composer, which refuses to send while the
// contact's key is not accepted.

import {
  chatId,
  KeyChangedError,
  type MessageReport,
  type MessageStatus,
  type Session,
} from "../src/core.js";
import type { PageConfig } from "./config.js";
import { contactName, keyPanelText, type ContactEntry, type Contacts } from "./contacts.js";
import { announce, byId, formatTime, h, messageItem, setFieldError, setText } from "./dom.js";
import { UserInputError } from "./errors.js";
import { checkMessageText } from "./input.js";

/** A message on screen: a report of the SDK, or one just sent from here ("sent": sealed and signed here). */
interface Shown {
  messageId: string;
  senderId: string;
  createdAt: number;
  text: string | null;
  status: MessageStatus | "sent";
  reason?: string;
  /** Sent to us and not marked read yet. */
  unread: boolean;
}

const STATUS_TEXT: Record<Shown["status"], string> = {
  verified: "✓ Verified",
  unverified: "⚠ Unverified",
  failed: "✗ Could not be opened",
  sent: "✓ Sent: sealed and signed in this browser",
};

function fromReport(me: string, r: MessageReport): Shown {
  const s: Shown = {
    messageId: r.messageId, senderId: r.senderId, createdAt: r.createdAt, text: r.text, status: r.status,
    unread: r.receiverId === me && r.readAt === null,
  };
  if (r.reason !== undefined) s.reason = r.reason;
  return s;
}

/** Display order: the server's (createdAt, messageId). */
function before(a: Shown, b: Shown): boolean {
  return a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.messageId < b.messageId);
}

export class ChatView {
  readonly #session: Session;
  readonly #cfg: PageConfig;
  readonly #contacts: Contacts;
  readonly #el = {
    title: byId("chat-title", HTMLHeadingElement),
    none: byId("chat-none", HTMLElement),
    body: byId("chat-body", HTMLElement),
    keyPanel: byId("key-panel", HTMLElement),
    older: byId("load-older", HTMLButtonElement),
    start: byId("history-start", HTMLElement),
    list: byId("messages", HTMLOListElement),
    composer: byId("composer", HTMLFormElement),
    label: byId("composer-label", HTMLLabelElement),
    text: byId("composer-text", HTMLTextAreaElement),
    error: byId("composer-text-error", HTMLElement),
    readonly: byId("composer-readonly", HTMLElement),
  };
  #contact: ContactEntry | null = null;
  #chat = "";
  #cursor: string | null = null;
  #shown = new Map<string, { msg: Shown; li: HTMLLIElement }>();
  /** Bumped on every open/close: an answer for a chat that is no longer open is dropped. */
  #generation = 0;
  #sending = false;

  constructor(session: Session, cfg: PageConfig, contacts: Contacts) {
    this.#session = session;
    this.#cfg = cfg;
    this.#contacts = contacts;
  }

  get contact(): ContactEntry | null {
    return this.#contact;
  }

  /** Shows the chat with `c`: the newest history page, unread ones marked read, focus in the composer. */
  async open(c: ContactEntry): Promise<void> {
    const gen = ++this.#generation;
    this.#contact = c;
    this.#contacts.setOpen(c.userId);
    this.#shown.clear();
    this.#el.list.replaceChildren();
    this.#cursor = null;
    setText(this.#el.title, `Chat with ${contactName(c)}`);
    setText(this.#el.label, `Message to ${contactName(c)}`);
    this.#el.none.hidden = true;
    this.#el.body.hidden = false;
    const writable = c.username !== null;
    this.#el.composer.hidden = !writable;
    this.#el.readonly.hidden = writable;
    setFieldError(this.#el.text, null);
    this.renderKeyPanel();
    this.#el.older.hidden = true;
    this.#el.start.hidden = true;
    (writable ? this.#el.text : this.#el.title).focus();
    this.#chat = await chatId(this.#session.userId, c.userId);
    const page = await this.#session.history(this.#chat, { limit: this.#cfg.historyPageSize, order: "desc" });
    if (gen !== this.#generation) return;
    this.#insert(this.#fromReports(page.messages));
    this.#setCursor(page.nextCursor);
    this.#el.list.scrollTop = this.#el.list.scrollHeight;
    await this.#markRead(gen);
  }

  close(): void {
    this.#generation++;
    this.#contact = null;
    this.#shown.clear();
    this.#el.list.replaceChildren();
    this.#el.body.hidden = true;
    this.#el.none.hidden = false;
    setText(this.#el.title, "Chat");
  }

  /** The next older page, above what is shown; focus stays on the button, or moves to "start" at the end. */
  async loadOlder(): Promise<void> {
    const gen = this.#generation;
    if (this.#cursor === null) return;
    const page = await this.#session.history(this.#chat, { limit: this.#cfg.historyPageSize, order: "desc", cursor: this.#cursor });
    if (gen !== this.#generation) return;
    const list = this.#el.list;
    const fromBottom = list.scrollHeight - list.scrollTop;
    this.#insert(this.#fromReports(page.messages));
    list.scrollTop = list.scrollHeight - fromBottom; // what was on screen stays where it was
    this.#setCursor(page.nextCursor);
    if (page.nextCursor === null) this.#el.start.focus();
    announce(`${page.messages.length} older messages loaded.`);
    await this.#markRead(gen);
  }

  /**
   * Messages of the last inbox poll; those of this chat are shown, announced and marked read. Returns the ids
   * this chat took (they are no longer unread).
   */
  async receive(reports: MessageReport[]): Promise<Set<string>> {
    const c = this.#contact;
    const gen = this.#generation;
    const mine = reports.filter((r) => c !== null && r.senderId === c.userId && r.chatId === this.#chat);
    const fresh = mine.filter((r) => !this.#shown.has(r.messageId));
    if (fresh.length > 0 && c) {
      this.#insert(this.#fromReports(fresh), true);
      const last = fresh[fresh.length - 1]!;
      const what = last.text === null ? "a message that could not be opened" : last.text;
      announce(fresh.length === 1 ? `New message from ${contactName(c)}: ${what}` : `${fresh.length} new messages from ${contactName(c)}; the last: ${what}`);
    }
    await this.#markRead(gen);
    return new Set(mine.map((r) => r.messageId));
  }

  /** Sends the composer's text, unless the contact's key changed (then the accept button gets focus). */
  async send(): Promise<void> {
    const c = this.#contact;
    if (!c || c.username === null || this.#sending) return;
    const text = checkMessageText(this.#el.text);
    if (c.key.kind === "changed") return this.#blocked(c);
    if (c.key.kind === "no-key") throw new UserInputError(`${contactName(c)} has no key yet: nothing can be sealed for them.`, this.#el.text);
    const gen = this.#generation;
    this.#sending = true;
    try {
      const sent = await this.#session.sendText(c.username, text);
      // sent even if the chat was left meanwhile: the text must not stay to be sent twice
      if (this.#el.text.value === text) this.#el.text.value = "";
      if (gen !== this.#generation) return;
      setFieldError(this.#el.text, null);
      this.#insert([{ messageId: sent.messageId, senderId: this.#session.userId, createdAt: sent.createdAt, text, status: "sent", unread: false }], true);
      announce("Message sent.");
    } catch (e) {
      if (!(e instanceof KeyChangedError)) throw e;
      this.#contacts.keyChanged(e);
      this.#blocked(c);
    } finally {
      this.#sending = false;
    }
  }

  #blocked(c: ContactEntry): void {
    setFieldError(this.#el.text, `Not sent: the key of ${contactName(c)} changed. Compare the fingerprints, then accept the new key.`);
    document.getElementById("accept-key")?.focus();
  }

  /** The key panel of the open contact (called again whenever its key state changes). */
  renderKeyPanel(): void {
    const c = this.#contact;
    if (!c) return;
    const { summary, detail } = keyPanelText(c);
    const parts: HTMLElement[] = [h("p", { class: "key-summary" }, summary)];
    if (detail !== null) parts.push(h("p", { class: "key-detail" }, detail));
    const panel = this.#el.keyPanel;
    panel.className = `key-panel key-${c.key.kind}`;
    if (c.key.kind === "changed") {
      // its click is handled by the page (app.ts), which delegates clicks on the panel
      parts.push(h("p", {}, h("button", { type: "button", id: "accept-key" }, "Accept new key")));
      panel.replaceChildren(h("div", { role: "alert" }, ...parts));
    } else {
      panel.replaceChildren(...parts);
      if (c.key.kind === "pinned" && this.#el.error.textContent !== "") setFieldError(this.#el.text, null);
    }
  }

  #fromReports(reports: MessageReport[]): Shown[] {
    return reports.map((r) => fromReport(this.#session.userId, r));
  }

  #setCursor(cursor: string | null): void {
    this.#cursor = cursor;
    this.#el.older.hidden = cursor === null;
    this.#el.start.hidden = cursor !== null;
  }

  /** Inserts messages in display order; `follow` keeps the view at the bottom if it was there. */
  #insert(msgs: Shown[], follow = false): void {
    const list = this.#el.list;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    for (const m of msgs) {
      if (this.#shown.has(m.messageId)) continue;
      const li = this.#render(m);
      const next = [...list.children].find((el) => {
        const s = this.#shown.get((el as HTMLElement).dataset.messageId ?? "");
        return s !== undefined && before(m, s.msg);
      });
      list.insertBefore(li, next ?? null);
      this.#shown.set(m.messageId, { msg: m, li });
    }
    if (follow && atBottom) list.scrollTop = list.scrollHeight;
  }

  #render(m: Shown): HTMLLIElement {
    const c = this.#contact;
    const own = m.senderId === this.#session.userId;
    const from = own ? "You" : c ? contactName(c) : m.senderId;
    return messageItem({
      attrs: { "data-message-id": m.messageId },
      own,
      status: m.status,
      meta: [h("span", { class: "from" }, from), " · ", formatTime(m.createdAt)],
      text: m.text,
      withheld: "Message withheld: it could not be opened on this device.",
      statusText: m.reason === undefined ? STATUS_TEXT[m.status] : `${STATUS_TEXT[m.status]}: ${m.reason}`,
    });
  }

  /** Marks read what this chat shows that was sent to us and is still unread. */
  async #markRead(gen: number): Promise<void> {
    const c = this.#contact;
    if (!c) return;
    for (const { msg } of this.#shown.values()) {
      if (gen !== this.#generation) return;
      if (!msg.unread) continue;
      await this.#session.markRead(msg.messageId);
      msg.unread = false;
      this.#contacts.markRead(c.userId, msg.messageId);
    }
  }
}
