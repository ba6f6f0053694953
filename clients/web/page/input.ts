// Checks of what the user types, shared by the forms of the page (each failure is a UserInputError pointing at its
// field), and the composers' keyboard rule.

import { MAX_PLAINTEXT_BYTES } from "../src/core.js";
import { UserInputError } from "./errors.js";

// docs/openapi.yaml: 3–32 letters, digits, combining marks, _ . -
const USERNAME = /^[\p{L}\p{N}\p{M}_.-]{3,32}$/u;

/** Null for a valid username, else what is wrong with it. */
export function usernameProblem(name: string): string | null {
  if (name === "") return "Enter a username.";
  return USERNAME.test(name) ? null : "A username has 3–32 letters, digits, _ . or -.";
}

/** The username typed into `field`, trimmed, or a UserInputError saying what is wrong with it. */
export function checkUsername(field: HTMLInputElement): string {
  const name = field.value.trim();
  const problem = usernameProblem(name);
  if (problem !== null) throw new UserInputError(problem, field);
  return name;
}

/** The usernames typed into `field`, separated by commas or spaces, each checked, without repeats (case-folded). */
export function checkUsernames(field: HTMLInputElement): string[] {
  const names = field.value.split(/[\s,]+/).filter((n) => n !== "");
  if (names.length === 0) throw new UserInputError("Enter at least one username.", field);
  const seen = new Map<string, string>();
  for (const n of names) {
    const problem = usernameProblem(n);
    if (problem !== null) throw new UserInputError(`“${n}”: ${problem}`, field);
    seen.set(n.normalize("NFC").toLowerCase(), n);
  }
  return [...seen.values()];
}

/** The message typed into a composer: not blank, at most MAX_PLAINTEXT_BYTES of UTF-8 (1 MiB). */
export function checkMessageText(field: HTMLTextAreaElement): string {
  const text = field.value;
  if (text.trim() === "") throw new UserInputError("Write a message first.", field);
  if (new TextEncoder().encode(text).length > MAX_PLAINTEXT_BYTES) throw new UserInputError("The message is longer than 1 MiB.", field);
  return text;
}

/** Enter sends the composer's form, Shift+Enter is a new line; not while an input method is composing text. */
export function enterSends(text: HTMLTextAreaElement, form: HTMLFormElement): void {
  text.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
}
