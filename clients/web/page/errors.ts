// What the user reads when something fails: one sentence per error type of the SDK, and the alert region that
// shows them. Messages never contain keys, tokens or passwords (the SDK's errors do not either).

import {
  ApiError,
  EnvelopeError,
  IdentityChangedError,
  InputError,
  KeyChangedError,
  NetworkError,
  ResponseError,
} from "../src/index.js";
import { h } from "./dom.js";

/** A bad value typed by the user; `field` is the input to point at. */
export class UserInputError extends Error {
  override name = "UserInputError";
  constructor(
    message: string,
    readonly field: HTMLInputElement | HTMLTextAreaElement,
  ) {
    super(message);
  }
}

/** config.json is missing or wrong: the page cannot know its server. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export function describeError(e: unknown): string {
  if (e instanceof KeyChangedError) {
    return `The key of ${e.username || "this contact"} changed (pinned ${e.oldFingerprint}, now ${e.newFingerprint}). ` +
      "Nothing was sent: compare the new fingerprint with your contact, then accept the new key.";
  }
  if (e instanceof IdentityChangedError) return `${e.message}. Nothing was sent.`;
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
  if (e instanceof ConfigError || e instanceof UserInputError) return e.message;
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
      seen.count.textContent = ` (${seen.n} times)`;
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
