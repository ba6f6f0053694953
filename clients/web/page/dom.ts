// Small DOM helpers: typed element lookup (a missing element is a bug, so it throws), element creation with text
// only (never innerHTML: every string shown may come from another user or the server), and field errors. Every
// string shown through them passes displayText (text.ts): no bidi controls, no control characters.

import { displayText } from "./text.js";

export function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`page: #${id} is missing or not a ${type.name}`);
  return el;
}

type Child = Node | string | null;

/** `<tag attrs...>children</tag>`; attribute values are set as attributes, strings become (sanitized) text nodes. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null) el.append(typeof c === "string" ? displayText(c) : c);
  return el;
}

/** Sets an element's text (sanitized: displayText). */
export function setText(el: HTMLElement, text: string): void {
  el.textContent = displayText(text);
}

/** One entry of a list of chats (contacts, groups): a button with its name, a state line and an unread count. */
export interface ChatEntryItem {
  id: string;
  name: string;
  state: string;
  /** Extra classes of the state line (e.g. the key state, styled per kind). */
  stateClass?: string;
  unread: number;
  open: boolean;
  onOpen: () => void;
}

/**
 * Redraws a list of chat entries sorted by name (the open one marked aria-current), keeping keyboard focus on the
 * entry that had it; `empty` (the "none yet" text) shows when there are none.
 */
export function renderChatEntries(list: HTMLElement, empty: HTMLElement, items: ChatEntryItem[]): void {
  const active = document.activeElement;
  const focused = active instanceof HTMLElement && list.contains(active) ? active.dataset.entryId : undefined;
  const sorted = [...items].sort((a, b) => a.name.localeCompare(b.name));
  list.replaceChildren(
    ...sorted.map((e) => {
      const button = h(
        "button",
        { type: "button", class: "contact", "data-entry-id": e.id },
        h("span", { class: "contact-name" }, e.name),
        h("span", { class: e.stateClass ? `key-state ${e.stateClass}` : "key-state" }, e.state),
        e.unread > 0 ? h("span", { class: "unread" }, `${e.unread} unread`) : null,
      );
      if (e.open) button.setAttribute("aria-current", "true");
      button.addEventListener("click", e.onOpen);
      return h("li", {}, button);
    }),
  );
  empty.hidden = items.length > 0;
  if (focused) list.querySelector<HTMLElement>(`[data-entry-id="${CSS.escape(focused)}"]`)?.focus();
}

/**
 * Shows `message` under a field: its error element (id "<field id>-error", in its aria-describedby) and
 * aria-invalid; null clears it.
 */
export function setFieldError(field: HTMLInputElement | HTMLTextAreaElement, message: string | null): void {
  setText(byId(`${field.id}-error`, HTMLElement), message === null ? "" : `⚠ ${message}`);
  if (message === null) field.removeAttribute("aria-invalid");
  else field.setAttribute("aria-invalid", "true");
}

let pending: string[] = [];

/**
 * Polite announcement for screen readers (new messages, progress). The region is emptied first so that a repeated
 * text is read again; texts announced in the same moment are read together rather than replacing each other.
 */
export function announce(text: string): void {
  pending.push(text);
  if (pending.length > 1) return;
  const el = byId("announcer", HTMLElement);
  el.textContent = "";
  setTimeout(() => {
    setText(el, pending.join(" "));
    pending = [];
  }, 30);
}

export function formatTime(ms: number): HTMLTimeElement {
  const d = new Date(ms);
  return h("time", { datetime: d.toISOString() }, d.toLocaleString());
}

/**
 * One message of a chat's list: who sent it and more (meta), the text or, when it could not be read, `withheld`,
 * and its state in words (`status` also names its CSS class; colour only repeats the words).
 */
export function messageItem(o: {
  attrs: Record<string, string>;
  own: boolean;
  status: string;
  meta: Child[];
  text: string | null;
  withheld: string;
  statusText: string;
}): HTMLLIElement {
  return h(
    "li",
    { ...o.attrs, class: `msg ${o.own ? "msg-out" : "msg-in"} status-${o.status}`, "data-status": o.status },
    h("p", { class: "meta" }, ...o.meta),
    o.text === null ? h("p", { class: "text withheld" }, o.withheld) : h("p", { class: "text" }, o.text),
    h("p", { class: "status" }, o.statusText),
  );
}
