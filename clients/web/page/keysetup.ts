// The key step, shown after sign-in when this browser does not hold the account's active key: generate a key here
// (with a passphrase-encrypted backup file, or without), or use a key from a backup file. And the offer of the
// backup file once a key was generated with one: the only moment its private key can be saved.

import { BackupError, fingerprint, InputError } from "../src/core.js";
import { generateKey, importKey, KeyMismatchError, type KeyNeed, type SignedIn } from "./account.js";
import { announce, byId, setFieldError, setText } from "./dom.js";
import { UserInputError } from "./errors.js";

/** What a finished key step tells the signed-in view. */
export interface KeyOutcome {
  backupPem: string | null;
  replacedKeyNote: string | null;
}

const MIN_PASSPHRASE = 8;
/** An encrypted 4096-bit PKCS#8 PEM is about 3.4 KB: anything much larger is not a key file. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export class KeyStep {
  readonly #el = {
    view: byId("key-view", HTMLElement),
    title: byId("key-title", HTMLHeadingElement),
    situation: byId("key-situation", HTMLElement),
    genForm: byId("keygen-form", HTMLFormElement),
    passwordRow: byId("keygen-password-row", HTMLElement),
    password: byId("keygen-password", HTMLInputElement),
    passphrase: byId("keygen-passphrase", HTMLInputElement),
    passphrase2: byId("keygen-passphrase2", HTMLInputElement),
    importForm: byId("import-form", HTMLFormElement),
    file: byId("import-file", HTMLInputElement),
    filePassphrase: byId("import-passphrase", HTMLInputElement),
    progress: byId("key-progress", HTMLElement),
  };
  #pending: { s: SignedIn; need: KeyNeed } | null = null;

  /**
   * `act` runs a user action (errors go to the page); `done` is called once the browser holds the account's key.
   */
  constructor(act: (fn: () => Promise<void>) => void, done: (s: SignedIn, outcome: KeyOutcome) => Promise<void>) {
    const { genForm, importForm } = this.#el;
    genForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const withBackup = !(ev.submitter instanceof HTMLButtonElement && ev.submitter.value === "plain");
      act(async () => {
        const p = this.#need();
        const opts = this.#generateOptions(p.need, withBackup);
        const outcome = await this.#busy(genForm, (progress) => generateKey(p.s, p.need, opts, progress));
        await this.#finish(p, outcome, done);
      });
    });
    importForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      act(async () => {
        const p = this.#need();
        const { pem, passphrase } = await this.#importInput();
        await this.#busy(importForm, async (progress) => {
          progress("Decrypting the key file…");
          await this.#importChecked(p, pem, passphrase);
        });
        await this.#finish(p, { backupPem: null, replacedKeyNote: null }, done);
      });
    });
  }

  /** Shows the step for `s`, saying why it is needed. */
  show(s: SignedIn, need: KeyNeed): void {
    this.#pending = { s, need };
    const account = need.accountKeyId === null ? null : fingerprint(need.accountKeyId);
    let text: string;
    if (account === null) text = "Your account has no key yet. Generate one in this browser, or use one from a backup file.";
    else {
      const held = need.heldKeyId === null ? "This browser holds no key of your account." : `The key this browser holds (${fingerprint(need.heldKeyId)}) is no longer your account's active key.`;
      text = `${held} Your account's key has the fingerprint ${account}. Use its backup file to keep it (your contacts see no change), ` +
        "or generate a new key, authorized by your password (your contacts will see that your key changed, and messages sealed for the old key cannot be opened here).";
    }
    setText(this.#el.situation, text);
    this.#el.passwordRow.hidden = account === null;
    for (const f of [this.#el.password, this.#el.passphrase, this.#el.passphrase2, this.#el.filePassphrase, this.#el.file]) {
      f.value = "";
      setFieldError(f, null);
    }
    this.#el.view.hidden = false;
    this.#el.title.focus();
  }

  /** Leaves the step (done, or logged out); nothing typed into it is kept. */
  hide(): void {
    this.#pending = null;
    for (const f of [this.#el.password, this.#el.passphrase, this.#el.passphrase2, this.#el.filePassphrase, this.#el.file]) f.value = "";
    this.#el.view.hidden = true;
  }

  #need(): { s: SignedIn; need: KeyNeed } {
    if (!this.#pending) throw new Error("page: no key step in progress");
    return this.#pending;
  }

  #generateOptions(need: KeyNeed, withBackup: boolean): { passphrase: string | null; password: string | null } {
    const { password, passphrase, passphrase2 } = this.#el;
    let pw: string | null = null;
    if (need.accountKeyId !== null) {
      if (password.value === "") throw new UserInputError("Enter your password: it authorizes the new key.", password);
      pw = password.value;
    }
    if (!withBackup) return { passphrase: null, password: pw };
    if (passphrase.value.length < MIN_PASSPHRASE) {
      throw new UserInputError(`A backup passphrase has at least ${MIN_PASSPHRASE} characters (or choose "Generate key without backup").`, passphrase);
    }
    if (passphrase2.value !== passphrase.value) throw new UserInputError("The two passphrases differ.", passphrase2);
    return { passphrase: passphrase.value, password: pw };
  }

  async #importInput(): Promise<{ pem: string; passphrase: string }> {
    const { file, filePassphrase } = this.#el;
    const chosen = file.files?.[0];
    if (!chosen) throw new UserInputError("Choose the key file.", file);
    if (chosen.size > MAX_KEY_FILE_BYTES) throw new UserInputError("This file is too large to be a key file.", file);
    if (filePassphrase.value === "") throw new UserInputError("Enter the passphrase of the key file.", filePassphrase);
    return { pem: await chosen.text(), passphrase: filePassphrase.value };
  }

  /** importKey, with the errors that concern a field shown at it. */
  async #importChecked(p: { s: SignedIn; need: KeyNeed }, pem: string, passphrase: string): Promise<void> {
    const { file, filePassphrase } = this.#el;
    try {
      await importKey(p.s, p.need, pem, passphrase);
    } catch (e) {
      if (e instanceof BackupError && e.code === "bad_passphrase") throw new UserInputError("This passphrase does not open the key file.", filePassphrase);
      if (e instanceof InputError && e.code === "invalid_key") throw new UserInputError(`This is not an encrypted private key file the page can use (${e.detail}).`, file);
      if (e instanceof KeyMismatchError) throw new UserInputError(`${e.message} Choose the backup of that key, or generate a new key.`, file);
      throw e;
    }
  }

  /** Runs `fn` with the form's buttons disabled and its progress shown. */
  async #busy<T>(form: HTMLFormElement, fn: (progress: (text: string) => void) => Promise<T>): Promise<T> {
    const buttons = [...this.#el.view.querySelectorAll("button")];
    buttons.forEach((b) => (b.disabled = true));
    form.setAttribute("aria-busy", "true");
    try {
      return await fn((text) => setText(this.#el.progress, text));
    } finally {
      buttons.forEach((b) => (b.disabled = false));
      form.removeAttribute("aria-busy");
      this.#el.progress.textContent = "";
    }
  }

  async #finish(p: { s: SignedIn; need: KeyNeed }, outcome: KeyOutcome, done: (s: SignedIn, outcome: KeyOutcome) => Promise<void>): Promise<void> {
    if (this.#pending !== p) return; // logged out meanwhile
    this.hide();
    await done(p.s, outcome);
  }
}

/** The offer to save a new key's backup file (a download of the encrypted PEM), until the user is done with it. */
export class BackupOffer {
  readonly #el = {
    box: byId("backup-notice", HTMLElement),
    link: byId("backup-download", HTMLAnchorElement),
    done: byId("backup-done", HTMLButtonElement),
  };
  #url: string | null = null;

  constructor(afterDone: () => void) {
    this.#el.done.addEventListener("click", () => {
      this.clear();
      afterDone();
    });
    this.#el.link.addEventListener("click", () => announce("The key backup file is being saved."));
  }

  /** Shows the download link of `pem` and moves focus to it. */
  offer(pem: string, username: string, keyId: string): void {
    this.clear();
    this.#url = URL.createObjectURL(new Blob([pem], { type: "application/x-pem-file" }));
    this.#el.link.href = this.#url;
    this.#el.link.download = `e2ee-${username}-${keyId.slice(0, 16)}.key`;
    this.#el.box.hidden = false;
    this.#el.link.focus();
  }

  /** Hides the offer; the file's URL is revoked, so the encrypted key is no longer reachable from the page. */
  clear(): void {
    if (this.#url !== null) URL.revokeObjectURL(this.#url);
    this.#url = null;
    this.#el.link.removeAttribute("href");
    this.#el.box.hidden = true;
  }
}
