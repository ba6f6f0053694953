// The API half: an HTTP client for the routes of docs/openapi.yaml (fetch only), key generation and registration
// with proof of possession (docs/security.md), trust-on-first-use pins of contacts, and 1:1 chat on top of the
// envelopes of envelope.ts. Mirrors the rules of the Rust SDK (client/sdk/src/device/*.rs).
//
// Nothing here logs anything: tokens, passwords and keys never reach a console or an error message.

import { asBytes, concat, field, toBase64, u64, utf8, fromUtf8 } from "./bytes.js";
import { EnvelopeError, InputError } from "./errors.js";
import { chatId, fingerprint, importPublicKeyPem, RSA_BITS, type KeyPair, type PublicKeyInfo, type RsaBits } from "./keys.js";
import { open, seal, type Envelope } from "./envelope.js";

// ---------------------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------------------

/** An error answer of the server: HTTP status plus the `{"error":{"code","message"}}` body. */
export class ApiError extends Error {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;
  /** From a `Retry-After` header in seconds (429, 503), when present. */
  readonly retryAfterSeconds?: number;
  constructor(status: number, code: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.status = status;
    this.code = code;
    if (retryAfterSeconds !== undefined) this.retryAfterSeconds = retryAfterSeconds;
  }
  /** 502/503/504: worth repeating the identical request. */
  get transient(): boolean {
    return this.status >= 502 && this.status <= 504;
  }
}

/** The request never got an HTTP answer (network down, DNS, CORS, aborted). */
export class NetworkError extends Error {
  override name = "NetworkError";
  readonly transient = true;
}

/** Build an ApiError from a non-2xx response; a body that is not the documented error JSON gives "http_<status>". */
export async function apiErrorFrom(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body: unknown = JSON.parse(await res.text());
    const err = (body as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined;
    if (err && typeof err.code === "string" && /^[a-z][a-z0-9_]*$/.test(err.code)) {
      code = err.code;
      if (typeof err.message === "string") message = err.message;
    }
  } catch {
    // not JSON: keep http_<status>
  }
  const ra = res.headers.get("retry-after");
  let retry: number | undefined;
  if (ra !== null && /^\s*\d+\s*$/.test(ra)) retry = Number(ra.trim());
  return new ApiError(res.status, code, message, retry);
}

/** A contact's active key differs from the pinned one: nothing is sent until `acceptKeyChange(userId)`. */
export class KeyChangedError extends Error {
  override name = "KeyChangedError";
  constructor(
    readonly userId: string,
    readonly username: string,
    readonly oldKeyId: string,
    readonly newKeyId: string,
  ) {
    super(`the key of ${username} changed (${fingerprint(oldKeyId)} -> ${fingerprint(newKeyId)}); verify and accept it`);
  }
  get oldFingerprint(): string {
    return fingerprint(this.oldKeyId);
  }
  get newFingerprint(): string {
    return fingerprint(this.newKeyId);
  }
}

/** A username now maps to another user id than pinned (or a pinned user id to another name): refused. */
export class IdentityChangedError extends Error {
  override name = "IdentityChangedError";
  constructor(
    readonly username: string,
    readonly pinnedUserId: string | null,
    readonly userId: string,
  ) {
    super(`the username ${username} is pinned to another user id than the server now gives`);
  }
}

/** The server answered something that contradicts the request or the key it sent. */
export class ResponseError extends Error {
  override name = "ResponseError";
}

// ---------------------------------------------------------------------------------------------------------------
// Wire types (docs/openapi.yaml)
// ---------------------------------------------------------------------------------------------------------------

export interface RegisterResponse { userId: string; username: string }
export interface LoginResponse { token: string; tokenType: "Bearer"; expiresAt: number; userId: string }
export interface UserInfo { userId: string; username: string; displayName: string | null }
export type KeyStatus = "active" | "retired" | "revoked" | "pending";
export interface KeyInfo {
  keyId: string; fingerprint: string; bits: number; publicKey: string; status: KeyStatus; createdAt: number;
  retiredAt?: number; revokedAt?: number;
}
export interface PublicKeyResponse {
  userId: string; keyId: string; fingerprint: string; bits: number; publicKey: string; createdAt: number; keys?: KeyInfo[];
}
export interface SendResponse { messageId: string; chatId: string; clientMessageId: string; createdAt: number }
export interface StoredMessage {
  messageId: string; chatId: string; senderId: string; receiverId: string; clientMessageId: string;
  envelope: Envelope; createdAt: number; readAt: number | null;
}
export interface MessagePage { messages: StoredMessage[]; nextCursor: string | null }
export interface MarkReadResponse { messageId: string; readAt: number }
export interface PageQuery { limit?: number; cursor?: string; order?: "asc" | "desc" }

// ---------------------------------------------------------------------------------------------------------------
// HTTP client
// ---------------------------------------------------------------------------------------------------------------

export interface ApiClientOptions {
  baseUrl: string;
  /** Injectable for tests; defaults to globalThis.fetch. */
  fetch?: typeof fetch;
  token?: string;
  /**
   * Called once when an authenticated request gets 401. A returned token is stored and the request repeated
   * once with it; null (or a second 401) throws the ApiError.
   */
  onUnauthorized?: () => Promise<string | null>;
}

export class ApiClient {
  readonly baseUrl: string;
  #fetch: typeof fetch;
  #token: string | null;
  onUnauthorized: (() => Promise<string | null>) | undefined;

  constructor(opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    const f = opts.fetch ?? globalThis.fetch;
    if (typeof f !== "function") throw new InputError("invalid_input", "no fetch available");
    this.#fetch = f.bind(globalThis);
    this.#token = opts.token ?? null;
    this.onUnauthorized = opts.onUnauthorized;
  }

  /** The bearer token (kept in memory only). */
  setToken(token: string | null): void {
    this.#token = token;
  }
  get hasToken(): boolean {
    return this.#token !== null;
  }

  /** One request; throws ApiError for non-2xx, NetworkError when no answer came. */
  async request<T>(method: string, path: string, body?: unknown, auth = true): Promise<{ status: number; data: T }> {
    let res = await this.#send(method, path, body, auth);
    if (res.status === 401 && auth && this.onUnauthorized) {
      const first = await apiErrorFrom(res);
      const token = await this.onUnauthorized();
      if (token === null) throw first;
      this.#token = token;
      res = await this.#send(method, path, body, auth);
    }
    if (!res.ok) throw await apiErrorFrom(res);
    const text = await res.text();
    let data: T;
    try {
      data = (text === "" ? null : JSON.parse(text)) as T;
    } catch {
      throw new ResponseError(`${method} ${path}: the response is not JSON`);
    }
    return { status: res.status, data };
  }

  async #send(method: string, path: string, body: unknown, auth: boolean): Promise<Response> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (auth && this.#token !== null) headers["authorization"] = `Bearer ${this.#token}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    try {
      return await this.#fetch(this.baseUrl + path, init);
    } catch {
      throw new NetworkError(`${method} ${path}: no answer from the server`);
    }
  }

  async register(username: string, password: string, displayName?: string): Promise<RegisterResponse> {
    const body: Record<string, string> = { username, password };
    if (displayName !== undefined) body.displayName = displayName;
    return (await this.request<RegisterResponse>("POST", "/api/auth/register", body, false)).data;
  }

  /** Logs in and keeps the token for later requests. */
  async login(username: string, password: string): Promise<LoginResponse> {
    const r = (await this.request<LoginResponse>("POST", "/api/auth/login", { username, password }, false)).data;
    this.#token = r.token;
    return r;
  }

  async lookupUser(username: string): Promise<UserInfo> {
    return (await this.request<UserInfo>("GET", `/api/users/${encodeURIComponent(username)}`)).data;
  }

  async publicKey(userId: string, all = false): Promise<PublicKeyResponse> {
    const q = all ? "?all=true" : "";
    return (await this.request<PublicKeyResponse>("GET", `/api/crypto/public-key/${encodeURIComponent(userId)}${q}`)).data;
  }

  async registerKeyRaw(body: RegisterKeyBody): Promise<KeyInfo> {
    return (await this.request<KeyInfo>("POST", "/api/crypto/register-key", body)).data;
  }

  async send(receiverId: string, envelope: Envelope): Promise<{ created: boolean; data: SendResponse }> {
    const r = await this.request<SendResponse>("POST", "/api/messages/send", { receiverId, envelope });
    return { created: r.status === 201, data: r.data };
  }

  async receive(userId: string, q: PageQuery = {}): Promise<MessagePage> {
    return (await this.request<MessagePage>("GET", `/api/messages/receive/${encodeURIComponent(userId)}${query(q)}`)).data;
  }

  async markRead(messageId: string): Promise<MarkReadResponse> {
    return (await this.request<MarkReadResponse>("PATCH", `/api/messages/mark-read/${encodeURIComponent(messageId)}`)).data;
  }

  async history(chat: string, q: PageQuery = {}): Promise<MessagePage> {
    return (await this.request<MessagePage>("GET", `/api/messages/history/${encodeURIComponent(chat)}${query(q)}`)).data;
  }
}

function query(q: PageQuery): string {
  const p = new URLSearchParams();
  if (q.limit !== undefined) p.set("limit", String(q.limit));
  if (q.cursor !== undefined) p.set("cursor", q.cursor);
  if (q.order !== undefined) p.set("order", q.order);
  const s = p.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------------------------------
// Keys: generation, PEM export of the public half, key-operation statements
// ---------------------------------------------------------------------------------------------------------------

const OAEP: RsaHashedImportParams = { name: "RSA-OAEP", hash: "SHA-256" };
const PSS: RsaHashedImportParams = { name: "RSA-PSS", hash: "SHA-256" };

/**
 * A fresh RSA key pair (e = 65537) whose private CryptoKeys are non-extractable.
 *
 * WebCrypto binds a CryptoKey to one algorithm, but the protocol uses one RSA key for both RSA-OAEP-256
 * (unwrapping content keys) and RSA-PSS-SHA-256 (signing). So the key is generated once as *extractable*, its
 * PKCS#8 exported, and that PKCS#8 imported twice as NON-extractable keys (OAEP "decrypt", PSS "sign"); the
 * exported buffer is then wiped with fill(0). The extractable generated key object is dropped (it is only
 * reachable from this function) — a short window in which the private key exists in JS memory, which is the
 * price of one key for two algorithms.
 */
export async function generateKeyPair(bits: RsaBits = 2048): Promise<KeyPair> {
  if (!(RSA_BITS as readonly number[]).includes(bits)) throw new InputError("invalid_input", "bits must be 2048, 3072 or 4096");
  const s = crypto.subtle;
  const gen = (await s.generateKey(
    { name: "RSA-OAEP", modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["encrypt", "decrypt"],
  )) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await s.exportKey("pkcs8", gen.privateKey));
  try {
    const [decryptKey, signKey] = await Promise.all([
      s.importKey("pkcs8", pkcs8, OAEP, false, ["decrypt"]),
      s.importKey("pkcs8", pkcs8, PSS, false, ["sign"]),
    ]);
    const publicKey = await importPublicKeyPem(await spkiPem(gen.publicKey));
    return { keyId: publicKey.keyId, modulusBits: publicKey.modulusBits, decryptKey, signKey, publicKey };
  } finally {
    pkcs8.fill(0);
  }
}

/** SPKI PEM of a public CryptoKey (PublicKeyInfo.encryptKey will do). */
export async function spkiPem(publicKey: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const b64 = toBase64(der).match(/.{1,64}/g)!.join("\n");
  return `-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----\n`;
}

/** keyOpInput = field("e2ee.key-op.v1") || field(operation) || field(userId) || field(keyId) || u64(createdAt). */
export function keyOpInput(operation: "register" | "revoke", userId: string, keyId: string, createdAt: number): Uint8Array {
  return concat([field("e2ee.key-op.v1"), field(operation), field(userId), field(keyId), u64(createdAt)]);
}

async function pssSign(key: CryptoKey, data: Uint8Array): Promise<string> {
  return toBase64(new Uint8Array(await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, key, asBytes(data))));
}

export interface RegisterKeyBody {
  publicKey: string;
  createdAt: number;
  proof: string;
  authorization?: { keyId: string; signature: string };
  password?: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Pins (trust on first use)
// ---------------------------------------------------------------------------------------------------------------

export interface Pin {
  userId: string;
  username: string;
  /** The pinned key: active when first seen or last accepted. */
  keyId: string;
  /** Earlier keys accepted before (they still verify what they signed). */
  knownKeyIds: string[];
  firstSeen: number;
}

/** Where pins live; async so that an IndexedDB implementation fits. */
export interface PinStore {
  get(userId: string): Promise<Pin | undefined>;
  put(pin: Pin): Promise<void>;
  /** The user id pinned for a (folded) username. */
  getByUsername(username: string): Promise<string | undefined>;
  putUsername(username: string, userId: string): Promise<void>;
}

/** Usernames are unique case-insensitively after NFC (as the server stores them). */
export function foldUsername(name: string): string {
  return name.normalize("NFC").toLowerCase().normalize("NFC");
}

export class MemoryPinStore implements PinStore {
  #pins = new Map<string, Pin>();
  #names = new Map<string, string>();
  async get(userId: string): Promise<Pin | undefined> {
    const p = this.#pins.get(userId);
    return p ? { ...p, knownKeyIds: [...p.knownKeyIds] } : undefined;
  }
  async put(pin: Pin): Promise<void> {
    this.#pins.set(pin.userId, { ...pin, knownKeyIds: [...pin.knownKeyIds] });
  }
  async getByUsername(username: string): Promise<string | undefined> {
    return this.#names.get(foldUsername(username));
  }
  async putUsername(username: string, userId: string): Promise<void> {
    this.#names.set(foldUsername(username), userId);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Session: one logged-in user with their key pair
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
  /** Pauses (ms) before repeating a send that failed in transit; default [500, 1500]. */
  sendRetryDelays?: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function randomHex(bytes: number): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Session {
  readonly api: ApiClient;
  readonly userId: string;
  readonly pins: PinStore;
  #key: KeyPair | null = null;
  #retryDelays: number[];
  /** Key directories fetched in this session (user id -> keys, with ids computed here). */
  #directory = new Map<string, { active: string | null; keys: Map<string, { key: PublicKeyInfo; info: KeyInfo }> }>();

  constructor(opts: SessionOptions) {
    this.api = opts.api;
    this.userId = opts.userId;
    this.pins = opts.pins ?? new MemoryPinStore();
    this.#retryDelays = opts.sendRetryDelays ?? [500, 1500];
  }

  /** The key pair used for sending and reading (set by registerKey, or directly for a key loaded elsewhere). */
  useKey(key: KeyPair): void {
    this.#key = key;
  }
  get key(): KeyPair | null {
    return this.#key;
  }

  /**
   * Registers `keyPair` as the active key, with the proof of possession. The first key needs only the proof;
   * later keys are authorized by the current active key (the one set with useKey / an earlier registerKey),
   * or by `password` when given. The new key becomes the session's key.
   */
  async registerKey(keyPair: KeyPair, opts: { password?: string; createdAt?: number } = {}): Promise<KeyInfo> {
    const createdAt = opts.createdAt ?? Date.now();
    const input = keyOpInput("register", this.userId, keyPair.keyId, createdAt);
    const body: RegisterKeyBody = {
      publicKey: await spkiPem(keyPair.publicKey.encryptKey),
      createdAt,
      proof: await pssSign(keyPair.signKey, input),
    };
    if (opts.password !== undefined) body.password = opts.password;
    else if (this.#key && this.#key.keyId !== keyPair.keyId) {
      body.authorization = { keyId: this.#key.keyId, signature: await pssSign(this.#key.signKey, input) };
    }
    const info = await this.api.registerKeyRaw(body);
    if (info.keyId !== keyPair.keyId) throw new ResponseError("the server registered another key id");
    this.#key = keyPair;
    this.#directory.delete(this.userId);
    return info;
  }

  #me(): KeyPair {
    if (!this.#key) throw new InputError("invalid_input", "no key: call registerKey or useKey first");
    return this.#key;
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

  /** A user's keys as the server lists them (all=true), ids computed from the keys; cached per session. */
  async #keys(userId: string, refresh = false) {
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
      if (m.senderId === this.userId && signerKeyId === me.keyId) senderKey = me.publicKey;
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
      } else if (untrusted === undefined && senderKey !== me.publicKey) {
        untrusted = "signed by an own key of another device";
      }
    }
    try {
      const opened = await open(json, { readerPrivateKey: me.decryptKey, readerKeyId: me.keyId, senderPublicKey: senderKey });
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

function withCursor(q: PageQuery, cursor: string | null): PageQuery {
  return cursor === null ? q : { ...q, cursor };
}

/** Register (if `register`) and log in; returns a Session ready for registerKey. */
export async function connect(
  api: ApiClient,
  username: string,
  password: string,
  opts: { register?: boolean; pins?: PinStore } = {},
): Promise<Session> {
  if (opts.register) await api.register(username, password);
  const r = await api.login(username, password);
  return new Session({ api, userId: r.userId, ...(opts.pins ? { pins: opts.pins } : {}) });
}
