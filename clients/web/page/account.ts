// Registration, login and the account's key in this browser. connect() loads the account's keyring and pins from
// the browser's store (storage.ts), so a reload keeps them; only the session token is not kept. The password also
// unlocks the data key of the encrypted MLS state (unlockSealedKey), then is dropped. When the keyring
// does not hold the account's active key, the key step (keysetup.ts) generates one here — optionally with a
// passphrase-encrypted backup file — or imports one from a backup file, e.g. a key file of the Rust CLI.

import {
  connect,
  fingerprint,
  generateKeyPair,
  generateKeyPairWithBackup,
  importEncryptedPrivateKeyPem,
  StorageError,
  unlockSealedKey,
  type KvStore,
  type Session,
  ApiClient,
} from "../src/core.js";
import type { PageConfig } from "./config.js";
import { deviceStore, PageRecords } from "./storage.js";

export interface SignedIn {
  session: Session;
  username: string;
  /** The browser's store (keyring, pins, the page's records). */
  kv: KvStore;
  /**
   * The data key of this account's encrypted MLS state (src/sealedkey.ts), unwrapped with the password at sign-in: a
   * non-extractable CryptoKey, in memory only; group chats (their chunk) open the sealed store with it. A
   * StorageError when it could not be unlocked (e.g. "wrong_password": the state was sealed under another password);
   * group chats then show it, the 1:1 chat works.
   */
  mlsKey: CryptoKey | StorageError;
  records: PageRecords;
}

/** Why the key step is needed: the account's active key on the server (null: none yet) and the browser's one. */
export interface KeyNeed {
  accountKeyId: string | null;
  heldKeyId: string | null;
}

/** A key file chosen in the wrong place: it holds another key than the account's active one. */
export class KeyMismatchError extends Error {
  override name = "KeyMismatchError";
  constructor(
    readonly fileKeyId: string,
    readonly accountKeyId: string,
  ) {
    super(`This file holds the key ${fingerprint(fileKeyId)}, but your account's active key is ${fingerprint(accountKeyId)}.`);
  }
}

/**
 * Logs in (after creating the account when `register`) with the keyring and pins of this browser. Returns what
 * the key step must solve, or null when the browser holds the account's active key.
 */
export async function signIn(
  cfg: PageConfig,
  username: string,
  password: string,
  register: boolean,
  progress: (text: string) => void,
): Promise<{ signedIn: SignedIn; need: KeyNeed | null }> {
  progress("Opening this browser's key store…");
  const kv = await deviceStore();
  progress(register ? "Creating the account…" : "Logging in…");
  const session = await connect(new ApiClient({ baseUrl: cfg.apiBaseUrl }), username, password, { register, store: kv });
  progress("Unlocking this browser's group chat state…");
  // The MLS state is encrypted at rest under a data key that only the password unwraps (PBKDF2, ~130 ms in Chromium
  // here). Only the unwrapped key is kept, a non-extractable CryptoKey in memory: neither the password nor a key
  // derived from it, which a script in the page could use to test password guesses fast. The store itself
  // (src/sealed.ts) is in the group chats' chunk. It runs while the directory is asked which key is active (a new
  // account has none; otherwise it may have changed elsewhere).
  const [mlsKey, accountKeyId] = await Promise.all([
    unlockSealedKey(kv, session.userId, password).catch((e: unknown) => {
      if (e instanceof StorageError) return e;
      throw e;
    }),
    register ? null : session.activeKeyId(),
  ]);
  const signedIn: SignedIn = { session, username, kv, mlsKey, records: new PageRecords(kv, session.userId) };
  const heldKeyId = session.key?.keyId ?? null;
  return { signedIn, need: heldKeyId !== null && heldKeyId === accountKeyId ? null : { accountKeyId, heldKeyId } };
}

/**
 * Generates the key here (with an encrypted backup when `passphrase` is given) and registers it: with its proof
 * of possession only for the account's first key, authorized by `password` when the account has another one.
 * Returns the backup PEM, and a note for the user when the account's earlier key was replaced.
 */
export async function generateKey(
  s: SignedIn,
  need: KeyNeed,
  opts: { passphrase: string | null; password: string | null },
  progress: (text: string) => void,
): Promise<{ backupPem: string | null; replacedKeyNote: string | null }> {
  const first = need.accountKeyId === null;
  if (!first && opts.password === null) throw new Error("page: a key replacing the account's key needs the password");
  progress("Generating your key in this browser…");
  const { keyPair, encryptedPem } =
    opts.passphrase === null ? { keyPair: await generateKeyPair(2048), encryptedPem: null } : await generateKeyPairWithBackup(opts.passphrase, 2048);
  progress("Registering your public key…");
  await s.session.registerKey(keyPair, opts.password === null || first ? {} : { password: opts.password });
  const replacedKeyNote = first
    ? null
    : "This browser had no key for your account, so a new key was registered, authorized by your password. " +
      "Your contacts will see that your key changed, and messages sealed for your earlier key cannot be opened here.";
  return { backupPem: encryptedPem, replacedKeyNote };
}

/**
 * Imports an encrypted key file: the account's active key is used as it is (contacts see no change); a key for an
 * account without one is registered; another key is refused (KeyMismatchError), nothing is stored.
 */
export async function importKey(s: SignedIn, need: KeyNeed, pem: string, passphrase: string): Promise<void> {
  const key = await importEncryptedPrivateKeyPem(pem, passphrase);
  if (key.keyId === need.accountKeyId) await s.session.useKey(key);
  else if (need.accountKeyId === null) await s.session.registerKey(key);
  else throw new KeyMismatchError(key.keyId, need.accountKeyId);
}
