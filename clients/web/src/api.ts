// An HTTP client for the routes of docs/openapi.yaml (fetch only): typed errors, the wire types, the bearer token
// and one retry through `onUnauthorized` on a 401. Nothing here logs anything: tokens, passwords and keys never
// reach a console or an error message.

import { InputError } from "./errors.js";
import { type Envelope } from "./envelope.js";

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
export interface RegisterKeyBody {
  publicKey: string;
  createdAt: number;
  proof: string;
  authorization?: { keyId: string; signature: string };
  password?: string;
}
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

