// Envelopes v1 and v2 (docs/envelope.md): parse/validate, the authenticated bytes (AAD and signature input),
// seal and open. WebCrypto only: RSA-OAEP-256 wraps a fresh AES-256-GCM content key per message, RSA-PSS-SHA-256
// optionally signs. Writers write v2; readers accept v1 and v2.

import { asBytes, concat, type Bytes, field, fromBase64Strict, fromUtf8, isWellFormed, toBase64, u32, u64, utf8 } from "./bytes.js";
import { EnvelopeError, InputError } from "./errors.js";
import { checkId, isKeyId } from "./ids.js";
import { JsonNumber, JsonSyntaxError, parseStrictJson, type JsonObject, type JsonValue } from "./json.js";
import { RSA_BITS, isRsaKeyFor, modulusBytes, type PublicKeyInfo } from "./keys.js";

export const ENVELOPE_VERSION = 2;
export const SUPPORTED_VERSIONS = [1, 2] as const;
export type EnvelopeVersion = (typeof SUPPORTED_VERSIONS)[number];

export const KEY_ALG = "RSA-OAEP-256";
export const CONTENT_ALG = "A256GCM";
export const SIG_ALG = "PS256";
export const MAX_PLAINTEXT_BYTES = 1048576;
export const MAX_ENVELOPE_BYTES = 1572864;
export const MAX_RECIPIENTS = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const CONTENT_KEY_BYTES = 32;
const PSS_SALT_BYTES = 32;
const RSA_BYTES: readonly number[] = RSA_BITS.map((b) => b / 8);

const AAD_DOMAIN: Record<EnvelopeVersion, string> = { 1: "e2ee.envelope.v1", 2: "e2ee.envelope.v2" };
const SIG_DOMAIN: Record<EnvelopeVersion, string> = { 1: "e2ee.signature.v1", 2: "e2ee.signature.v2" };


/** An envelope whose binary fields are of type `B`. */
interface EnvelopeOf<B> {
  version: EnvelopeVersion;
  keyAlg: typeof KEY_ALG;
  contentAlg: typeof CONTENT_ALG;
  senderId: string;
  messageId: string;
  createdAt: number;
  recipients: { userId: string; keyId: string; wrappedKey: B }[];
  nonce: B;
  ciphertext: B;
  signature?: { alg: typeof SIG_ALG; keyId: string; value: B };
}

/** The envelope as JSON (binary fields base64), exactly the wire shape. */
export type Envelope = EnvelopeOf<string>;

/** A validated envelope with its binary fields decoded. */
export type ParsedEnvelope = EnvelopeOf<Bytes>;

/** What the AAD is computed from: the header fields (either representation above will do). */
export interface EnvelopeHeader {
  readonly version: EnvelopeVersion;
  readonly keyAlg: string;
  readonly contentAlg: string;
  readonly senderId: string;
  readonly messageId: string;
  readonly createdAt: number;
  readonly recipients: readonly { readonly userId: string; readonly keyId: string }[];
  readonly signature?: { readonly keyId: string } | undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Parse and validate
// ---------------------------------------------------------------------------------------------------------------

const invalid = (detail: string): EnvelopeError => new EnvelopeError("invalid_envelope", detail);

/** Field access that enforces "exactly these keys": unknown keys are rejected, missing ones and nulls too. */
function object(v: JsonValue | undefined, what: string, required: readonly string[], optional: readonly string[] = []): JsonObject {
  if (!(v instanceof Map)) throw invalid(`${what}: not an object`);
  for (const k of v.keys()) {
    if (!required.includes(k) && !optional.includes(k)) throw invalid(`${what}: unknown field`);
  }
  for (const k of required) if (!v.has(k)) throw invalid(`${what}: missing field ${k}`);
  for (const [k, x] of v) if (x === null) throw invalid(`${what}.${k}: null`);
  return v;
}

function str(v: JsonValue | undefined, what: string): string {
  if (typeof v !== "string") throw invalid(`${what}: not a string`);
  return v;
}

function exact(v: JsonValue | undefined, want: string, what: string): void {
  if (str(v, what) !== want) throw invalid(`${what}: must be ${want}`);
}

function id(v: JsonValue | undefined, what: string): string {
  const problem = checkId(v);
  if (problem) throw invalid(`${what}: ${problem}`);
  return v as string;
}

function keyIdField(v: JsonValue | undefined, what: string): string {
  const s = str(v, what);
  if (!isKeyId(s)) throw invalid(`${what}: not 64 lowercase hex characters`);
  return s;
}

function b64(v: JsonValue | undefined, what: string, ok: (n: number) => boolean): Bytes {
  const b = fromBase64Strict(str(v, what));
  if (!b) throw invalid(`${what}: not canonical padded base64`);
  if (!ok(b.length)) throw invalid(`${what}: wrong length ${b.length}`);
  return b;
}

function jsonText(input: string | Uint8Array): string {
  if (typeof input === "string") {
    // A UTF-16 unit is at least one UTF-8 byte, so the cheap check goes first.
    if (input.length > MAX_ENVELOPE_BYTES) throw invalid("larger than MAX_ENVELOPE_BYTES");
    if (!isWellFormed(input)) throw invalid("not valid Unicode");
    if (utf8(input).length > MAX_ENVELOPE_BYTES) throw invalid("larger than MAX_ENVELOPE_BYTES");
    return input;
  }
  if (!(input instanceof Uint8Array)) throw invalid("envelope must be JSON text or its UTF-8 bytes");
  if (input.length > MAX_ENVELOPE_BYTES) throw invalid("larger than MAX_ENVELOPE_BYTES");
  try {
    return fromUtf8(input); // a BOM survives as U+FEFF, which the JSON parser rejects
  } catch {
    throw invalid("not valid UTF-8");
  }
}

/** Parse envelope JSON and check every rule of the spec's table; throws EnvelopeError("invalid_envelope"). */
export function parseEnvelope(json: string | Uint8Array): ParsedEnvelope {
  let root: JsonValue;
  try {
    root = parseStrictJson(jsonText(json));
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw invalid(`JSON: ${e.message}`);
    throw e;
  }
  const o = object(
    root,
    "envelope",
    ["version", "keyAlg", "contentAlg", "senderId", "messageId", "createdAt", "recipients", "nonce", "ciphertext"],
    ["signature"],
  );

  // version: the integer 1 or 2, written as such (not 1.0, 1e0, "1", 257 …)
  const v = o.get("version");
  if (!(v instanceof JsonNumber) || (v.text !== "1" && v.text !== "2")) throw invalid("version: must be 1 or 2");
  const version = Number(v.text) as EnvelopeVersion;

  exact(o.get("keyAlg"), KEY_ALG, "keyAlg");
  exact(o.get("contentAlg"), CONTENT_ALG, "contentAlg");
  const senderId = id(o.get("senderId"), "senderId");
  const messageId = id(o.get("messageId"), "messageId");

  const t = o.get("createdAt");
  const createdAt = t instanceof JsonNumber ? t.asSafeNonNegativeInteger() : null;
  if (createdAt === null) throw invalid("createdAt: integer 0..2^53-1 required");

  const rs = o.get("recipients");
  if (!Array.isArray(rs)) throw invalid("recipients: not an array");
  if (rs.length < 1 || rs.length > MAX_RECIPIENTS) throw invalid(`recipients: 1..${MAX_RECIPIENTS} required`);
  const seen = new Set<string>();
  const recipients = rs.map((r, i) => {
    const what = `recipients[${i}]`;
    const e = object(r, what, ["userId", "keyId", "wrappedKey"]);
    const userId = id(e.get("userId"), `${what}.userId`);
    const keyId = keyIdField(e.get("keyId"), `${what}.keyId`);
    if (seen.has(keyId)) throw invalid(`${what}.keyId: duplicate`);
    seen.add(keyId);
    const wrappedKey = b64(e.get("wrappedKey"), `${what}.wrappedKey`, (n) => RSA_BYTES.includes(n));
    return { userId, keyId, wrappedKey };
  });

  const nonce = b64(o.get("nonce"), "nonce", (n) => n === NONCE_BYTES);
  const ciphertext = b64(o.get("ciphertext"), "ciphertext", (n) => n >= TAG_BYTES && n <= MAX_PLAINTEXT_BYTES + TAG_BYTES);

  const env: ParsedEnvelope = {
    version,
    keyAlg: KEY_ALG,
    contentAlg: CONTENT_ALG,
    senderId,
    messageId,
    createdAt,
    recipients,
    nonce,
    ciphertext,
  };
  if (o.has("signature")) {
    const s = object(o.get("signature"), "signature", ["alg", "keyId", "value"]);
    exact(s.get("alg"), SIG_ALG, "signature.alg");
    env.signature = {
      alg: SIG_ALG,
      keyId: keyIdField(s.get("keyId"), "signature.keyId"),
      value: b64(s.get("value"), "signature.value", (n) => RSA_BYTES.includes(n)),
    };
  }
  return env;
}

// ---------------------------------------------------------------------------------------------------------------
// Authenticated bytes
// ---------------------------------------------------------------------------------------------------------------

/** The canonical header bytes, identical in v1 and v2. */
function headerBytes(h: EnvelopeHeader): Bytes {
  const parts = [field(h.keyAlg), field(h.contentAlg), field(h.senderId), field(h.messageId), u64(h.createdAt), u32(h.recipients.length)];
  for (const r of h.recipients) parts.push(field(r.userId), field(r.keyId));
  return concat(parts);
}

/**
 * The AES-GCM additional data for `header.version`. For v2 the signer's key id is bound too: by default the
 * `keyId` of `header.signature` (whether or not anyone verifies it), or empty when there is none; `signerKeyId`
 * overrides that (null = unsigned). v1 ignores it.
 */
export function aad(header: EnvelopeHeader, signerKeyId: string | null = header.signature?.keyId ?? null): Bytes {
  const v = header.version;
  if (v !== 1 && v !== 2) throw new InputError("invalid_input", "version must be 1 or 2");
  const parts = [field(AAD_DOMAIN[v]), headerBytes(header)];
  if (v === 2) parts.push(field(signerKeyId ?? ""));
  return concat(parts);
}

/** The bytes an RSA-PSS signature covers, for `version`. `aadBytes` is the AAD the ciphertext was sealed with. */
export function sigInput(
  version: EnvelopeVersion,
  aadBytes: Uint8Array,
  signatureKeyId: string,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  wrappedKeys: readonly Uint8Array[],
): Bytes {
  if (version !== 1 && version !== 2) throw new InputError("invalid_input", "version must be 1 or 2");
  return concat([
    field(SIG_DOMAIN[version]),
    field(aadBytes),
    field(signatureKeyId),
    field(nonce),
    field(ciphertext),
    ...wrappedKeys.map((w) => field(w)),
  ]);
}

// ---------------------------------------------------------------------------------------------------------------
// Seal
// ---------------------------------------------------------------------------------------------------------------

/** Anything that can sign: a KeyPair from importPrivateKeyPem fits. */
export interface Signer {
  readonly keyId: string;
  /** RSA-PSS / SHA-256 private key with usage "sign". */
  readonly signKey: CryptoKey;
}

export interface SealOptions {
  senderId: string;
  messageId: string;
  createdAt: number;
  /** In order; for a 1:1 message the receiver first, then the sender's own key (docs/envelope.md). */
  recipients: readonly { userId: string; publicKey: PublicKeyInfo }[];
  plaintext: Uint8Array;
  signer?: Signer | undefined;
  /** 2 unless you are producing test vectors; v1 lets a signature be stripped unnoticed. */
  version?: EnvelopeVersion | undefined;
}

export interface Sealed {
  envelope: Envelope;
  json: string;
}

const badInput = (detail: string): InputError => new InputError("invalid_input", detail);

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw badInput("WebCrypto (crypto.subtle) is not available; a secure context is required");
  return s;
}

export async function seal(opts: SealOptions): Promise<Sealed> {
  const version = opts.version ?? ENVELOPE_VERSION;
  if (version !== 1 && version !== 2) throw badInput("version must be 1 or 2");
  if (!(opts.plaintext instanceof Uint8Array)) throw badInput("plaintext must be a Uint8Array");
  if (opts.plaintext.length > MAX_PLAINTEXT_BYTES) throw badInput(`plaintext larger than ${MAX_PLAINTEXT_BYTES} bytes`);
  for (const [v, what] of [[opts.senderId, "senderId"], [opts.messageId, "messageId"]] as const) {
    const problem = checkId(v);
    if (problem) throw badInput(`${what}: ${problem}`);
  }
  if (!Number.isSafeInteger(opts.createdAt) || opts.createdAt < 0) throw badInput("createdAt: integer 0..2^53-1 required");
  const rs = opts.recipients;
  if (!Array.isArray(rs) || rs.length < 1 || rs.length > MAX_RECIPIENTS) throw badInput(`recipients: 1..${MAX_RECIPIENTS} required`);
  const seen = new Set<string>();
  rs.forEach((r, i) => {
    const problem = checkId(r.userId);
    if (problem) throw badInput(`recipients[${i}].userId: ${problem}`);
    const k = r.publicKey;
    if (!k || !isKeyId(k.keyId) || !isRsaKeyFor(k.encryptKey, "RSA-OAEP", "encrypt")) {
      throw new InputError("invalid_key", `recipients[${i}]: not a PublicKeyInfo from importPublicKeyPem`);
    }
    if (seen.has(k.keyId)) throw badInput(`recipients[${i}]: duplicate key`);
    seen.add(k.keyId);
  });
  const signer = opts.signer;
  if (signer && (!isKeyId(signer.keyId) || !isRsaKeyFor(signer.signKey, "RSA-PSS", "sign"))) {
    throw new InputError("invalid_key", "signer: needs keyId and an RSA-PSS SHA-256 signing key");
  }

  const s = subtle();
  // 1. fresh content key and nonce from the CSPRNG
  const K = crypto.getRandomValues(new Uint8Array(CONTENT_KEY_BYTES));
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  try {
    // 2. header and AAD; v2 names the signer here, so the decision to sign is made before encrypting
    const header: EnvelopeHeader = {
      version,
      keyAlg: KEY_ALG,
      contentAlg: CONTENT_ALG,
      senderId: opts.senderId,
      messageId: opts.messageId,
      createdAt: opts.createdAt,
      recipients: rs.map((r) => ({ userId: r.userId, keyId: r.publicKey.keyId })),
    };
    const aadBytes = aad(header, signer ? signer.keyId : null);

    // 3. encrypt (WebCrypto appends the 16-byte tag)
    const aesKey = await s.importKey("raw", K, { name: "AES-GCM" }, false, ["encrypt"]);
    const ciphertext = new Uint8Array(
      await s.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aadBytes, tagLength: 128 }, aesKey, asBytes(opts.plaintext)),
    );

    // 4. wrap K for every recipient key
    const wrapped = await Promise.all(
      rs.map(async (r) => new Uint8Array(await s.encrypt({ name: "RSA-OAEP" }, r.publicKey.encryptKey, K))),
    );

    const envelope: Envelope = {
      version,
      keyAlg: KEY_ALG,
      contentAlg: CONTENT_ALG,
      senderId: opts.senderId,
      messageId: opts.messageId,
      createdAt: opts.createdAt,
      recipients: rs.map((r, i) => ({ userId: r.userId, keyId: r.publicKey.keyId, wrappedKey: toBase64(wrapped[i]!) })),
      nonce: toBase64(nonce),
      ciphertext: toBase64(ciphertext),
    };

    // 5. sign
    if (signer) {
      const input = sigInput(version, aadBytes, signer.keyId, nonce, ciphertext, wrapped);
      const value = new Uint8Array(await s.sign({ name: "RSA-PSS", saltLength: PSS_SALT_BYTES }, signer.signKey, input));
      envelope.signature = { alg: SIG_ALG, keyId: signer.keyId, value: toBase64(value) };
    }
    return { envelope, json: JSON.stringify(envelope) };
  } finally {
    K.fill(0); // our copy; WebCrypto's copy inside the non-extractable AES key goes with the key object
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Open
// ---------------------------------------------------------------------------------------------------------------

export interface OpenOptions {
  /** The reader's RSA-OAEP / SHA-256 private key (usage "decrypt"), e.g. KeyPair.decryptKey. */
  readerPrivateKey: CryptoKey;
  /** The key id of the reader's public key (KeyPair.keyId). */
  readerKeyId: string;
  /** The sender's public key, when known: then the envelope must carry its valid signature. */
  senderPublicKey?: PublicKeyInfo | undefined;
}

export interface Opened {
  plaintext: Uint8Array;
  version: EnvelopeVersion;
  keyAlg: typeof KEY_ALG;
  contentAlg: typeof CONTENT_ALG;
  senderId: string;
  messageId: string;
  createdAt: number;
  recipients: { userId: string; keyId: string }[];
  /** Present when the envelope is signed, whether or not the signature was verified. */
  signerKeyId?: string;
  /** True only when a sender key was given and the signature verified with it. */
  signatureVerified: boolean;
}

/** Open an envelope following the spec's Open steps; throws EnvelopeError with one of its four codes. */
export async function open(json: string | Uint8Array, opts: OpenOptions): Promise<Opened> {
  const { readerPrivateKey, readerKeyId, senderPublicKey } = opts;
  if (!isRsaKeyFor(readerPrivateKey, "RSA-OAEP", "decrypt") || readerPrivateKey.type !== "private") {
    throw new InputError("invalid_key", "readerPrivateKey: needs an RSA-OAEP SHA-256 private key with usage decrypt");
  }
  if (!isKeyId(readerKeyId)) throw badInput("readerKeyId: 64 lowercase hex required");
  if (senderPublicKey !== undefined && (!isKeyId(senderPublicKey.keyId) || !isRsaKeyFor(senderPublicKey.verifyKey, "RSA-PSS", "verify"))) {
    throw new InputError("invalid_key", "senderPublicKey: not a PublicKeyInfo from importPublicKeyPem");
  }
  const s = subtle();

  // 1. validate; the AAD of its version, with the signer named in the envelope (v2) as received
  const env = parseEnvelope(json);
  const aadBytes = aad(env);

  // 2. our entry
  const entry = env.recipients.find((r) => r.keyId === readerKeyId);
  if (!entry) throw new EnvelopeError("not_recipient");

  // 3. verify before decrypting, so a forged envelope costs no private-key operation
  if (senderPublicKey) {
    const sig = env.signature;
    if (!sig) throw new EnvelopeError("bad_signature", "not signed");
    if (sig.keyId !== senderPublicKey.keyId) throw new EnvelopeError("bad_signature", "signed by another key");
    if (sig.value.length !== modulusBytes(senderPublicKey.verifyKey)) throw new EnvelopeError("bad_signature", "length");
    const input = sigInput(env.version, aadBytes, sig.keyId, env.nonce, env.ciphertext, env.recipients.map((r) => r.wrappedKey));
    let ok = false;
    try {
      // saltLength 32: WebCrypto then rejects signatures made with any other salt length.
      ok = await s.verify({ name: "RSA-PSS", saltLength: PSS_SALT_BYTES }, senderPublicKey.verifyKey, sig.value, input);
    } catch {
      ok = false;
    }
    if (!ok) throw new EnvelopeError("bad_signature");
  }

  // 4–6. unwrap and decrypt; every failure is the same "cannot_decrypt"
  if (entry.wrappedKey.length !== modulusBytes(readerPrivateKey)) throw new EnvelopeError("cannot_decrypt");
  let K: Bytes | null = null;
  let plaintext: Uint8Array;
  try {
    K = new Uint8Array(await s.decrypt({ name: "RSA-OAEP" }, readerPrivateKey, entry.wrappedKey));
    if (K.length !== CONTENT_KEY_BYTES) throw new Error("content key length");
    const aesKey = await s.importKey("raw", K, { name: "AES-GCM" }, false, ["decrypt"]);
    plaintext = new Uint8Array(
      await s.decrypt({ name: "AES-GCM", iv: env.nonce, additionalData: aadBytes, tagLength: 128 }, aesKey, env.ciphertext),
    );
  } catch {
    throw new EnvelopeError("cannot_decrypt");
  } finally {
    K?.fill(0);
  }

  // 7. the header is now authenticated
  const out: Opened = {
    plaintext,
    version: env.version,
    keyAlg: env.keyAlg,
    contentAlg: env.contentAlg,
    senderId: env.senderId,
    messageId: env.messageId,
    createdAt: env.createdAt,
    recipients: env.recipients.map((r) => ({ userId: r.userId, keyId: r.keyId })),
    signatureVerified: senderPublicKey !== undefined,
  };
  if (env.signature) out.signerKeyId = env.signature.keyId;
  return out;
}
