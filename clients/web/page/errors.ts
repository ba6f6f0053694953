// What the user reads when something fails: one sentence per error type of the SDK, and the alert region that
// shows them. Messages never contain keys, tokens or passwords (the SDK's errors do not either).

import {
  ApiError,
  BackupError,
  EnvelopeError,
  IdentityChangedError,
  InputError,
  KeyChangedError,
  NetworkError,
  ResponseError,
  StorageError,
} from "../src/core.js";
import { h, setText } from "./dom.js";

/** An error of the page whose message is written for the user: shown as it is. */
export class PageError extends Error {}

/** A bad value typed by the user; `field` is the input to point at. */
export class UserInputError extends PageError {
  override name = "UserInputError";
  constructor(
    message: string,
    readonly field: HTMLInputElement | HTMLTextAreaElement,
  ) {
    super(message);
  }
}

/** config.json is missing or wrong: the page cannot know its server. */
export class ConfigError extends PageError {
  override name = "ConfigError";
}

/**
 * More descriptions, tried first: the group chats' chunk adds its own (MLS errors, the sealed state that does not
 * unlock) when it loads, so that the 1:1 chat does not carry them; those errors only come from that chunk.
 */
export const describers: ((e: unknown) => string | undefined)[] = [];

function describeStorage(e: StorageError): string {
  switch (e.code) {
    case "storage_unavailable":
      return "This browser does not let the page store your key (IndexedDB is unavailable: a private window, or storage blocked for this site).";
    case "storage_closed":
      return "The key store of this page was closed (a newer version of the page opened it?): reload the page.";
    case "quota_exceeded":
      return "This browser's storage for the page is full: nothing was stored.";
    default:
      return `This browser's storage failed (${e.code}): ${e.detail}.`;
  }
}

export function describeError(e: unknown): string {
  for (const d of describers) {
    const text = d(e);
    if (text !== undefined) return text;
  }
  if (e instanceof KeyChangedError) {
    return `The key of ${e.username || "this contact"} changed (pinned ${e.oldFingerprint}, now ${e.newFingerprint}). ` +
      "Nothing was sent: compare the new fingerprint with your contact, then accept the new key.";
  }
  if (e instanceof IdentityChangedError) return `${e.message}. Nothing was sent.`;
  if (e instanceof StorageError) return describeStorage(e);
  if (e instanceof BackupError) return `This key file cannot be used (${e.code}): ${e.detail}.`;
  if (e instanceof ApiError && e.status === 401 && e.code !== "invalid_credentials") {
    return `Your session has ended (${e.code}, HTTP 401): log in again.`;
  }
  if (e instanceof ApiError) {
    const retry = e.retryAfterSeconds !== undefined ? ` Try again in ${e.retryAfterSeconds} s.` : "";
    return `The server refused: ${e.message} (${e.code}, HTTP ${e.status}).${retry}`;
  }
  if (e instanceof NetworkError) {
    return "No answer from the server: it may be down, unreachable, or not allow this page's origin (CORS).";
  }
  if (e instanceof ResponseError) return `The server's answer did not add up: ${e.message}.`;
  if (e instanceof EnvelopeError || e instanceof InputError) return e.message;
  if (e instanceof PageError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `Unexpected failure: ${String(e)}`;
}

/** The alert region: one dismissable role="alert" item per distinct message (a repeated one is counted). */
export class Alerts {
  readonly #root: HTMLElement;
  readonly #shown = new Map<string, { item: HTMLElement; count: HTMLElement; n: number }>();

  constructor(root: HTMLElement) {
    this.#root = root;
  }

  show(e: unknown): void {
    const text = describeError(e);
    const seen = this.#shown.get(text);
    if (seen) {
      seen.n += 1;
      setText(seen.count, ` (${seen.n} times)`);
      return;
    }
    const count = h("span");
    const dismiss = h("button", { type: "button", class: "dismiss" }, "Dismiss");
    const item = h("div", { role: "alert", class: "alert" }, h("span", { "aria-hidden": "true" }, "⚠ "), h("strong", {}, "Error: "), text, count, " ", dismiss);
    dismiss.addEventListener("click", () => this.#remove(text, true));
    this.#shown.set(text, { item, count, n: 1 });
    this.#root.append(item);
  }

  clear(): void {
    for (const text of [...this.#shown.keys()]) this.#remove(text, false);
  }

  #remove(text: string, refocus: boolean): void {
    const seen = this.#shown.get(text);
    if (!seen) return;
    seen.item.remove();
    this.#shown.delete(text);
    // the dismiss button had focus and is gone: give focus back to the content rather than to <body>
    if (refocus) document.getElementById("main")?.focus();
  }
}
