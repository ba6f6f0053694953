// Registration, login and the device key: the first login in a browser generates the key pair here (private half
// non-extractable) and registers the public half with its proof of possession.

import { ApiClient, ApiError, generateKeyPair, Session } from "../src/index.js";
import type { PageConfig } from "./config.js";
import { UserInputError } from "./errors.js";
import { loadKey, openDeviceStore, saveKey, type DeviceStore } from "./storage.js";

export interface SignedIn {
  session: Session;
  username: string;
  store: DeviceStore;
  /** Set when this login registered a key replacing the account's earlier one (said to the user). */
  replacedKeyNote: string | null;
}

// docs/openapi.yaml: 3–32 letters, digits, combining marks, _ . -
const USERNAME = /^[\p{L}\p{N}\p{M}_.-]{3,32}$/u;

/** The username typed into `field`, trimmed, or a UserInputError saying what is wrong with it. */
export function checkUsername(field: HTMLInputElement): string {
  const name = field.value.trim();
  if (name === "") throw new UserInputError("Enter a username.", field);
  if (!USERNAME.test(name)) throw new UserInputError("A username has 3–32 letters, digits, _ . or -.", field);
  return name;
}

async function hasActiveKey(api: ApiClient, userId: string): Promise<boolean> {
  try {
    await api.publicKey(userId);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  }
}

/**
 * Logs in (after creating the account when `register`), then makes sure this browser holds the account's key:
 * the one kept from earlier in this tab, or a new one. A new key for an account that already has one is
 * authorized with the password (the old key is not here to sign for it).
 */
export async function signIn(
  cfg: PageConfig,
  username: string,
  password: string,
  register: boolean,
  progress: (text: string) => void,
): Promise<SignedIn> {
  const api = new ApiClient({ baseUrl: cfg.apiBaseUrl });
  if (register) {
    progress("Creating the account…");
    await api.register(username, password);
  }
  progress("Logging in…");
  const { userId } = await api.login(username, password);
  const store = openDeviceStore(userId);
  const session = new Session({ api, userId, pins: store.pins });
  const kept = await loadKey(store.kv);
  if (kept) {
    session.useKey(kept);
    return { session, username, store, replacedKeyNote: null };
  }
  progress("Generating your key in this browser…");
  const key = await generateKeyPair(2048);
  const first = register || !(await hasActiveKey(api, userId));
  progress("Registering your public key…");
  await session.registerKey(key, first ? {} : { password });
  await saveKey(store.kv, key);
  const replacedKeyNote = first
    ? null
    : "This browser had no key for your account, so a new key was registered, authorized by your password. " +
      "Your contacts will see that your key changed, and messages sealed for your earlier key cannot be opened here.";
  return { session, username, store, replacedKeyNote };
}
