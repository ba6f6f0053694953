// A logged-in user with their keyring: key registration and rotation, contacts checked against the pins, and 1:1
// chat (send, inbox, mark read, history) on the envelopes of envelope.ts. Mirrors clients/sdk/src/device/*.rs.

import { utf8, fromUtf8 } from "./bytes.js";
import { EnvelopeError, InputError } from "./errors.js";
import { chatId, importPublicKeyPem, type KeyPair, type PublicKeyInfo, type RsaBits } from "./keys.js";
import { open, seal, type Envelope } from "./envelope.js";
import {
  ApiClient,
  ApiError,
  NetworkError,
  ResponseError,
  type KeyInfo,
  type MarkReadResponse,
  type MessagePage,
  type PageQuery,
  type RegisterKeyBody,
  type SendResponse,
  type StoredMessage,
  type UserInfo,
} from "./api.js";
import { generateKeyPair, generateKeyPairWithBackup, keyOpInput, pssSign, spkiPem } from "./keygen.js";
import { Keyring } from "./keyring.js";
import { type KvStore } from "./kv.js";
import { IdentityChangedError, KeyChangedError, KvPinStore, MemoryPinStore, foldUsername, type PinStore } from "./pins.js";

// ---------------------------------------------------------------------------------------------------------------
// Session: one logged-in user with their keyring
// ---------------------------------------------------------------------------------------------------------------

export type MessageStatus = "verified" | "unverified" | "failed";

export interface MessageReport {
  messageId: string;
  chatId: string;
  senderId: string;
  receiverId: string;
  createdAt: number;
  readAt: number | null;
  text: string | null;
  status: MessageStatus;
  /** Why not verified / failed. */
  reason?: string;
}

export interface SentReport extends SendResponse {
  receiverKeyId: string;
  /** False when the server already had this envelope (idempotent retry). */
  created: boolean;
}

export interface SessionOptions {
  api: ApiClient;
  userId: string;
  pins?: PinStore;
  /** The user's keys on this device; default: an empty keyring in memory. Its owner must be `userId`. */
  keyring?: Keyring;
  /** Pauses (ms) before repeating a send that failed in transit; default [500, 1500]. */
  sendRetryDelays?: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A user's listed keys (Session.listedKeys): key id -> the imported key and the server's record. */
export interface ListedKeys {
  active: string | null;
  keys: Map<string, { key: PublicKeyInfo; info: KeyInfo }>;
}

export class Session {
  readonly api: ApiClient;
  readonly userId: string;
  readonly pins: PinStore;
  readonly keyring: Keyring;
  #retryDelays: number[];
  /** Key directories fetched in this session (user id -> keys, with ids computed here). */
  #directory = new Map<string, ListedKeys>();

  constructor(opts: SessionOptions) {
    this.api = opts.api;
    this.userId = opts.userId;
    this.pins = opts.pins ?? new MemoryPinStore();
    if (opts.keyring && opts.keyring.ownerId !== opts.userId) throw new InputError("invalid_input", "the keyring belongs to another user id");
    this.keyring = opts.keyring ?? Keyring.inMemory(opts.userId);
    this.#retryDelays = opts.sendRetryDelays ?? [500, 1500];
  }

  /**
   * Makes `key` the active key of the keyring (adding it; older keys stay) without telling the server: for a
   * key that is already registered, e.g. one imported from a backup or from the CLI.
   */
  async useKey(key: KeyPair): Promise<void> {
    await this.keyring.add(key, { activate: true });
  }
  /** The active key pair (sending, signing, authorizing the next key). */
  get key(): KeyPair | null {
    return this.keyring.active;
  }

  /**
   * Registers `keyPair` as the active key, with the proof of possession. The first key needs only the proof;
   * later keys are authorized by the keyring's active key, or by `password` when given. The key is stored in
   * the keyring before the request (so the server never has an active key this device lost) and becomes
   * active when the server accepted it; a key the server refused (4xx) is removed again. Old keys stay.
   */
  async registerKey(keyPair: KeyPair, opts: { password?: string; createdAt?: number } = {}): Promise<KeyInfo> {
    const createdAt = opts.createdAt ?? Date.now();
    const input = keyOpInput("register", this.userId, keyPair.keyId, createdAt);
    const body: RegisterKeyBody = {
      publicKey: await spkiPem(keyPair.publicKey.encryptKey),
      createdAt,
      proof: await pssSign(keyPair.signKey, input),
    };
    const current = this.keyring.active;
    if (opts.password !== undefined) body.password = opts.password;
    else if (current && current.keyId !== keyPair.keyId) {
      body.authorization = { keyId: current.keyId, signature: await pssSign(current.signKey, input) };
    }
    const isNew = this.keyring.get(keyPair.keyId) === undefined;
    await this.keyring.add(keyPair);
    let info: KeyInfo;
    try {
      info = await this.api.registerKeyRaw(body);
    } catch (e) {
      // Refused for sure: drop the new key. Otherwise (no answer, 5xx) the server may hold it, so it stays.
      if (isNew && e instanceof ApiError && e.status >= 400 && e.status < 500) await this.keyring.remove(keyPair.keyId);
      throw e;
    }
    if (info.keyId !== keyPair.keyId) throw new ResponseError("the server registered another key id");
    await this.keyring.activate(keyPair.keyId);
    this.#directory.delete(this.userId);
    return info;
  }

  /**
   * Key rotation: a fresh key pair registered as the active key, authorized by the current active key (or by
   * `password`). The old key stays in the keyring, so what was sealed for it still opens. With
   * `exportPassphrase`, the new key is also returned as an encrypted PKCS#8 PEM (the only chance to export it).
   */
  async rotateKey(opts: { bits?: RsaBits; password?: string; exportPassphrase?: string } = {}): Promise<{ info: KeyInfo; keyPair: KeyPair; encryptedPem?: string }> {
    if (!this.keyring.active && opts.password === undefined) throw new InputError("invalid_input", "no key to rotate: registerKey first");
    const bits = opts.bits ?? 2048;
    const fresh = opts.exportPassphrase === undefined ? { keyPair: await generateKeyPair(bits) } : await generateKeyPairWithBackup(opts.exportPassphrase, bits);
    const info = await this.registerKey(fresh.keyPair, opts.password === undefined ? {} : { password: opts.password });
    return { info, ...fresh };
  }

  #me(): KeyPair {
    const key = this.keyring.active;
    if (!key) throw new InputError("invalid_input", "no key: call registerKey or useKey first");
    return key;
  }

  /** Looks a user up and checks the username <-> user id pins both ways (pinned on first use). */
  async lookup(username: string): Promise<UserInfo> {
    const user = await this.api.lookupUser(username);
    if (foldUsername(user.username) !== foldUsername(username)) {
      throw new ResponseError("the server answered for another username");
    }
    const pinnedId = await this.pins.getByUsername(username);
    if (pinnedId !== undefined && pinnedId !== user.userId) throw new IdentityChangedError(username, pinnedId, user.userId);
    const pin = await this.pins.get(user.userId);
    if (pin && pin.username !== "" && foldUsername(pin.username) !== foldUsername(user.username)) {
      throw new IdentityChangedError(username, pin.userId, user.userId);
    }
    if (pinnedId === undefined) await this.pins.putUsername(user.username, user.userId);
    if (pin && pin.username === "") await this.pins.put({ ...pin, username: user.username });
    return user;
  }

  /**
   * A user's keys as the server lists them (all=true), ids computed from the keys (a key listed under another id
   * is ignored, never trusted); `active` only when the active key is listed as active. Cached per session;
   * `refresh` asks the server again. No trust decision: that is the pins' (lookup, history) or the caller's.
   */
  async listedKeys(userId: string, { refresh = false }: { refresh?: boolean } = {}): Promise<ListedKeys> {
    return this.#keys(userId, refresh);
  }

  async #keys(userId: string, refresh = false): Promise<ListedKeys> {
    let d = this.#directory.get(userId);
    if (d && !refresh) return d;
    d = { active: null, keys: new Map() };
    try {
      const r = await this.api.publicKey(userId, true);
      for (const info of r.keys ?? []) {
        if (info.status === "pending") continue;
        try {
          const key = await importPublicKeyPem(info.publicKey);
          if (key.keyId !== info.keyId) continue; // listed under another id: ignored, never trusted
          d.keys.set(key.keyId, { key, info });
        } catch {
          /* unusable key: ignored */
        }
      }
      const act = d.keys.get(r.keyId);
      if (act && act.info.status === "active") d.active = r.keyId;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
    this.#directory.set(userId, d);
    return d;
  }

  /**
   * The user's active key id as the directory lists it now (this user's by default), computed here from the key
   * itself; null when the user has no usable active key. Not a trust decision: compare it with the pin (or, for
   * the own user, the keyring) to notice a key change.
   */
  async activeKeyId(userId: string = this.userId): Promise<string | null> {
    return (await this.#keys(userId, true)).active;
  }

  /** The user's active key if trusted: pinned on first use, KeyChangedError when it differs from the pin. */
  async #trustedKey(user: UserInfo, refresh: boolean, repin: boolean): Promise<PublicKeyInfo> {
    const d = await this.#keys(user.userId, refresh);
    if (!d.active) throw new ApiError(404, "no_active_key", `${user.username} has no active key`);
    const active = d.keys.get(d.active)!.key;
    const pin = await this.pins.get(user.userId);
    if (!pin || repin) {
      await this.pins.put({ userId: user.userId, username: user.username, keyId: active.keyId, knownKeyIds: [], firstSeen: Date.now() });
    } else if (pin.keyId !== active.keyId) {
      throw new KeyChangedError(user.userId, user.username, pin.keyId, active.keyId);
    }
    return active;
  }

  /** Trust the user's current active key (after the user compared fingerprints). The old key stays known. */
  async acceptKeyChange(userId: string): Promise<void> {
    const d = await this.#keys(userId, true);
    if (!d.active) throw new ApiError(404, "no_active_key", "the user has no active key");
    const pin = await this.pins.get(userId);
    if (!pin) {
      await this.pins.put({ userId, username: "", keyId: d.active, knownKeyIds: [], firstSeen: Date.now() });
      return;
    }
    if (pin.keyId === d.active) return;
    const known = [...pin.knownKeyIds.filter((k) => k !== d.active), pin.keyId].filter((k, i, a) => a.indexOf(k) === i);
    await this.pins.put({ ...pin, keyId: d.active, knownKeyIds: known });
  }

  /**
   * Seals `text` for `toUsername`'s trusted key and for the own key (receiver first), signs it and sends it.
   * On 409 stale_recipient_key the key is fetched again and the message re-sealed once (same client message
   * id; a changed pinned key is still refused). Transport failures and 502–504 repeat the identical envelope.
   */
  async sendText(toUsername: string, text: string): Promise<SentReport> {
    const me = this.#me();
    const user = await this.lookup(toUsername);
    const messageId = `m_${randomHex(16)}`;
    const createdAt = Date.now();
    const hadPin = (await this.pins.get(user.userId)) !== undefined;
    let resealed = false;
    for (;;) {
      const receiverKey = await this.#trustedKey(user, resealed, resealed && !hadPin);
      const recipients =
        receiverKey.keyId === me.keyId
          ? [{ userId: user.userId, publicKey: receiverKey }]
          : [{ userId: user.userId, publicKey: receiverKey }, { userId: this.userId, publicKey: me.publicKey }];
      const { envelope } = await seal({ senderId: this.userId, messageId, createdAt, recipients, plaintext: utf8(text), signer: me });
      try {
        const sent = await this.#post(user.userId, envelope);
        return { ...sent.data, receiverKeyId: receiverKey.keyId, created: sent.created };
      } catch (e) {
        if (!resealed && e instanceof ApiError && e.code === "stale_recipient_key") {
          resealed = true;
          continue;
        }
        throw e;
      }
    }
  }

  async #post(receiverId: string, envelope: Envelope) {
    for (let i = 0; ; i++) {
      try {
        return await this.api.send(receiverId, envelope);
      } catch (e) {
        const transient = e instanceof NetworkError || (e instanceof ApiError && e.transient);
        const delay = this.#retryDelays[i];
        if (!transient || delay === undefined) throw e;
        await sleep(delay);
      }
    }
  }

  /** Unread messages, oldest first, opened and verified (every page until nextCursor is null, up to `max`). */
  async inbox(max = 500): Promise<MessageReport[]> {
    return this.#openAll(await this.#pages((cursor) => this.api.receive(this.userId, withCursor({ limit: 100 }, cursor)), max));
  }

  async markRead(messageId: string): Promise<MarkReadResponse> {
    return this.api.markRead(messageId);
  }

  /**
   * One page of the chat with `peer` (a username, or a chat id `c_...`), opened and verified. A chat without
   * messages yet (404 chat_not_found) is an empty page.
   */
  async history(peer: string, q: PageQuery = {}): Promise<{ chatId: string; messages: MessageReport[]; nextCursor: string | null }> {
    const chat = /^c_[0-9a-f]{64}$/.test(peer) ? peer : await chatId(this.userId, (await this.lookup(peer)).userId);
    let page: MessagePage;
    try {
      page = await this.api.history(chat, q);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code === "chat_not_found") page = { messages: [], nextCursor: null };
      else throw e;
    }
    return { chatId: chat, messages: await this.#openAll(page.messages), nextCursor: page.nextCursor };
  }

  async #pages(fetchPage: (cursor: string | null) => Promise<MessagePage>, max: number): Promise<StoredMessage[]> {
    const out: StoredMessage[] = [];
    let cursor: string | null = null;
    do {
      const page = await fetchPage(cursor);
      out.push(...page.messages);
      if (page.nextCursor !== null && page.nextCursor === cursor) throw new ResponseError("the server repeated a cursor");
      cursor = page.nextCursor;
    } while (cursor !== null && out.length < max);
    return out.slice(0, max);
  }

  async #openAll(msgs: StoredMessage[]): Promise<MessageReport[]> {
    const out: MessageReport[] = [];
    for (const m of msgs) out.push(await this.#openOne(m));
    return out;
  }

  /**
   * Opens one stored message. Never throws because of the message itself (a bad one is status "failed");
   * only a failure to reach the server throws. "verified": signed by a key of the sender that this session
   * trusts (own key, or a key pinned for the contact), valid for the signed time; "unverified": readable but
   * unsigned, or signed by a key that is not (or no longer) trusted.
   */
  async #openOne(m: StoredMessage): Promise<MessageReport> {
    const me = this.#me();
    const base = {
      messageId: m.messageId, chatId: m.chatId, senderId: m.senderId, receiverId: m.receiverId,
      createdAt: m.createdAt, readAt: m.readAt,
    };
    const failed = (reason: string): MessageReport => ({ ...base, text: null, status: "failed", reason });
    const json = JSON.stringify(m.envelope);
    const env = m.envelope as Partial<Envelope> | null;
    if (!env || env.senderId !== m.senderId) return failed("the envelope's sender is not the message's sender");
    const signerKeyId = env.signature?.keyId;

    let senderKey: PublicKeyInfo | undefined;
    let untrusted: string | undefined;
    if (signerKeyId === undefined) {
      untrusted = "not signed";
    } else {
      let listed = (await this.#keys(m.senderId)).keys.get(signerKeyId);
      if (!listed) listed = (await this.#keys(m.senderId, true)).keys.get(signerKeyId); // a key newer than the cache
      const own = m.senderId === this.userId ? this.keyring.get(signerKeyId) : undefined;
      if (own) senderKey = own.publicKey;
      else if (!listed) return failed("signed by a key that is not the sender's");
      else senderKey = listed.key;
      if (listed) {
        const { info } = listed;
        if (info.status === "revoked" || info.revokedAt !== undefined) untrusted = "signed by a revoked key";
        else if (info.status === "retired" && !(env.createdAt !== undefined && info.retiredAt !== undefined && env.createdAt < info.retiredAt)) {
          untrusted = "signed by a retired key after it was retired";
        }
      }
      if (untrusted === undefined && m.senderId !== this.userId) {
        let pin = await this.pins.get(m.senderId);
        const d = await this.#keys(m.senderId);
        if (!pin && d.active) {
          // first contact on receipt: pin the sender's active key (and their other usable keys as known)
          const known = [...d.keys.values()].filter((k) => k.info.status !== "revoked" && k.key.keyId !== d.active).map((k) => k.key.keyId);
          pin = { userId: m.senderId, username: "", keyId: d.active, knownKeyIds: known, firstSeen: Date.now() };
          await this.pins.put(pin);
        }
        if (!pin || (pin.keyId !== signerKeyId && !pin.knownKeyIds.includes(signerKeyId))) untrusted = "signed by a key that is not pinned";
      } else if (untrusted === undefined && !own) {
        untrusted = "signed by an own key of another device";
      }
    }
    try {
      const reader = readerKeyOf(this.keyring, this.userId, env) ?? me;
      const opened = await open(json, { readerPrivateKey: reader.decryptKey, readerKeyId: reader.keyId, senderPublicKey: senderKey });
      if (opened.senderId !== m.senderId) return failed("sender mismatch");
      let text: string;
      try {
        text = fromUtf8(opened.plaintext);
      } catch {
        return failed("not UTF-8 text");
      }
      return untrusted === undefined ? { ...base, text, status: "verified" } : { ...base, text, status: "unverified", reason: untrusted };
    } catch (e) {
      if (e instanceof EnvelopeError) return failed(e.code);
      throw e;
    }
  }
}

/** The keyring's key that the envelope names for this user (before parsing it: open() checks everything). */
function readerKeyOf(ring: Keyring, userId: string, env: Partial<Envelope>): KeyPair | undefined {
  const rs: unknown = env.recipients;
  if (!Array.isArray(rs)) return undefined;
  for (const r of rs as { userId?: unknown; keyId?: unknown }[]) {
    if (r && r.userId === userId && typeof r.keyId === "string") {
      const k = ring.get(r.keyId);
      if (k) return k;
    }
  }
  return undefined;
}

function withCursor(q: PageQuery, cursor: string | null): PageQuery {
  return cursor === null ? q : { ...q, cursor };
}

/**
 * Register (if `register`) and log in; returns a Session ready for registerKey. With `store` (e.g. from
 * openIndexedDbKvStore) the session's keyring and pins are that account's records in it, loaded here.
 */
export async function connect(
  api: ApiClient,
  username: string,
  password: string,
  opts: { register?: boolean; pins?: PinStore; store?: KvStore } = {},
): Promise<Session> {
  if (opts.register) await api.register(username, password);
  const { userId } = await api.login(username, password);
  const { store } = opts;
  const pins = opts.pins ?? (store ? new KvPinStore(store, userId) : undefined);
  return new Session({
    api,
    userId,
    ...(pins ? { pins } : {}),
    ...(store ? { keyring: await Keyring.open(store, userId) } : {}),
  });
}
