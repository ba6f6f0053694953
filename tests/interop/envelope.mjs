#!/usr/bin/env node
// Independent Node.js implementation of envelopes v1 and v2 (docs/envelope.md). `seal` writes v2 (v1 on request,
// for fixtures); `open` reads both.
//
// Written from the specification only, to be checked against the Rust reference implementation.
// No dependencies: only node:crypto, node:fs, node:url.
//
// Library:  keyId, fingerprint, aad, sigInput, seal, open, chatId, parseEnvelope, loadPublicKey,
//           loadPrivateKey, encryptPrivateKeyScrypt, EnvelopeError
// CLI:      seal | open | keygen | generate | check   (see usage() below and tests/interop/README.md)

import crypto from 'node:crypto';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------------------------

/** The version `seal` writes by default, and every version `open` accepts. */
export const VERSION = 2;
export const VERSIONS = [1, 2];
export const KEY_ALG = 'RSA-OAEP-256';
export const CONTENT_ALG = 'A256GCM';
export const SIG_ALG = 'PS256';
export const MAX_PLAINTEXT_BYTES = 1048576;
export const MAX_ENVELOPE_BYTES = 1572864;
export const MAX_RECIPIENTS = 16;
export const MAX_ID_BYTES = 128;
export const RSA_BITS = [2048, 3072, 4096];
export const RSA_BYTES = [256, 384, 512];
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const CONTENT_KEY_BYTES = 32;
export const PSS_SALT_BYTES = 32;
/** Domain strings, by version: the first field of the AAD and of the signature input. */
export const AAD_DOMAINS = { 1: 'e2ee.envelope.v1', 2: 'e2ee.envelope.v2' };
export const SIG_DOMAINS = { 1: 'e2ee.signature.v1', 2: 'e2ee.signature.v2' };
export const CHAT_ID_PREFIX = 'c_';
// At-rest private key encryption (spec: PBES2, scrypt N=2^15 r=8 p=1 + AES-256-CBC).
export const SCRYPT_N = 1 << 15;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;

export const ERROR_CODES = ['invalid_envelope', 'not_recipient', 'bad_signature', 'cannot_decrypt'];

/** Error with a machine-readable `.code`.
 *  Envelope errors use one of ERROR_CODES. Problems with caller-supplied keys use `invalid_key`,
 *  other bad arguments to seal/chatId use `invalid_input` (these are not envelope outcomes). */
export class EnvelopeError extends Error {
  constructor(code, detail) {
    super(detail ? `${code}: ${detail}` : code);
    this.name = 'EnvelopeError';
    this.code = code;
    this.detail = detail || '';
  }
}

const invalid = (detail) => new EnvelopeError('invalid_envelope', detail);
const badInput = (detail) => new EnvelopeError('invalid_input', detail);
const badKey = (detail) => new EnvelopeError('invalid_key', detail);

// ---------------------------------------------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------------------------------------------

function u32(n) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n) {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** field(b) = u32(len(b)) || b ; strings are their UTF-8 bytes. */
function field(b) {
  const bytes = typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
  return Buffer.concat([u32(bytes.length), bytes]);
}

const sha256 = (b) => crypto.createHash('sha256').update(b).digest();

const B64_CHARS = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict RFC 4648 §4 base64: standard alphabet, `=` padding, no whitespace, canonical (zero trailing bits). */
export function decodeBase64Strict(s, what) {
  if (typeof s !== 'string') throw invalid(`${what}: not a string`);
  if (s.length % 4 !== 0 || !B64_CHARS.test(s)) throw invalid(`${what}: not canonical base64`);
  const b = Buffer.from(s, 'base64');
  // Buffer.from is lenient (ignores trailing bits, stray characters...): re-encode and compare.
  if (b.toString('base64') !== s) throw invalid(`${what}: not canonical base64`);
  return b;
}

const b64 = (b) => Buffer.from(b).toString('base64');

/** The user-id rule: 1–128 bytes of UTF-8, no U+0000–U+001F, no U+007F. */
function userIdProblem(v) {
  if (typeof v !== 'string') return 'not a string';
  if (!v.isWellFormed()) return 'not valid Unicode (lone surrogate)';
  const n = Buffer.byteLength(v, 'utf8');
  if (n < 1 || n > MAX_ID_BYTES) return `length ${n} bytes, expected 1..${MAX_ID_BYTES}`;
  if (/[\u0000-\u001f\u007f]/.test(v)) return 'contains a control character';
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------------------------

function toKeyObjectLenient(publicKey) {
  if (publicKey instanceof crypto.KeyObject) {
    return publicKey.type === 'private' ? crypto.createPublicKey(publicKey) : publicKey;
  }
  return crypto.createPublicKey(publicKey);
}

function spkiDer(publicKey) {
  return toKeyObjectLenient(publicKey).export({ type: 'spki', format: 'der' });
}

/** Key id: lowercase hex SHA-256 of the SPKI DER encoding of the public key (64 chars). */
export function keyId(publicKey) {
  return sha256(spkiDer(publicKey)).toString('hex');
}

/** Human fingerprint: first 32 hex digits of the key id, upper case, 8 groups of 4. */
export function fingerprint(publicKey) {
  const kid = /^[0-9a-f]{64}$/.test(publicKey) ? publicKey : keyId(publicKey);
  return kid.slice(0, 32).toUpperCase().match(/.{4}/g).join(' ');
}

function pemLabel(pem) {
  const m = /^\s*-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem);
  return m ? m[1] : null;
}

function checkRsa(key, what) {
  if (key.asymmetricKeyType !== 'rsa') throw badKey(`${what}: not an rsaEncryption key (${key.asymmetricKeyType})`);
  const d = key.asymmetricKeyDetails;
  if (!RSA_BITS.includes(d.modulusLength)) throw badKey(`${what}: ${d.modulusLength}-bit modulus (want 2048/3072/4096)`);
  if (d.publicExponent !== 65537n) throw badKey(`${what}: public exponent ${d.publicExponent} (want 65537)`);
  return key;
}

/** Import an SPKI PEM public key (or a public KeyObject) and enforce the key rules. */
export function loadPublicKey(pem, what = 'public key') {
  if (pem instanceof crypto.KeyObject) {
    if (pem.type !== 'public') throw badKey(`${what}: not a public key`);
    return checkRsa(pem, what);
  }
  const text = Buffer.isBuffer(pem) ? pem.toString('utf8') : pem;
  if (typeof text !== 'string' || pemLabel(text) !== 'PUBLIC KEY') throw badKey(`${what}: expected an SPKI PEM (BEGIN PUBLIC KEY)`);
  let key;
  try {
    key = crypto.createPublicKey({ key: text, format: 'pem' });
  } catch (e) {
    throw badKey(`${what}: ${e.message}`);
  }
  return checkRsa(key, what);
}

/** Import a PKCS#8 PEM private key, plain or encrypted (PBES2; scrypt is decoded here because OpenSSL 3.0's
 *  default scrypt memory limit of 32 MiB rejects the spec's N=2^15 r=8 p=1), and enforce the key rules. */
export function loadPrivateKey(pem, passphrase, what = 'private key') {
  if (pem instanceof crypto.KeyObject) {
    if (pem.type !== 'private') throw badKey(`${what}: not a private key`);
    return checkRsa(pem, what);
  }
  const text = Buffer.isBuffer(pem) ? pem.toString('utf8') : pem;
  const label = typeof text === 'string' ? pemLabel(text) : null;
  let key;
  if (label === 'PRIVATE KEY') {
    try {
      key = crypto.createPrivateKey({ key: text, format: 'pem' });
    } catch (e) {
      throw badKey(`${what}: ${e.message}`);
    }
  } else if (label === 'ENCRYPTED PRIVATE KEY') {
    if (passphrase == null) throw badKey(`${what}: encrypted, but no passphrase given`);
    key = decryptPkcs8(text, passphrase, what);
  } else {
    throw badKey(`${what}: expected a PKCS#8 PEM (BEGIN PRIVATE KEY / BEGIN ENCRYPTED PRIVATE KEY)`);
  }
  return checkRsa(key, what);
}

// --- minimal DER, for PBES2 (EncryptedPrivateKeyInfo) --------------------------------------------------------

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  scrypt: '1.3.6.1.4.1.11591.4.11',
  hmacWithSHA256: '1.2.840.113549.2.9',
  aes256cbc: '2.16.840.1.101.3.4.1.42',
};

function derLen(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const der = (tag, content) => Buffer.concat([Buffer.from([tag]), derLen(content.length), content]);
const derSeq = (...items) => der(0x30, Buffer.concat(items));
const derOctets = (b) => der(0x04, b);
function derInt(n) {
  let hex = BigInt(n).toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let b = Buffer.from(hex, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return der(0x02, b);
}
function derOid(dotted) {
  const parts = dotted.split('.').map(Number);
  const out = [40 * parts[0] + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      chunk.unshift(0x80 | (v & 0x7f));
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  return der(0x06, Buffer.from(out));
}

/** Parse one DER TLV at `off`; returns {tag, start, end, next}. */
function derRead(buf, off) {
  if (off + 2 > buf.length) throw new Error('truncated DER');
  const tag = buf[off];
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > buf.length) throw new Error('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new Error('truncated DER');
  return { tag, start: p, end: p + len, next: p + len };
}
function derChildren(buf, tlv) {
  const out = [];
  let off = tlv.start;
  while (off < tlv.end) {
    const c = derRead(buf, off);
    out.push(c);
    off = c.next;
  }
  return out;
}
function derOidString(buf, tlv) {
  if (tlv.tag !== 0x06) throw new Error('expected OID');
  const b = buf.subarray(tlv.start, tlv.end);
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}
function derIntValue(buf, tlv) {
  if (tlv.tag !== 0x02) throw new Error('expected INTEGER');
  return BigInt('0x' + (buf.subarray(tlv.start, tlv.end).toString('hex') || '0'));
}

function pemBody(text, label) {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(text);
  if (!m) throw new Error(`no ${label} PEM block`);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}
function toPem(derBytes, label) {
  const lines = derBytes.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`;
}

/** Describe the PBES2 parameters of an encrypted PKCS#8 PEM: {kdf, prf?, iterations?, N?, r?, p?, cipher}. */
export function describeEncryptedPkcs8(pem) {
  const buf = pemBody(pem, 'ENCRYPTED PRIVATE KEY');
  const top = derRead(buf, 0);
  const [algId, data] = derChildren(buf, top);
  const [oid, params] = derChildren(buf, algId);
  if (derOidString(buf, oid) !== OID.pbes2) throw new Error('not PBES2');
  const [kdfAlg, encAlg] = derChildren(buf, params);
  const [kdfOid, kdfParams] = derChildren(buf, kdfAlg);
  const [encOid, ivTlv] = derChildren(buf, encAlg);
  const out = {
    kdfOid: derOidString(buf, kdfOid),
    cipherOid: derOidString(buf, encOid),
    iv: buf.subarray(ivTlv.start, ivTlv.end),
    encryptedData: buf.subarray(data.start, data.end),
  };
  const kp = derChildren(buf, kdfParams);
  out.salt = buf.subarray(kp[0].start, kp[0].end);
  if (out.kdfOid === OID.scrypt) {
    out.kdf = 'scrypt';
    out.N = derIntValue(buf, kp[1]);
    out.r = derIntValue(buf, kp[2]);
    out.p = derIntValue(buf, kp[3]);
    out.keyLength = kp[4] ? derIntValue(buf, kp[4]) : null;
  } else if (out.kdfOid === OID.pbkdf2) {
    out.kdf = 'pbkdf2';
    out.iterations = derIntValue(buf, kp[1]);
    const rest = kp.slice(2);
    const prf = rest.find((t) => t.tag === 0x30);
    out.prf = prf ? derOidString(buf, derChildren(buf, prf)[0]) : '1.2.840.113549.2.7'; // default hmacWithSHA1
    out.prf = out.prf === OID.hmacWithSHA256 ? 'hmacWithSHA256' : out.prf;
  } else {
    out.kdf = out.kdfOid;
  }
  out.cipher = out.cipherOid === OID.aes256cbc ? 'aes-256-cbc' : out.cipherOid;
  return out;
}

function decryptPkcs8(text, passphrase, what) {
  let d;
  try {
    d = describeEncryptedPkcs8(text);
  } catch (e) {
    throw badKey(`${what}: unreadable encrypted PKCS#8 (${e.message})`);
  }
  if (d.kdf !== 'scrypt') {
    // PBKDF2 (what Node/OpenSSL write by default): OpenSSL decrypts it natively.
    try {
      return crypto.createPrivateKey({ key: text, format: 'pem', passphrase });
    } catch (e) {
      throw badKey(`${what}: cannot decrypt (${e.message})`);
    }
  }
  if (d.cipher !== 'aes-256-cbc' || d.iv.length !== 16) throw badKey(`${what}: unsupported cipher ${d.cipher}`);
  if (d.keyLength !== null && d.keyLength !== 32n) throw badKey(`${what}: scrypt keyLength ${d.keyLength}`);
  const N = Number(d.N), r = Number(d.r), p = Number(d.p);
  // Bounds: refuse absurd parameters (cost/memory DoS). The spec's parameters are N=2^15, r=8, p=1.
  if (!(N > 1 && N <= 1 << 20 && (N & (N - 1)) === 0 && r >= 1 && r <= 32 && p >= 1 && p <= 16)) {
    throw badKey(`${what}: unsupported scrypt parameters N=${N} r=${r} p=${p}`);
  }
  try {
    const kek = crypto.scryptSync(Buffer.from(passphrase, 'utf8'), d.salt, 32, {
      N, r, p, maxmem: 256 * N * r + 1024 * 1024,
    });
    const decipher = crypto.createDecipheriv('aes-256-cbc', kek, d.iv);
    const plain = Buffer.concat([decipher.update(d.encryptedData), decipher.final()]);
    kek.fill(0);
    const key = crypto.createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
    plain.fill(0);
    return key;
  } catch (e) {
    throw badKey(`${what}: cannot decrypt (wrong passphrase?)`);
  }
}

/** Encrypt a private key as PKCS#8 PBES2 with scrypt (N=2^15, r=8, p=1 by default) and AES-256-CBC.
 *  Node's own API can only write PBKDF2, so the EncryptedPrivateKeyInfo is assembled here (RFC 8018 + RFC 7914 §7). */
export function encryptPrivateKeyScrypt(privateKey, passphrase, { N = SCRYPT_N, r = SCRYPT_R, p = SCRYPT_P } = {}) {
  const key = privateKey instanceof crypto.KeyObject ? privateKey : crypto.createPrivateKey(privateKey);
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  const salt = crypto.randomBytes(16);
  const iv = crypto.randomBytes(16);
  const kek = crypto.scryptSync(Buffer.from(passphrase, 'utf8'), salt, 32, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  const cipher = crypto.createCipheriv('aes-256-cbc', kek, iv);
  const enc = Buffer.concat([cipher.update(plain), cipher.final()]);
  kek.fill(0);
  plain.fill(0);
  const info = derSeq(
    derSeq(
      derOid(OID.pbes2),
      derSeq(
        derSeq(derOid(OID.scrypt), derSeq(derOctets(salt), derInt(N), derInt(r), derInt(p), derInt(32))),
        derSeq(derOid(OID.aes256cbc), derOctets(iv)),
      ),
    ),
    derOctets(enc),
  );
  return toPem(info, 'ENCRYPTED PRIVATE KEY');
}

// ---------------------------------------------------------------------------------------------------------------
// Strict JSON
// ---------------------------------------------------------------------------------------------------------------
// JSON.parse is not strict enough: it silently keeps the last of duplicate keys, turns 1.0 / 1e3 / -0 into
// integers, loses precision above 2^53, accepts lone surrogate escapes, and lets "__proto__" through. This parser
// keeps numbers as their source text (JsonNumber) and rejects duplicate keys and lone surrogates.

export class JsonNumber {
  constructor(raw) {
    this.raw = raw;
  }
}

const NUMBER_RE = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4_RE = /^[0-9a-fA-F]{4}$/;

export function parseStrictJson(text) {
  let i = 0;
  const n = text.length;
  const fail = (m) => {
    throw invalid(`JSON: ${m} at offset ${i}`);
  };
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const str = () => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        break;
      }
      if (c < 0x20) fail('unescaped control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        const e = text[i + 1];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const h = text.slice(i + 2, i + 6);
            if (!HEX4_RE.test(h)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(h, 16));
            i += 4;
            break;
          }
          default:
            fail('bad escape');
        }
        i += 2;
        start = i;
        continue;
      }
      i++;
    }
    if (!out.isWellFormed()) fail('lone surrogate in string');
    return out;
  };
  const value = (depth) => {
    if (depth > 32) fail('nesting too deep');
    ws();
    if (i >= n) fail('unexpected end of input');
    const c = text[i];
    // Opens a container: true when it is empty (and already closed).
    const empty = (close) => {
      i++;
      ws();
      if (text[i] !== close) return false;
      i++;
      return true;
    };
    // After an item: ',' means another one follows, `close` ends the container.
    const more = (close) => {
      ws();
      if (text[i] === ',') {
        i++;
        return true;
      }
      if (text[i] === close) {
        i++;
        return false;
      }
      fail(`expected ',' or '${close}'`);
    };
    if (c === '{') {
      const obj = Object.create(null);
      if (empty('}')) return obj;
      do {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const k = str();
        if (Object.prototype.hasOwnProperty.call(obj, k)) fail(`duplicate key ${JSON.stringify(k)}`);
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        Object.defineProperty(obj, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
      } while (more('}'));
      return obj;
    }
    if (c === '[') {
      const arr = [];
      if (empty(']')) return arr;
      do {
        arr.push(value(depth + 1));
      } while (more(']'));
      return arr;
    }
    if (c === '"') return str();
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER_RE.lastIndex = i;
      const m = NUMBER_RE.exec(text);
      if (!m) fail('bad number');
      i += m[0].length;
      return new JsonNumber(m[0]);
    }
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    fail('unexpected character');
  };
  const v = value(0);
  ws();
  if (i !== n) fail('trailing data after the JSON value');
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Envelope structure
// ---------------------------------------------------------------------------------------------------------------

const TOP_REQUIRED = ['version', 'keyAlg', 'contentAlg', 'senderId', 'messageId', 'createdAt', 'recipients', 'nonce', 'ciphertext'];
const TOP_OPTIONAL = ['signature'];
const RECIPIENT_FIELDS = ['userId', 'keyId', 'wrappedKey'];
const SIGNATURE_FIELDS = ['alg', 'keyId', 'value'];
const KEY_ID_RE = /^[0-9a-f]{64}$/;
const MAX_CREATED_AT = 2n ** 53n - 1n;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonNumber);
const has = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

function checkFields(obj, required, optional, what) {
  for (const k of Object.keys(obj)) {
    if (!required.includes(k) && !optional.includes(k)) throw invalid(`${what}: unknown field ${JSON.stringify(k)}`);
    if (obj[k] === null) throw invalid(`${what}.${k}: null`);
  }
  for (const k of required) if (!has(obj, k)) throw invalid(`${what}: missing field ${k}`);
}

/** A JSON integer written as a plain non-negative integer literal (no sign, fraction or exponent). */
function uintField(v, what) {
  if (!(v instanceof JsonNumber)) throw invalid(`${what}: not a number`);
  if (!/^(?:0|[1-9][0-9]{0,19})$/.test(v.raw)) throw invalid(`${what}: not a non-negative integer (${v.raw})`);
  return BigInt(v.raw);
}

function idField(v, what) {
  const p = userIdProblem(v);
  if (p) throw invalid(`${what}: ${p}`);
  return v;
}

function stringEquals(v, expected, what) {
  if (typeof v !== 'string') throw invalid(`${what}: not a string`);
  if (v !== expected) throw invalid(`${what}: must be ${JSON.stringify(expected)}`);
  return v;
}

function keyIdField(v, what) {
  if (typeof v !== 'string' || !KEY_ID_RE.test(v)) throw invalid(`${what}: not 64 lowercase hex characters`);
  return v;
}

/** Validate a parsed JSON tree (from parseStrictJson) against every rule of the spec's table.
 *  Returns the envelope with binary fields decoded. */
function validateTree(root) {
  if (!isObject(root)) throw invalid('envelope: not a JSON object');
  checkFields(root, TOP_REQUIRED, TOP_OPTIONAL, 'envelope');
  const version = uintField(root.version, 'version');
  if (!VERSIONS.some((v) => BigInt(v) === version)) throw invalid(`version: must be ${VERSIONS.join(' or ')} (got ${version})`);
  stringEquals(root.keyAlg, KEY_ALG, 'keyAlg');
  stringEquals(root.contentAlg, CONTENT_ALG, 'contentAlg');
  idField(root.senderId, 'senderId');
  idField(root.messageId, 'messageId');
  const createdAt = uintField(root.createdAt, 'createdAt');
  if (createdAt > MAX_CREATED_AT) throw invalid('createdAt: greater than 2^53 - 1');
  if (!Array.isArray(root.recipients)) throw invalid('recipients: not an array');
  if (root.recipients.length < 1 || root.recipients.length > MAX_RECIPIENTS) {
    throw invalid(`recipients: ${root.recipients.length} entries, expected 1..${MAX_RECIPIENTS}`);
  }
  const seen = new Set();
  const recipients = root.recipients.map((r, idx) => {
    const what = `recipients[${idx}]`;
    if (!isObject(r)) throw invalid(`${what}: not an object`);
    checkFields(r, RECIPIENT_FIELDS, [], what);
    idField(r.userId, `${what}.userId`);
    keyIdField(r.keyId, `${what}.keyId`);
    if (seen.has(r.keyId)) throw invalid(`${what}.keyId: duplicate`);
    seen.add(r.keyId);
    const wrappedKey = decodeBase64Strict(r.wrappedKey, `${what}.wrappedKey`);
    if (!RSA_BYTES.includes(wrappedKey.length)) throw invalid(`${what}.wrappedKey: ${wrappedKey.length} bytes`);
    return { userId: r.userId, keyId: r.keyId, wrappedKey };
  });
  const nonce = decodeBase64Strict(root.nonce, 'nonce');
  if (nonce.length !== NONCE_BYTES) throw invalid(`nonce: ${nonce.length} bytes`);
  const ciphertext = decodeBase64Strict(root.ciphertext, 'ciphertext');
  if (ciphertext.length < TAG_BYTES || ciphertext.length > MAX_PLAINTEXT_BYTES + TAG_BYTES) {
    throw invalid(`ciphertext: ${ciphertext.length} bytes`);
  }
  let signature = null;
  if (has(root, 'signature')) {
    const s = root.signature;
    if (!isObject(s)) throw invalid('signature: not an object');
    checkFields(s, SIGNATURE_FIELDS, [], 'signature');
    stringEquals(s.alg, SIG_ALG, 'signature.alg');
    keyIdField(s.keyId, 'signature.keyId');
    const value = decodeBase64Strict(s.value, 'signature.value');
    if (!RSA_BYTES.includes(value.length)) throw invalid(`signature.value: ${value.length} bytes`);
    signature = { alg: s.alg, keyId: s.keyId, value };
  }
  return {
    version: Number(version),
    keyAlg: root.keyAlg,
    contentAlg: root.contentAlg,
    senderId: root.senderId,
    messageId: root.messageId,
    createdAt: Number(createdAt),
    recipients,
    nonce,
    ciphertext,
    signature,
  };
}

/** Parse and validate an envelope given as JSON text (string / Buffer / Uint8Array) or as an object.
 *  Objects are serialized with JSON.stringify and go through the same strict path. */
export function parseEnvelope(envelope) {
  let text;
  if (typeof envelope === 'string') {
    text = envelope;
    if (Buffer.byteLength(text, 'utf8') > MAX_ENVELOPE_BYTES) throw invalid('envelope larger than MAX_ENVELOPE_BYTES');
  } else if (envelope instanceof Uint8Array) {
    if (envelope.length > MAX_ENVELOPE_BYTES) throw invalid('envelope larger than MAX_ENVELOPE_BYTES');
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(envelope);
    } catch {
      throw invalid('envelope is not valid UTF-8');
    }
  } else if (isObject(envelope)) {
    try {
      text = JSON.stringify(envelope);
    } catch (e) {
      throw invalid(`envelope object cannot be serialized (${e.message})`);
    }
    if (Buffer.byteLength(text, 'utf8') > MAX_ENVELOPE_BYTES) throw invalid('envelope larger than MAX_ENVELOPE_BYTES');
  } else {
    throw invalid('envelope must be JSON text or an object');
  }
  return validateTree(parseStrictJson(text));
}

// ---------------------------------------------------------------------------------------------------------------
// AAD and signature input
// ---------------------------------------------------------------------------------------------------------------

function checkVersion(version, what) {
  if (!VERSIONS.includes(version)) throw badInput(`${what}: version must be ${VERSIONS.join(' or ')} (got ${version})`);
  return version;
}

/** Canonical header bytes (AES-GCM additional data) of envelope version `header.version` (default VERSION).
 *  `header` needs senderId, messageId, createdAt and recipients[{userId, keyId}]; keyAlg/contentAlg default to
 *  the constants. An envelope object (parsed or plain JSON) works too.
 *    v1: field("e2ee.envelope.v1") || H
 *    v2: field("e2ee.envelope.v2") || H || field(signerKeyId)      signerKeyId = "" when unsigned
 *  with H = field(keyAlg) || field(contentAlg) || field(senderId) || field(messageId) || u64(createdAt)
 *           || u32(#recipients) || for each: field(userId) || field(keyId).
 *  `signerKeyId` (v2 only) defaults to header.signature.keyId if the header has a signature, else unsigned;
 *  pass null for unsigned explicitly. */
export function aad(header, signerKeyId = header.signature ? header.signature.keyId : null) {
  const version = checkVersion(header.version ?? VERSION, 'aad');
  const parts = [
    field(AAD_DOMAINS[version]),
    field(header.keyAlg ?? KEY_ALG),
    field(header.contentAlg ?? CONTENT_ALG),
    field(header.senderId),
    field(header.messageId),
    u64(header.createdAt),
    u32(header.recipients.length),
  ];
  for (const r of header.recipients) parts.push(field(r.userId), field(r.keyId));
  if (version === 2) parts.push(field(signerKeyId ?? ''));
  return Buffer.concat(parts);
}

/** sigInput = field(SIG_DOMAINS[version]) || field(aad) || field(signature.keyId) || field(nonce)
 *            || field(ciphertext) || for each recipient: field(wrappedKey). Binary arguments are bytes.
 *  For v2, `aadBytes` must be the v2 AAD computed with signerKeyId = signatureKeyId (what the spec says);
 *  it is taken as given so the fixture generator can build wrong inputs. */
export function sigInput(aadBytes, signatureKeyId, nonce, ciphertext, wrappedKeys, version = VERSION) {
  checkVersion(version, 'sigInput');
  return Buffer.concat([
    field(SIG_DOMAINS[version]),
    field(aadBytes),
    field(signatureKeyId),
    field(nonce),
    field(ciphertext),
    ...wrappedKeys.map((w) => field(w)),
  ]);
}

function pssSign(privateKey, data) {
  return crypto.sign('sha256', data, {
    key: privateKey,
    padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
    saltLength: PSS_SALT_BYTES,
  });
}

function pssVerify(publicKey, data, signature) {
  try {
    return crypto.verify(
      'sha256',
      data,
      { key: publicKey, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_BYTES },
      signature,
    );
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Seal / open
// ---------------------------------------------------------------------------------------------------------------

function toBytes(b, what) {
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  throw badInput(`${what}: expected bytes`);
}

/** Internal seal. `_contentKey` / `_nonce` exist only so the fixture generator can build edge cases. */
function sealInternal({ plaintext, senderId, messageId, createdAt, recipients, signWith, signPassphrase, version = VERSION, _contentKey, _nonce }) {
  checkVersion(version, 'seal');
  const pt = toBytes(plaintext, 'plaintext');
  if (pt.length > MAX_PLAINTEXT_BYTES) throw badInput(`plaintext is ${pt.length} bytes, limit ${MAX_PLAINTEXT_BYTES}`);
  for (const [v, what] of [[senderId, 'senderId'], [messageId, 'messageId']]) {
    const p = userIdProblem(v);
    if (p) throw badInput(`${what}: ${p}`);
  }
  if (!Number.isSafeInteger(createdAt) || createdAt < 0) throw badInput('createdAt: integer 0 .. 2^53-1 required');
  if (!Array.isArray(recipients) || recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw badInput(`recipients: 1..${MAX_RECIPIENTS} required`);
  }
  const seen = new Set();
  const recips = recipients.map((r, i) => {
    const p = userIdProblem(r.userId);
    if (p) throw badInput(`recipients[${i}].userId: ${p}`);
    const pub = loadPublicKey(r.publicKeyPem ?? r.publicKey, `recipients[${i}] public key`);
    const kid = keyId(pub);
    if (seen.has(kid)) throw badInput(`recipients[${i}]: duplicate key id`);
    seen.add(kid);
    return { userId: r.userId, keyId: kid, pub };
  });
  const signer = signWith != null ? loadPrivateKey(signWith, signPassphrase, 'signing key') : null;
  // v2 binds the signer into the AAD, so its key id is needed before encrypting.
  const sigKid = signer ? keyId(signer) : null;

  const K = _contentKey ?? crypto.randomBytes(CONTENT_KEY_BYTES);
  const N = _nonce ?? crypto.randomBytes(NONCE_BYTES);
  try {
    const header = { version, keyAlg: KEY_ALG, contentAlg: CONTENT_ALG, senderId, messageId, createdAt, recipients: recips };
    const aadBytes = aad(header, sigKid);
    const cipher = crypto.createCipheriv('aes-256-gcm', K, N, { authTagLength: TAG_BYTES });
    cipher.setAAD(aadBytes);
    const ciphertext = Buffer.concat([cipher.update(pt), cipher.final(), cipher.getAuthTag()]);
    const wrapped = recips.map((r) =>
      crypto.publicEncrypt({ key: r.pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, K),
    );
    const env = {
      version,
      keyAlg: KEY_ALG,
      contentAlg: CONTENT_ALG,
      senderId,
      messageId,
      createdAt,
      recipients: recips.map((r, i) => ({ userId: r.userId, keyId: r.keyId, wrappedKey: b64(wrapped[i]) })),
      nonce: b64(N),
      ciphertext: b64(ciphertext),
    };
    if (signer) {
      const value = pssSign(signer, sigInput(aadBytes, sigKid, N, ciphertext, wrapped, version));
      env.signature = { alg: SIG_ALG, keyId: sigKid, value: b64(value) };
    }
    if (Buffer.byteLength(JSON.stringify(env), 'utf8') > MAX_ENVELOPE_BYTES) throw badInput('envelope would exceed MAX_ENVELOPE_BYTES');
    return env;
  } finally {
    if (!_contentKey) K.fill(0);
  }
}

/** Seal a message: {plaintext, senderId, messageId, createdAt, recipients[{userId, publicKeyPem}], signWith?,
 *  signPassphrase?, version?}. Writes version 2 unless `version: 1` is asked for (fixtures of the old format).
 *  Returns the envelope as a plain object (serialize with JSON.stringify). */
export function seal(args) {
  const { _contentKey, _nonce, ...rest } = args; // eslint-disable-line no-unused-vars
  return sealInternal(rest);
}
export { sealInternal as _sealForFixtures };

/** Open an envelope (JSON text, bytes, or object).
 *  options: {privateKeyPem, passphrase?, verifyWithPem?}. Returns {plaintext, header, signatureVerified}.
 *  Throws EnvelopeError with code invalid_envelope | not_recipient | bad_signature | cannot_decrypt
 *  (or invalid_key if one of the caller's keys is unusable). */
export function open(envelope, { privateKeyPem, passphrase, verifyWithPem } = {}) {
  const priv = loadPrivateKey(privateKeyPem, passphrase, 'reader private key');
  const verifyKey = verifyWithPem != null ? loadPublicKey(verifyWithPem, 'sender public key') : null;

  // 1. parse and validate every rule; the AAD of its version (v2: with the signature's key id, or empty)
  const env = parseEnvelope(envelope);
  const aadBytes = aad(env);

  // 2. find our entry by key id
  const readerKid = keyId(priv);
  const entry = env.recipients.find((r) => r.keyId === readerKid);
  if (!entry) throw new EnvelopeError('not_recipient', 'no recipient entry for this key');

  // 3. signature first (if we have the sender's public key)
  if (verifyKey) {
    const sig = env.signature;
    if (!sig) throw new EnvelopeError('bad_signature', 'envelope is not signed');
    if (sig.keyId !== keyId(verifyKey)) throw new EnvelopeError('bad_signature', 'signed with a different key');
    const input = sigInput(aadBytes, sig.keyId, env.nonce, env.ciphertext, env.recipients.map((r) => r.wrappedKey), env.version);
    if (!pssVerify(verifyKey, input, sig.value)) throw new EnvelopeError('bad_signature', 'signature does not verify');
  }

  // 4-6. unwrap and decrypt; one error for every failure
  let K = null;
  let plaintext;
  try {
    K = crypto.privateDecrypt({ key: priv, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, entry.wrappedKey);
    if (K.length !== CONTENT_KEY_BYTES) throw new Error('content key length');
    const body = env.ciphertext.subarray(0, env.ciphertext.length - TAG_BYTES);
    const tag = env.ciphertext.subarray(env.ciphertext.length - TAG_BYTES);
    const decipher = crypto.createDecipheriv('aes-256-gcm', K, env.nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(aadBytes);
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new EnvelopeError('cannot_decrypt');
  } finally {
    if (K) K.fill(0);
  }
  if (plaintext.length > MAX_PLAINTEXT_BYTES) throw new EnvelopeError('cannot_decrypt'); // unreachable given the ciphertext limit

  // 7.
  const header = {
    version: env.version,
    keyAlg: env.keyAlg,
    contentAlg: env.contentAlg,
    senderId: env.senderId,
    messageId: env.messageId,
    createdAt: env.createdAt,
    recipients: env.recipients.map((r) => ({ userId: r.userId, keyId: r.keyId })),
  };
  if (env.signature) header.signerKeyId = env.signature.keyId;
  return { plaintext, header, signatureVerified: verifyKey !== null };
}

/** Chat id of a 1:1 chat: "c_" + hex SHA-256(field(min) || field(max)), min/max by UTF-8 bytes. */
export function chatId(a, b) {
  for (const [v, what] of [[a, 'a'], [b, 'b']]) {
    const p = userIdProblem(v);
    if (p) throw badInput(`chatId ${what}: ${p}`);
  }
  const ab = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  const [lo, hi] = Buffer.compare(ab, bb) <= 0 ? [ab, bb] : [bb, ab];
  return CHAT_ID_PREFIX + sha256(Buffer.concat([field(lo), field(hi)])).toString('hex');
}

// ---------------------------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------------------------

function genKey(bits) {
  return crypto.generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 65537 });
}

function keyEntry(bits, { privateKey, publicKey }) {
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' });
  return {
    bits,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicKeyPem,
    keyId: keyId(publicKey),
    fingerprint: fingerprint(publicKey),
  };
}

function flipBit(buf, index, mask = 0x01) {
  const b = Buffer.from(buf);
  const i = index < 0 ? b.length + index : index;
  b[i] ^= mask;
  return b;
}
const flipB64 = (s, index, mask) => b64(flipBit(Buffer.from(s, 'base64'), index, mask));

/** Make a canonical padded base64 string non-canonical by setting an unused trailing bit. */
function nonCanonical(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (!pad) throw new Error('nonCanonical needs a padded string');
  const pos = s.length - pad - 1;
  const v = alphabet.indexOf(s[pos]) | 1;
  const out = s.slice(0, pos) + alphabet[v] + s.slice(pos + 1);
  if (Buffer.from(out, 'base64').equals(Buffer.from(s, 'base64')) !== true) throw new Error('nonCanonical changed bytes');
  return out;
}

const clone = (o) => JSON.parse(JSON.stringify(o));

/** Serialize `obj`, replacing the JSON value at the placeholder string with raw JSON text. */
function withRaw(obj, setter, rawText) {
  const marker = `@@RAW${crypto.randomBytes(6).toString('hex')}@@`;
  const o = clone(obj);
  setter(o, marker);
  const text = JSON.stringify(o);
  if (text.split(JSON.stringify(marker)).length !== 2) throw new Error('marker not found exactly once');
  return text.replace(JSON.stringify(marker), () => rawText);
}

const FIXTURE_KEY_BITS = { alice: 2048, bob: 2048, carol: 3072, dave: 4096 };

/** Build the fixtures. `reuseKeys` (the `keys` object of an earlier fixtures file) keeps the four named keys, so
 *  files that embed them (events/, scripts/gen_events.mjs) stay valid; everything else is drawn anew. */
export function generateFixtures({ reuseKeys = null } = {}) {
  const keys = {};
  for (const [name, bits] of Object.entries(FIXTURE_KEY_BITS)) {
    let pair;
    if (reuseKeys) {
      if (!reuseKeys[name]) throw new Error(`reused keys: no key ${name}`);
      const privateKey = loadPrivateKey(reuseKeys[name].privateKeyPem, undefined, name);
      if (privateKey.asymmetricKeyDetails.modulusLength !== bits) throw new Error(`reused keys: ${name} is not ${bits} bits`);
      pair = { privateKey, publicKey: crypto.createPublicKey(privateKey) };
    } else {
      pair = genKey(bits);
    }
    keys[name] = keyEntry(bits, pair);
  }
  const pub = (name) => keys[name].publicKeyPem;
  const priv = (name) => keys[name].privateKeyPem;
  // Throw-away keys: extra recipients that no fixture reader holds (16-recipient envelope, rotated keys).
  const extra = Array.from({ length: 13 }, () => genKey(2048).publicKey.export({ type: 'spki', format: 'pem' }));
  const T0 = 1764145653000;

  // --- encrypted private keys ---
  const encryptedKeys = [];
  const addEncrypted = (name, who, passphrase, encryptedPrivateKeyPem) =>
    encryptedKeys.push({ name, encryptedPrivateKeyPem, passphrase, keyId: keys[who].keyId });
  const nodePbkdf2 = (who, passphrase) =>
    crypto.createPrivateKey(priv(who)).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase });
  {
    const pass = 'correct horse battery staple';
    const enc = nodePbkdf2('alice', pass);
    const d = describeEncryptedPkcs8(enc);
    if (d.kdf !== 'pbkdf2' || d.prf !== 'hmacWithSHA256' || d.cipher !== 'aes-256-cbc') throw new Error(`unexpected Node PKCS#8 encryption ${JSON.stringify(d)}`);
    addEncrypted(`alice-node-pkcs8-pbes2-pbkdf2-hmac-sha256-${d.iterations}-iterations-aes-256-cbc`, 'alice', pass, enc);
  }
  addEncrypted('bob-pkcs8-pbes2-scrypt-n32768-r8-p1-aes-256-cbc', 'bob', 'scrypt passphrase 1',
    encryptPrivateKeyScrypt(priv('bob'), 'scrypt passphrase 1'));
  addEncrypted('carol-pkcs8-pbes2-scrypt-n32768-r8-p1-aes-256-cbc-non-ascii-passphrase-utf8', 'carol', 'pässwörd 🔑 ключ',
    encryptPrivateKeyScrypt(priv('carol'), 'pässwörd 🔑 ключ'));
  addEncrypted('dave-node-pkcs8-pbes2-pbkdf2-hmac-sha256-aes-256-cbc-non-ascii-passphrase-utf8', 'dave', 'pbkdf2 ünïcödé',
    nodePbkdf2('dave', 'pbkdf2 ünïcödé'));

  // --- chat ids ---
  const chatPairs = [
    ['u_alice', 'u_bob'],
    ['a', 'ab'], // prefix: shorter one is smaller
    ['u_zoë', 'u_zoe'],
    ['用户_鲍勃', 'u_alice'],
    ['\uff5e', '😀'], // U+FF5E vs U+1F600: UTF-8 order (EF.. < F0..) differs from UTF-16 code unit order
    ['Ω', 'Z'],
    ['u_same', 'u_same'],
  ];
  const chatIds = [];
  for (const [a, b] of chatPairs) {
    chatIds.push({ a, b, chatId: chatId(a, b) });
    if (a !== b) chatIds.push({ a: b, b: a, chatId: chatId(b, a) });
  }

  // --- valid envelopes ---
  const envelopes = [];
  const R = (userId, keyName) => ({ userId, publicKeyPem: keys[keyName]?.publicKeyPem ?? keyName });
  const pushEnvelope = (name, env, plaintext, readers, signedBy) => {
    envelopes.push({ name, envelope: env, aadHex: aad(env).toString('hex'), plaintextBase64: b64(plaintext), readers, signedBy });
  };
  // Every case is sealed twice: as v1 (`v1-<name>`) and as v2 (`v2-<name>`), same plaintext and header.
  const addEnvelope = (name, { plaintext, senderId = 'u_alice', messageId, createdAt = T0, recipients, signedBy = null, readers, transform }) => {
    for (const version of VERSIONS) {
      let env = sealInternal({
        plaintext,
        senderId,
        messageId: messageId ?? `m_${name}`.slice(0, 128),
        createdAt,
        recipients,
        signWith: signedBy ? priv(signedBy) : undefined,
        version,
      });
      if (transform) env = transform(env);
      pushEnvelope(`v${version}-${name}`, env, plaintext, readers, signedBy);
    }
  };
  addEnvelope('empty-plaintext-unsigned-1-recipient', {
    plaintext: Buffer.alloc(0), recipients: [R('u_bob', 'bob')], readers: ['bob'],
  });
  addEnvelope('empty-plaintext-signed-2-recipients', {
    plaintext: Buffer.alloc(0), recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('1-byte-signed-2-recipients', {
    plaintext: Buffer.from([0x00]), recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('1-byte-unsigned-1-recipient', {
    plaintext: Buffer.from([0xff]), recipients: [R('u_bob', 'bob')], readers: ['bob'],
  });
  addEnvelope('1kib-random-unsigned-2-recipients', {
    plaintext: crypto.randomBytes(1024), recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], readers: ['bob', 'alice'],
  });
  addEnvelope('1kib-random-signed-1-recipient', {
    plaintext: crypto.randomBytes(1024), recipients: [R('u_bob', 'bob')], signedBy: 'alice', readers: ['bob'],
  });
  addEnvelope('64kib-random-signed-2-recipients', {
    plaintext: crypto.randomBytes(65536), recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('unicode-text-signed-non-ascii-user-ids', {
    plaintext: Buffer.from('Grüße aus Köln! 你好，世界 🦀🔐 — ÅÄÖ ∑∞ שלום مرحبا\n', 'utf8'),
    senderId: 'u_zoë_🦀',
    messageId: 'msg-ñ-１２３-✉',
    recipients: [R('用户_鲍勃', 'bob'), R('u_zoë_🦀', 'alice')],
    signedBy: 'alice',
    readers: ['bob', 'alice'],
  });
  addEnvelope('unicode-text-unsigned-non-ascii-user-ids', {
    plaintext: Buffer.from('Привет, Боб! Ça va? 👋', 'utf8'),
    senderId: 'Алиса',
    messageId: 'сообщение-1',
    recipients: [R('Боб', 'bob'), R('Алиса', 'alice')],
    readers: ['bob', 'alice'],
  });
  addEnvelope('to-carol-3072-signed-by-alice', {
    plaintext: Buffer.from('hello carol, 3072-bit recipient'), recipients: [R('u_carol', 'carol'), R('u_alice', 'alice')], signedBy: 'alice', readers: ['carol', 'alice'],
  });
  addEnvelope('to-dave-4096-signed-by-carol-3072', {
    plaintext: Buffer.from('hello dave, 4096-bit recipient, 3072-bit signer'), senderId: 'u_carol', recipients: [R('u_dave', 'dave'), R('u_carol', 'carol')], signedBy: 'carol', readers: ['dave', 'carol'],
  });
  addEnvelope('to-bob-signed-by-dave-4096', {
    plaintext: Buffer.from('hello bob, 4096-bit signer'), senderId: 'u_dave', recipients: [R('u_bob', 'bob'), R('u_dave', 'dave')], signedBy: 'dave', readers: ['bob', 'dave'],
  });
  addEnvelope('sender-listed-first', {
    plaintext: Buffer.from('recipient order: sender first'), recipients: [R('u_alice', 'alice'), R('u_bob', 'bob')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('16-recipients-mixed-key-sizes-signed', {
    plaintext: Buffer.from('sixteen recipients, the maximum'),
    recipients: [R('u_bob', 'bob'), R('u_carol', 'carol'), R('u_dave', 'dave'), R('u_alice', 'alice'),
      ...extra.slice(0, 12).map((pem, i) => R(`u_extra_${i + 1}`, pem))],
    signedBy: 'alice',
    readers: ['bob', 'carol', 'dave', 'alice'],
  });
  addEnvelope('same-user-two-keys-rotated', {
    plaintext: Buffer.from('bob has an old key and a new key'),
    recipients: [R('u_bob', extra[12]), R('u_bob', 'bob'), R('u_alice', 'alice')],
    signedBy: 'alice',
    readers: ['bob', 'alice'],
  });
  {
    const id128 = 'é'.repeat(63) + 'ab'; // 128 bytes, 65 UTF-16 code units
    const id128b = '用'.repeat(42) + 'xy'; // 128 bytes
    const id128c = 'm'.repeat(128);
    addEnvelope('ids-exactly-128-bytes-multibyte', {
      plaintext: Buffer.from('max-length ids'), senderId: id128, messageId: id128c,
      recipients: [R(id128b, 'bob'), R(id128, 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
    });
  }
  addEnvelope('ids-1-byte', {
    plaintext: Buffer.from('min-length ids'), senderId: 'a', messageId: 'm', recipients: [R('b', 'bob'), R('a', 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('ids-with-c1-and-json-special-characters', {
    plaintext: Buffer.from('quotes, backslashes, slashes and U+0080 are allowed'),
    senderId: 'u_"alice"\\/\u0080\u2028',
    messageId: '<m&1>',
    recipients: [R('u_bob\u009f', 'bob'), R('u_"alice"\\/\u0080\u2028', 'alice')],
    signedBy: 'alice',
    readers: ['bob', 'alice'],
  });
  addEnvelope('created-at-zero', {
    plaintext: Buffer.from('epoch'), createdAt: 0, recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], signedBy: 'alice', readers: ['bob', 'alice'],
  });
  addEnvelope('created-at-2^53-1', {
    plaintext: Buffer.from('far future'), createdAt: Number.MAX_SAFE_INTEGER, recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')], readers: ['bob', 'alice'],
  });
  addEnvelope('created-at-above-2^32', {
    plaintext: Buffer.from('u64 big-endian, high word non-zero'), createdAt: 0x1_2345_6789, recipients: [R('u_bob', 'bob')], readers: ['bob'],
  });
  addEnvelope('json-fields-in-unusual-order', {
    plaintext: Buffer.from('field order must not matter'),
    recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')],
    signedBy: 'alice',
    readers: ['bob', 'alice'],
    transform: (env) => {
      const out = {};
      for (const k of Object.keys(env).reverse()) out[k] = env[k];
      out.recipients = env.recipients.map((r) => ({ wrappedKey: r.wrappedKey, keyId: r.keyId, userId: r.userId }));
      out.signature = { value: env.signature.value, keyId: env.signature.keyId, alg: env.signature.alg };
      return out;
    },
  });

  // --- invalid cases ---
  const invalidCases = [];
  const addInvalid = (name, envelopeJson, reader, verifyWith, expect) => {
    if (typeof envelopeJson !== 'string') envelopeJson = JSON.stringify(envelopeJson);
    invalidCases.push({ name, envelopeJson, reader, verifyWith, expect });
  };
  // Base envelopes, per version: alice -> bob, bob listed first, alice second, unsigned (U) and signed by alice (S).
  // 15-byte plaintext: ciphertext 31 bytes (base64 "==" padding).
  const basePlain = Buffer.from('hello, interop!');
  const baseArgs = { plaintext: basePlain, senderId: 'u_alice', messageId: 'm_base', createdAt: T0, recipients: [R('u_bob', 'bob'), R('u_alice', 'alice')] };
  const base = {};
  for (const version of VERSIONS) {
    base[version] = {
      U: sealInternal({ ...baseArgs, version }),
      S: sealInternal({ ...baseArgs, version, signWith: priv('alice') }),
    };
  }
  const bytesOf = (env) => ({
    nonce: Buffer.from(env.nonce, 'base64'),
    ciphertext: Buffer.from(env.ciphertext, 'base64'),
    wrapped: env.recipients.map((r) => Buffer.from(r.wrappedKey, 'base64')),
  });
  // The spec's sigInput of `env` for signature key id `kid` (v2: over the AAD computed with signer `kid`);
  // `aadBytes` overrides the AAD to build wrong inputs.
  const sigOver = (env, kid, aadBytes = aad(env, kid)) => {
    const b = bytesOf(env);
    return sigInput(aadBytes, kid, b.nonce, b.ciphertext, b.wrapped, env.version);
  };
  const signAs = (name, env, kid = keys[name].keyId, aadBytes) =>
    ({ alg: SIG_ALG, keyId: kid, value: b64(pssSign(crypto.createPrivateKey(priv(name)), sigOver(env, kid, aadBytes))) });
  const PSS = crypto.constants.RSA_PKCS1_PSS_PADDING;

  // Cases that apply to both versions, named `v1-…` and `v2-…`.
  for (const version of VERSIONS) {
    const { U, S } = base[version];
    const v = `v${version}-`;
    const aliceKid = keys.alice.keyId;

    // Tampering: each makes AES-GCM (or the key unwrap) fail for bob; with a signature + verifyWith it is bad_signature.
    const tampers = [
      ['nonce-bit-flipped', (e) => { e.nonce = flipB64(e.nonce, 0); }],
      ['nonce-last-bit-flipped', (e) => { e.nonce = flipB64(e.nonce, -1, 0x80); }],
      ['ciphertext-body-bit-flipped', (e) => { e.ciphertext = flipB64(e.ciphertext, 0); }],
      ['ciphertext-tag-bit-flipped', (e) => { e.ciphertext = flipB64(e.ciphertext, -1); }],
      ['ciphertext-tag-first-byte-flipped', (e) => { e.ciphertext = flipB64(e.ciphertext, -16, 0x80); }],
      ['ciphertext-truncated-by-one-byte', (e) => { e.ciphertext = b64(Buffer.from(e.ciphertext, 'base64').subarray(0, -1)); }],
      ['readers-wrapped-key-bit-flipped', (e) => { e.recipients[0].wrappedKey = flipB64(e.recipients[0].wrappedKey, 100); }],
      ['readers-wrapped-key-last-bit-flipped', (e) => { e.recipients[0].wrappedKey = flipB64(e.recipients[0].wrappedKey, -1); }],
      ['readers-wrapped-key-swapped-with-other-recipients', (e) => { [e.recipients[0].wrappedKey, e.recipients[1].wrappedKey] = [e.recipients[1].wrappedKey, e.recipients[0].wrappedKey]; }],
      ['sender-id-changed', (e) => { e.senderId = 'u_mallory'; }],
      ['message-id-changed', (e) => { e.messageId = 'm_base2'; }],
      ['created-at-plus-1', (e) => { e.createdAt += 1; }],
      ['created-at-zero', (e) => { e.createdAt = 0; }],
      ['reader-user-id-changed', (e) => { e.recipients[0].userId = 'u_bobby'; }],
      ['other-recipient-user-id-changed', (e) => { e.recipients[1].userId = 'u_mallory'; }],
      ['other-recipient-key-id-changed', (e) => { e.recipients[1].keyId = keys.carol.keyId; }],
      ['recipients-reordered', (e) => { e.recipients.reverse(); }],
      ['other-recipient-removed', (e) => { e.recipients.pop(); }],
      ['recipient-added', (e) => {
        const w = crypto.publicEncrypt({ key: pub('carol'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, crypto.randomBytes(32));
        e.recipients.push({ userId: 'u_carol', keyId: keys.carol.keyId, wrappedKey: b64(w) });
      }],
    ];
    for (const [name, fn] of tampers) {
      const u = clone(U);
      fn(u);
      addInvalid(`${v}unsigned-${name}`, u, 'bob', null, 'cannot_decrypt');
      const s = clone(S);
      fn(s);
      addInvalid(`${v}signed-${name}-verified`, s, 'bob', 'alice', 'bad_signature');
      addInvalid(`${v}signed-${name}-not-verified`, s, 'bob', null, 'cannot_decrypt');
    }
    // Changes that only the signature catches (bob's own decryption still works).
    {
      const s = clone(S);
      s.recipients[1].wrappedKey = flipB64(s.recipients[1].wrappedKey, 7);
      addInvalid(`${v}signed-other-recipients-wrapped-key-bit-flipped-verified`, s, 'bob', 'alice', 'bad_signature');
    }
    // Key unwrapping edge cases (structurally valid).
    {
      const K16 = crypto.randomBytes(16);
      const e = sealInternal({ ...baseArgs, version });
      e.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('bob'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, K16));
      addInvalid(`${v}wrapped-key-decrypts-to-16-bytes`, e, 'bob', null, 'cannot_decrypt');
    }
    {
      const K33 = crypto.randomBytes(32);
      const e = sealInternal({ ...baseArgs, version, _contentKey: K33 });
      e.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('bob'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.concat([K33, Buffer.from([0])])));
      addInvalid(`${v}wrapped-key-decrypts-to-33-bytes-with-correct-prefix`, e, 'bob', null, 'cannot_decrypt');
    }
    {
      const K = crypto.randomBytes(32);
      const e = sealInternal({ ...baseArgs, version, _contentKey: K });
      e.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('bob'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, K));
      addInvalid(`${v}wrapped-key-oaep-sha1-instead-of-sha256`, e, 'bob', null, 'cannot_decrypt');
      const e2 = sealInternal({ ...baseArgs, version, _contentKey: K });
      e2.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('bob'), padding: crypto.constants.RSA_PKCS1_PADDING }, K));
      addInvalid(`${v}wrapped-key-pkcs1-v1.5-instead-of-oaep`, e2, 'bob', null, 'cannot_decrypt');
      const e3 = sealInternal({ ...baseArgs, version, _contentKey: K });
      e3.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('bob'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: Buffer.from('label') }, K));
      addInvalid(`${v}wrapped-key-oaep-with-non-empty-label`, e3, 'bob', null, 'cannot_decrypt');
    }
    {
      const e = clone(U);
      e.recipients[0].wrappedKey = b64(crypto.publicEncrypt({ key: pub('alice'), padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, crypto.randomBytes(32)));
      addInvalid(`${v}wrapped-key-made-for-another-key`, e, 'bob', null, 'cannot_decrypt');
    }
    {
      const e = clone(U);
      e.recipients[0].wrappedKey = b64(crypto.randomBytes(384)); // allowed size, but not bob's modulus size
      addInvalid(`${v}wrapped-key-384-bytes-for-2048-bit-reader`, e, 'bob', null, 'cannot_decrypt');
      const e2 = clone(U);
      e2.recipients[0].wrappedKey = b64(Buffer.alloc(256, 0xff)); // larger than the modulus
      addInvalid(`${v}wrapped-key-larger-than-modulus`, e2, 'bob', null, 'cannot_decrypt');
    }
    {
      const e = clone(U);
      e.ciphertext = b64(Buffer.alloc(16));
      addInvalid(`${v}ciphertext-16-zero-bytes-tag-only`, e, 'bob', null, 'cannot_decrypt');
    }

    // Signatures (reader bob, verifier alice unless stated).
    {
      const e = clone(S);
      e.signature.value = flipB64(e.signature.value, 10);
      addInvalid(`${v}signature-value-bit-flipped`, e, 'bob', 'alice', 'bad_signature');
      const e2 = clone(S);
      e2.signature.value = flipB64(e2.signature.value, -1);
      addInvalid(`${v}signature-value-last-bit-flipped`, e2, 'bob', 'alice', 'bad_signature');
    }
    {
      const e = clone(S);
      e.signature.keyId = keys.bob.keyId;
      addInvalid(`${v}signature-key-id-not-the-verifiers`, e, 'bob', 'alice', 'bad_signature');
    }
    {
      const e = clone(S);
      delete e.signature;
      addInvalid(`${v}signature-removed-verify-with-set`, e, 'bob', 'alice', 'bad_signature');
    }
    {
      const e = sealInternal({ ...baseArgs, version, signWith: priv('bob') });
      addInvalid(`${v}signed-by-bob-verify-with-alice`, e, 'bob', 'alice', 'bad_signature');
      addInvalid(`${v}signed-by-bob-verify-with-bob-ok-but-reader-carol`, e, 'carol', 'bob', 'not_recipient');
    }
    {
      // A signature by another key that claims alice's key id (over the right sigInput for alice's key id).
      const e = clone(S);
      e.signature = signAs('bob', S, aliceKid);
      addInvalid(`${v}signed-by-bob-claiming-alices-key-id`, e, 'bob', 'alice', 'bad_signature');
      const e2 = clone(S);
      e2.signature = signAs('carol', S, aliceKid);
      addInvalid(`${v}signed-by-carol-3072-claiming-alices-key-id`, e2, 'bob', 'alice', 'bad_signature');
    }
    // Alice's key, but the wrong scheme or the wrong input.
    const altSign = (name, signer) => {
      const e = clone(S);
      e.signature.value = b64(signer(crypto.createPrivateKey(priv('alice')), sigOver(S, aliceKid)));
      addInvalid(`${v}${name}`, e, 'bob', 'alice', 'bad_signature');
    };
    altSign('signature-pss-salt-length-0', (k, m) => crypto.sign('sha256', m, { key: k, padding: PSS, saltLength: 0 }));
    altSign('signature-pss-salt-length-20', (k, m) => crypto.sign('sha256', m, { key: k, padding: PSS, saltLength: 20 }));
    altSign('signature-pss-salt-length-64', (k, m) => crypto.sign('sha256', m, { key: k, padding: PSS, saltLength: 64 }));
    altSign('signature-pss-salt-length-max', (k, m) => crypto.sign('sha256', m, { key: k, padding: PSS, saltLength: crypto.constants.RSA_PSS_SALTLEN_MAX_SIGN }));
    altSign('signature-over-sha256-of-sig-input-double-hashed', (k, m) => crypto.sign('sha256', sha256(m), { key: k, padding: PSS, saltLength: 32 }));
    altSign('signature-pkcs1-v1.5-instead-of-pss', (k, m) => crypto.sign('sha256', m, { key: k, padding: crypto.constants.RSA_PKCS1_PADDING }));
    altSign('signature-pss-sha384', (k, m) => crypto.sign('sha384', m, { key: k, padding: PSS, saltLength: 32 }));
    altSign('signature-over-aad-only', (k) => crypto.sign('sha256', aad(S), { key: k, padding: PSS, saltLength: 32 }));
    altSign('signature-over-sig-input-without-wrapped-keys', (k) => {
      const b = bytesOf(S);
      return crypto.sign('sha256', sigInput(aad(S), aliceKid, b.nonce, b.ciphertext, [], version), { key: k, padding: PSS, saltLength: 32 });
    });
    const otherVersion = version === 1 ? 2 : 1;
    altSign(`signature-over-sig-input-with-the-v${otherVersion}-domain`, (k) => {
      const m = Buffer.concat([field(SIG_DOMAINS[otherVersion]), sigOver(S, aliceKid).subarray(4 + SIG_DOMAINS[version].length)]);
      return crypto.sign('sha256', m, { key: k, padding: PSS, saltLength: 32 });
    });
    altSign(`signature-over-the-v${otherVersion}-sig-input`, (k) => {
      const other = { ...S, version: otherVersion };
      return crypto.sign('sha256', sigOver(other, aliceKid), { key: k, padding: PSS, saltLength: 32 });
    });
    {
      // A valid signature from another envelope (same sender, same key) does not carry over.
      const other = sealInternal({ ...baseArgs, version, signWith: priv('alice') });
      const e = clone(S);
      e.signature = other.signature;
      addInvalid(`${v}signature-copied-from-another-envelope`, e, 'bob', 'alice', 'bad_signature');
    }
    {
      const e = clone(S);
      e.signature.value = b64(Buffer.alloc(256));
      addInvalid(`${v}signature-value-all-zero`, e, 'bob', 'alice', 'bad_signature');
      const e2 = clone(S);
      e2.signature.value = b64(Buffer.alloc(256, 0xff));
      addInvalid(`${v}signature-value-larger-than-modulus`, e2, 'bob', 'alice', 'bad_signature');
      const e3 = clone(S);
      e3.signature.value = b64(crypto.randomBytes(384));
      addInvalid(`${v}signature-value-384-bytes-for-2048-bit-verifier`, e3, 'bob', 'alice', 'bad_signature');
    }

    // not_recipient
    addInvalid(`${v}reader-not-a-recipient`, U, 'carol', null, 'not_recipient');
    addInvalid(`${v}reader-not-a-recipient-4096`, U, 'dave', null, 'not_recipient');
    addInvalid(`${v}reader-not-a-recipient-checked-before-signature`, S, 'carol', 'alice', 'not_recipient');
    {
      const e = clone(S);
      e.signature.value = flipB64(e.signature.value, 10);
      addInvalid(`${v}reader-not-a-recipient-bad-signature-not-reached`, e, 'carol', 'alice', 'not_recipient');
      const e2 = clone(U);
      addInvalid(`${v}reader-not-a-recipient-unsigned-verify-with-set`, e2, 'dave', 'alice', 'not_recipient');
    }
    {
      const e = clone(U);
      e.recipients[0].keyId = keys.carol.keyId.replace(/^./, (c) => (c === '0' ? '1' : '0')); // user id u_bob, but not bob's key
      addInvalid(`${v}reader-user-id-listed-with-another-key-id`, e, 'bob', null, 'not_recipient');
    }

    // The version field selects the AAD and sigInput domains: changing it to the other supported version makes
    // AES-GCM fail (and the signature, for a verifying reader).
    {
      const s = { ...clone(S), version: otherVersion };
      addInvalid(`${v}signed-version-changed-to-${otherVersion}-not-verified`, s, 'bob', null, 'cannot_decrypt');
      addInvalid(`${v}signed-version-changed-to-${otherVersion}-verified`, s, 'bob', 'alice', 'bad_signature');
      addInvalid(`${v}signed-version-changed-to-${otherVersion}-not-verified-reader-alice`, s, 'alice', null, 'cannot_decrypt');
      const u = { ...clone(U), version: otherVersion };
      addInvalid(`${v}unsigned-version-changed-to-${otherVersion}`, u, 'bob', null, 'cannot_decrypt');
      addInvalid(`${v}unsigned-version-changed-to-${otherVersion}-verify-with-set`, u, 'bob', 'alice', 'bad_signature');
    }
  }

  // v2 only: the AAD ends with field(signature.keyId) (or field("")), so the signature cannot be removed, added or
  // swapped without AES-GCM failing, whether or not the reader verifies.
  {
    const { U, S } = base[2];
    const aliceKid = keys.alice.keyId;
    {
      const e = clone(S);
      delete e.signature;
      addInvalid('v2-signature-stripped-not-verified', e, 'bob', null, 'cannot_decrypt');
      addInvalid('v2-signature-stripped-not-verified-reader-alice', e, 'alice', null, 'cannot_decrypt');
      // (with verifyWith: v2-signature-removed-verify-with-set, bad_signature)
    }
    {
      // A signature added to an unsigned envelope, made by the sender's own key over the spec's v2 sigInput
      // (AAD with alice's key id): it verifies, but the ciphertext was sealed with field("") at the end of the AAD.
      const e = clone(U);
      e.signature = signAs('alice', U);
      addInvalid('v2-signature-added-to-unsigned-valid-by-sender-not-verified', e, 'bob', null, 'cannot_decrypt');
      addInvalid('v2-signature-added-to-unsigned-valid-by-sender-verified', e, 'bob', 'alice', 'cannot_decrypt');
      // The same over a sigInput that embeds the AAD the ciphertext was really sealed with (unsigned): does not
      // verify as a v2 signature (its AAD must name the signer).
      const e2 = clone(U);
      e2.signature = signAs('alice', U, aliceKid, aad(U, null));
      addInvalid('v2-signature-added-to-unsigned-over-the-unsigned-aad-not-verified', e2, 'bob', null, 'cannot_decrypt');
      addInvalid('v2-signature-added-to-unsigned-over-the-unsigned-aad-verified', e2, 'bob', 'alice', 'bad_signature');
    }
    for (const other of ['bob', 'carol']) {
      // The signature replaced by another key's valid signature over the same envelope (v2 sigInput for that key).
      const e = clone(S);
      e.signature = signAs(other, S);
      const n = `v2-signature-swapped-to-${other}s-valid-signature`;
      addInvalid(`${n}-not-verified`, e, 'bob', null, 'cannot_decrypt');
      addInvalid(`${n}-verified-with-${other}`, e, 'bob', other, 'cannot_decrypt');
      addInvalid(`${n}-verified-with-alice`, e, 'bob', 'alice', 'bad_signature');
    }
    {
      // Only the key id of the signature changed (value kept).
      const e = clone(S);
      e.signature.keyId = keys.bob.keyId;
      addInvalid('v2-signature-key-id-changed-not-verified', e, 'bob', null, 'cannot_decrypt');
      addInvalid('v2-signature-key-id-changed-verified-with-bob', e, 'bob', 'bob', 'bad_signature');
    }
    {
      // The signed envelope's signature moved onto the unsigned twin (same header, other content key/nonce).
      const e = clone(U);
      e.signature = clone(S.signature);
      addInvalid('v2-signature-of-the-signed-twin-added-to-unsigned-not-verified', e, 'bob', null, 'cannot_decrypt');
      addInvalid('v2-signature-of-the-signed-twin-added-to-unsigned-verified', e, 'bob', 'alice', 'bad_signature');
    }
  }

  // v1 does not bind the signature (the reason for v2). These v1 envelopes are valid: a reader that does not
  // verify opens them; readers must not apply the v2 binding to v1.
  {
    const { S } = base[1];
    const stripped = clone(S);
    delete stripped.signature;
    pushEnvelope('v1-signature-stripped-opens-as-unsigned', stripped, basePlain, ['bob', 'alice'], null);
    const swapped = clone(S);
    swapped.signature = signAs('carol', S);
    pushEnvelope('v1-signature-swapped-to-carols-opens-as-signed-by-carol', swapped, basePlain, ['bob', 'alice'], 'carol');
  }

  const { U, S } = base[2]; // the structure cases below use the version writers write
  // invalid_envelope: structure. Reader bob, no verifier unless stated.
  const IE = 'invalid_envelope';
  const inv = (name, json, verifyWith = null) => addInvalid(name, json, 'bob', verifyWith, IE);
  const mod = (fn, base = S) => {
    const e = clone(base);
    fn(e);
    return e;
  };
  inv('version-3', mod((e) => { e.version = 3; }));
  inv('version-3-verified', mod((e) => { e.version = 3; }), 'alice');
  inv('version-3-unsigned', mod((e) => { e.version = 3; }, U));
  inv('version-3-from-v1', mod((e) => { e.version = 3; }, base[1].S));
  inv('version-0', mod((e) => { e.version = 0; }));
  inv('version-258-is-2-mod-256', mod((e) => { e.version = 258; }));
  inv('version-257-is-1-mod-256', mod((e) => { e.version = 257; }, base[1].S));
  inv('version-2^32+2', withRaw(S, (e, m) => { e.version = m; }, '4294967298'));
  inv('version-2^64+2', withRaw(S, (e, m) => { e.version = m; }, '18446744073709551618'));
  inv('version-negative-2', withRaw(S, (e, m) => { e.version = m; }, '-2'));
  inv('version-string', mod((e) => { e.version = '2'; }));
  inv('version-string-v1', mod((e) => { e.version = '1'; }, base[1].S));
  inv('version-2.0', withRaw(S, (e, m) => { e.version = m; }, '2.0'));
  inv('version-2e0', withRaw(S, (e, m) => { e.version = m; }, '2e0'));
  inv('version-1.0', withRaw(base[1].S, (e, m) => { e.version = m; }, '1.0'));
  inv('version-1e0', withRaw(base[1].S, (e, m) => { e.version = m; }, '1e0'));
  inv('version-true', mod((e) => { e.version = true; }));
  inv('version-array', mod((e) => { e.version = [1, 2]; }));
  inv('key-alg-rsa-oaep', mod((e) => { e.keyAlg = 'RSA-OAEP'; }));
  inv('key-alg-lowercase', mod((e) => { e.keyAlg = 'rsa-oaep-256'; }));
  inv('key-alg-trailing-space', mod((e) => { e.keyAlg = 'RSA-OAEP-256 '; }));
  inv('content-alg-a128gcm', mod((e) => { e.contentAlg = 'A128GCM'; }));
  inv('content-alg-number', mod((e) => { e.contentAlg = 256; }));
  inv('unknown-top-level-field', mod((e) => { e.extra = 1; }));
  inv('unknown-top-level-field-null', mod((e) => { e.chatId = null; }));
  inv('unknown-top-level-field-__proto__', mod((e) => { Object.defineProperty(e, '__proto__', { value: {}, enumerable: true }); }));
  inv('unknown-field-case-variant-senderid', mod((e) => { e.senderid = e.senderId; }));
  inv('unknown-recipient-field', mod((e) => { e.recipients[0].role = 'to'; }));
  inv('unknown-signature-field', mod((e) => { e.signature.salt = 32; }));
  for (const f of TOP_REQUIRED) inv(`missing-field-${f}`, mod((e) => { delete e[f]; }));
  for (const f of RECIPIENT_FIELDS) inv(`missing-recipient-field-${f}`, mod((e) => { delete e.recipients[0][f]; }));
  for (const f of SIGNATURE_FIELDS) inv(`missing-signature-field-${f}`, mod((e) => { delete e.signature[f]; }));
  for (const f of [...TOP_REQUIRED, 'signature']) inv(`null-field-${f}`, mod((e) => { e[f] = null; }));
  inv('null-field-signature-unsigned-no-verifier', mod((e) => { e.signature = null; }, U));
  for (const f of RECIPIENT_FIELDS) inv(`null-recipient-field-${f}`, mod((e) => { e.recipients[0][f] = null; }));
  for (const f of SIGNATURE_FIELDS) inv(`null-signature-field-${f}`, mod((e) => { e.signature[f] = null; }));
  inv('null-recipient-entry', mod((e) => { e.recipients[1] = null; }));
  inv('sender-id-number', mod((e) => { e.senderId = 42; }));
  inv('message-id-array', mod((e) => { e.messageId = ['m']; }));
  inv('recipients-object', mod((e) => { e.recipients = { 0: e.recipients[0] }; }));
  inv('recipient-entry-string', mod((e) => { e.recipients[1] = 'u_alice'; }));
  inv('recipient-entry-array', mod((e) => { e.recipients[1] = [e.recipients[1].userId, e.recipients[1].keyId, e.recipients[1].wrappedKey]; }));
  // Positional arrays in place of objects (some JSON libraries map a sequence onto a struct's fields in order).
  const positional = (e) => [e.version, e.keyAlg, e.contentAlg, e.senderId, e.messageId, e.createdAt,
    e.recipients.map((r) => [r.userId, r.keyId, r.wrappedKey]), e.nonce, e.ciphertext,
    ...(e.signature ? [[e.signature.alg, e.signature.keyId, e.signature.value]] : [])];
  inv('envelope-as-positional-array', JSON.stringify(positional(S)));
  inv('envelope-as-positional-array-verified', JSON.stringify(positional(S)), 'alice');
  inv('envelope-as-positional-array-unsigned', JSON.stringify(positional(U)));
  inv('recipient-entries-as-positional-arrays', mod((e) => { e.recipients = e.recipients.map((r) => [r.userId, r.keyId, r.wrappedKey]); }));
  inv('signature-as-positional-array', mod((e) => { e.signature = [e.signature.alg, e.signature.keyId, e.signature.value]; }));
  inv('signature-as-positional-array-verified', mod((e) => { e.signature = [e.signature.alg, e.signature.keyId, e.signature.value]; }), 'alice');
  inv('nonce-array-of-numbers', mod((e) => { e.nonce = [...Buffer.from(e.nonce, 'base64')]; }));
  inv('signature-string', mod((e) => { e.signature = e.signature.value; }));
  inv('signature-array', mod((e) => { e.signature = [e.signature]; }));
  inv('signature-empty-object', mod((e) => { e.signature = {}; }));
  inv('signature-empty-object-no-verifier', mod((e) => { e.signature = {}; }, U));
  inv('signature-alg-rs256', mod((e) => { e.signature.alg = 'RS256'; }), 'alice');
  inv('signature-alg-lowercase', mod((e) => { e.signature.alg = 'ps256'; }));
  inv('signature-key-id-uppercase', mod((e) => { e.signature.keyId = e.signature.keyId.toUpperCase(); }), 'alice');
  inv('signature-key-id-63-chars', mod((e) => { e.signature.keyId = e.signature.keyId.slice(1); }));
  inv('signature-value-255-bytes', mod((e) => { e.signature.value = b64(Buffer.from(e.signature.value, 'base64').subarray(1)); }), 'alice');
  inv('signature-value-257-bytes', mod((e) => { e.signature.value = b64(Buffer.concat([Buffer.from(e.signature.value, 'base64'), Buffer.from([0])])); }));
  inv('signature-value-empty', mod((e) => { e.signature.value = ''; }));
  inv('signature-value-non-canonical-base64', mod((e) => { e.signature.value = nonCanonical(e.signature.value); }), 'alice');
  inv('top-level-array', JSON.stringify([S]));
  inv('top-level-string', JSON.stringify(JSON.stringify(S)));
  inv('top-level-null', 'null');
  inv('top-level-number', '1');
  inv('empty-object', '{}');
  inv('empty-input', '');
  inv('whitespace-only', ' \n');

  // base64
  inv('wrapped-key-non-canonical-base64-trailing-bits', mod((e) => { e.recipients[0].wrappedKey = nonCanonical(e.recipients[0].wrappedKey); }));
  inv('other-wrapped-key-non-canonical-base64-trailing-bits', mod((e) => { e.recipients[1].wrappedKey = nonCanonical(e.recipients[1].wrappedKey); }));
  inv('ciphertext-non-canonical-base64-trailing-bits', mod((e) => { e.ciphertext = nonCanonical(e.ciphertext); }));
  inv('wrapped-key-base64-missing-padding', mod((e) => { e.recipients[0].wrappedKey = e.recipients[0].wrappedKey.replace(/=+$/, ''); }));
  inv('ciphertext-base64-missing-padding', mod((e) => { e.ciphertext = e.ciphertext.replace(/=+$/, ''); }));
  inv('ciphertext-base64-extra-padding', mod((e) => { e.ciphertext += '===='; }));
  inv('nonce-base64-with-padding-appended', mod((e) => { e.nonce += '='; }));
  inv('wrapped-key-base64url-alphabet', mod((e) => {
    // Re-encode with URL-safe characters; ensure at least one '+' or '/' exists so the change is visible.
    let w = e.recipients[0].wrappedKey;
    if (!/[+/]/.test(w)) w = '+' + w.slice(1);
    e.recipients[0].wrappedKey = w.replace(/\+/g, '-').replace(/\//g, '_');
  }));
  inv('nonce-base64url-alphabet', mod((e) => { e.nonce = b64(Buffer.from('fbff' + '00'.repeat(10), 'hex')).replace(/\+/g, '-').replace(/\//g, '_'); }));
  inv('ciphertext-base64-with-space', mod((e) => { e.ciphertext = e.ciphertext.slice(0, 8) + ' ' + e.ciphertext.slice(8); }));
  inv('ciphertext-base64-with-leading-space', mod((e) => { e.ciphertext = ' ' + e.ciphertext; }));
  inv('wrapped-key-base64-with-line-breaks-every-76', mod((e) => { e.recipients[0].wrappedKey = e.recipients[0].wrappedKey.match(/.{1,76}/g).join('\n'); }));
  inv('wrapped-key-base64-with-crlf-every-64', mod((e) => { e.recipients[0].wrappedKey = e.recipients[0].wrappedKey.match(/.{1,64}/g).join('\r\n'); }));
  inv('nonce-base64-trailing-newline', mod((e) => { e.nonce += '\n'; }));
  inv('nonce-base64-with-tab', mod((e) => { e.nonce = e.nonce.slice(0, 4) + '\t' + e.nonce.slice(4); }));
  inv('nonce-base64-invalid-character', mod((e) => { e.nonce = '*' + e.nonce.slice(1); }));
  inv('nonce-hex-instead-of-base64', mod((e) => { e.nonce = Buffer.from(e.nonce, 'base64').toString('hex'); }));

  // lengths
  inv('nonce-16-bytes', mod((e) => { e.nonce = b64(crypto.randomBytes(16)); }));
  inv('nonce-11-bytes', mod((e) => { e.nonce = b64(crypto.randomBytes(11)); }));
  inv('nonce-13-bytes', mod((e) => { e.nonce = b64(crypto.randomBytes(13)); }));
  inv('nonce-empty', mod((e) => { e.nonce = ''; }));
  inv('ciphertext-15-bytes', mod((e) => { e.ciphertext = b64(crypto.randomBytes(15)); }));
  inv('ciphertext-empty', mod((e) => { e.ciphertext = ''; }));
  inv('wrapped-key-255-bytes', mod((e) => { e.recipients[0].wrappedKey = b64(Buffer.from(e.recipients[0].wrappedKey, 'base64').subarray(1)); }));
  inv('wrapped-key-257-bytes', mod((e) => { e.recipients[0].wrappedKey = b64(Buffer.concat([Buffer.from([0]), Buffer.from(e.recipients[0].wrappedKey, 'base64')])); }));
  inv('wrapped-key-128-bytes', mod((e) => { e.recipients[0].wrappedKey = b64(crypto.randomBytes(128)); }));
  inv('wrapped-key-1024-bytes', mod((e) => { e.recipients[0].wrappedKey = b64(crypto.randomBytes(1024)); }));
  inv('wrapped-key-empty', mod((e) => { e.recipients[0].wrappedKey = ''; }));
  inv('other-wrapped-key-255-bytes', mod((e) => { e.recipients[1].wrappedKey = b64(Buffer.from(e.recipients[1].wrappedKey, 'base64').subarray(1)); }));

  // recipients
  inv('recipients-empty', mod((e) => { e.recipients = []; }));
  {
    const e16 = envelopes.find((x) => x.name === 'v2-16-recipients-mixed-key-sizes-signed').envelope;
    const e17 = clone(e16);
    e17.recipients.push({ userId: 'u_extra_13', keyId: keyId(extra[12]), wrappedKey: b64(crypto.randomBytes(256)) });
    inv('recipients-17', e17);
    inv('recipients-17-verified', e17, 'alice');
  }
  inv('duplicate-key-id', mod((e) => { e.recipients.push({ ...e.recipients[0], userId: 'u_bob2' }); }));
  inv('duplicate-key-id-identical-entries', mod((e) => { e.recipients.push({ ...e.recipients[0] }); }));
  inv('duplicate-key-id-other-recipient', mod((e) => { e.recipients.unshift({ ...e.recipients[1], userId: 'u_alice_again' }); }));
  inv('key-id-uppercase', mod((e) => { e.recipients[0].keyId = e.recipients[0].keyId.toUpperCase(); }));
  inv('other-key-id-uppercase', mod((e) => { e.recipients[1].keyId = e.recipients[1].keyId.toUpperCase(); }));
  inv('key-id-one-uppercase-letter', mod((e) => {
    const k = e.recipients[1].keyId;
    const i = k.search(/[a-f]/);
    e.recipients[1].keyId = k.slice(0, i) + k[i].toUpperCase() + k.slice(i + 1);
  }));
  inv('key-id-63-chars', mod((e) => { e.recipients[0].keyId = e.recipients[0].keyId.slice(0, 63); }));
  inv('key-id-65-chars', mod((e) => { e.recipients[0].keyId += '0'; }));
  inv('key-id-non-hex', mod((e) => { e.recipients[0].keyId = 'g' + e.recipients[0].keyId.slice(1); }));
  inv('key-id-base64-of-sha256', mod((e) => { e.recipients[0].keyId = Buffer.from(e.recipients[0].keyId, 'hex').toString('base64'); }));
  inv('key-id-with-colons', mod((e) => { e.recipients[0].keyId = e.recipients[0].keyId.match(/../g).join(':'); }));

  // createdAt
  inv('created-at-negative', withRaw(S, (e, m) => { e.createdAt = m; }, '-1'));
  inv('created-at-negative-zero', withRaw(S, (e, m) => { e.createdAt = m; }, '-0'));
  inv('created-at-float', withRaw(S, (e, m) => { e.createdAt = m; }, `${T0}.5`));
  inv('created-at-float-with-zero-fraction', withRaw(S, (e, m) => { e.createdAt = m; }, `${T0}.0`));
  inv('created-at-exponent', withRaw(S, (e, m) => { e.createdAt = m; }, '1.764145653e12'));
  inv('created-at-exponent-integer-mantissa', withRaw(S, (e, m) => { e.createdAt = m; }, '1764145653E3'));
  inv('created-at-2^53', withRaw(S, (e, m) => { e.createdAt = m; }, '9007199254740992'));
  inv('created-at-2^53+1', withRaw(S, (e, m) => { e.createdAt = m; }, '9007199254740993'));
  inv('created-at-2^64', withRaw(S, (e, m) => { e.createdAt = m; }, '18446744073709551616'));
  inv('created-at-2^64-1', withRaw(S, (e, m) => { e.createdAt = m; }, '18446744073709551615'));
  inv('created-at-1e400', withRaw(S, (e, m) => { e.createdAt = m; }, '1e400'));
  inv('created-at-string', mod((e) => { e.createdAt = String(e.createdAt); }));
  inv('created-at-leading-zero', withRaw(S, (e, m) => { e.createdAt = m; }, `0${T0}`));
  inv('created-at-plus-sign', withRaw(S, (e, m) => { e.createdAt = m; }, `+${T0}`));

  // ids
  const c129 = 'é'.repeat(64) + 'a'; // 129 bytes, 65 UTF-16 code units
  const idCases = [
    ['empty', ''],
    ['129-bytes-ascii', 'x'.repeat(129)],
    ['129-bytes-multibyte', c129],
    ['nul', 'u_\u0000bob'],
    ['newline', 'u_bob\n'],
    ['tab', '\tu_bob'],
    ['u+001f', 'u_\u001fbob'],
    ['del-u+007f', 'u_bob\u007f'],
  ];
  for (const [label, v] of idCases) {
    inv(`sender-id-${label}`, mod((e) => { e.senderId = v; }));
    inv(`recipient-user-id-${label}`, mod((e) => { e.recipients[0].userId = v; }));
  }
  for (const [label, v] of [['empty', ''], ['129-bytes-ascii', 'y'.repeat(129)], ['nul', '\u0000'], ['escape-u+001b', 'm\u001b[0m']]) {
    inv(`message-id-${label}`, mod((e) => { e.messageId = v; }));
  }
  inv('other-recipient-user-id-control-char', mod((e) => { e.recipients[1].userId = 'u_alice\r'; }));
  inv('sender-id-lone-high-surrogate-escape', withRaw(S, (e, m) => { e.senderId = m; }, '"u_\\ud800alice"'));
  inv('recipient-user-id-lone-low-surrogate-escape', withRaw(S, (e, m) => { e.recipients[0].userId = m; }, '"u_bob\\udc00"'));

  // JSON syntax
  const sText = JSON.stringify(S);
  inv('malformed-json-truncated', sText.slice(0, Math.floor(sText.length / 2)));
  inv('malformed-json-missing-final-brace', sText.slice(0, -1));
  inv('malformed-json-trailing-comma', sText.slice(0, -1) + ',}');
  inv('malformed-json-single-quotes', sText.replace('"version"', "'version'"));
  inv('malformed-json-unquoted-key', sText.replace('"version"', 'version'));
  inv('malformed-json-comment', '/* envelope */' + sText);
  inv('malformed-json-trailing-garbage', sText + 'x');
  inv('malformed-json-two-objects', sText + sText);
  inv('malformed-json-nan', withRaw(S, (e, m) => { e.createdAt = m; }, 'NaN'));
  inv('malformed-json-raw-newline-in-string', withRaw(S, (e, m) => { e.senderId = m; }, '"u_\nalice"'));
  inv('malformed-json-bad-escape', withRaw(S, (e, m) => { e.senderId = m; }, '"u_\\xalice"'));
  inv('duplicate-json-key-sender-id', sText.replace('"senderId":"u_alice"', '"senderId":"u_alice","senderId":"u_mallory"'));
  inv('duplicate-json-key-same-value', sText.replace('"version":2', '"version":2,"version":2'));
  inv('duplicate-json-key-version-2-then-1', sText.replace('"version":2', '"version":2,"version":1'));
  inv('duplicate-json-key-version-1-then-2', JSON.stringify(base[1].S).replace('"version":1', '"version":1,"version":2'));
  inv('duplicate-json-key-in-recipient', sText.replace('"userId":"u_bob"', '"userId":"u_bob","userId":"u_bob"'));
  inv('duplicate-json-key-signature', sText.replace(/}$/, `,"signature":${JSON.stringify(S.signature)}}`));

  for (const c of invalidCases) {
    if (typeof c.envelopeJson !== 'string') throw new Error(`case ${c.name}: envelopeJson not a string`);
  }
  const names = new Set();
  for (const c of [...envelopes, ...invalidCases]) {
    if (names.has(c.name)) throw new Error(`duplicate fixture name ${c.name}`);
    names.add(c.name);
  }

  return {
    generator: `node ${process.version}, tests/interop/envelope.mjs`,
    versions: { write: VERSION, read: VERSIONS },
    keys,
    encryptedKeys,
    chatIds,
    envelopes,
    invalid: invalidCases,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Self-check of fixtures
// ---------------------------------------------------------------------------------------------------------------

export function checkFixtures(fx, log = console.error) {
  let failures = 0;
  let passes = 0;
  const ok = (cond, msg) => {
    if (cond) passes++;
    else {
      failures++;
      log(`FAIL ${msg}`);
    }
  };
  const attempt = (msg, fn) => {
    try {
      fn();
    } catch (e) {
      failures++;
      log(`FAIL ${msg}: ${e.code || ''} ${e.message}`);
    }
  };

  // keys
  for (const [name, k] of Object.entries(fx.keys)) {
    attempt(`key ${name}`, () => {
      const priv = loadPrivateKey(k.privateKeyPem, undefined, name);
      const pub = loadPublicKey(k.publicKeyPem, name);
      ok(priv.asymmetricKeyDetails.modulusLength === k.bits, `key ${name}: bits`);
      ok(keyId(priv) === k.keyId, `key ${name}: keyId from private key`);
      ok(keyId(pub) === k.keyId, `key ${name}: keyId from public key`);
      ok(/^[0-9a-f]{64}$/.test(k.keyId), `key ${name}: keyId format`);
      ok(sha256(pemBody(k.publicKeyPem, 'PUBLIC KEY')).toString('hex') === k.keyId, `key ${name}: keyId = sha256(PEM DER bytes)`);
      ok(fingerprint(pub) === k.fingerprint, `key ${name}: fingerprint`);
      ok(/^([0-9A-F]{4} ){7}[0-9A-F]{4}$/.test(k.fingerprint), `key ${name}: fingerprint format`);
    });
  }
  // encrypted keys
  for (const ek of fx.encryptedKeys) {
    attempt(`encryptedKey ${ek.name}`, () => {
      const key = loadPrivateKey(ek.encryptedPrivateKeyPem, ek.passphrase, ek.name);
      ok(keyId(key) === ek.keyId, `encryptedKey ${ek.name}: keyId`);
      let wrongFailed = false;
      try {
        loadPrivateKey(ek.encryptedPrivateKeyPem, ek.passphrase + 'x', ek.name);
      } catch (e) {
        wrongFailed = e.code === 'invalid_key';
      }
      ok(wrongFailed, `encryptedKey ${ek.name}: wrong passphrase rejected`);
    });
  }
  // chat ids
  for (const c of fx.chatIds) {
    attempt(`chatId ${c.a}/${c.b}`, () => {
      ok(chatId(c.a, c.b) === c.chatId, `chatId(${JSON.stringify(c.a)}, ${JSON.stringify(c.b)})`);
      ok(chatId(c.b, c.a) === c.chatId, `chatId symmetric (${JSON.stringify(c.a)}, ${JSON.stringify(c.b)})`);
      ok(/^c_[0-9a-f]{64}$/.test(c.chatId), `chatId format ${c.chatId}`);
    });
  }
  // versions
  ok(fx.versions && fx.versions.write === VERSION && JSON.stringify(fx.versions.read) === JSON.stringify(VERSIONS),
    `versions: write ${VERSION}, read ${VERSIONS} (file says ${JSON.stringify(fx.versions)})`);
  for (const version of VERSIONS) {
    for (const signed of [false, true]) {
      ok(fx.envelopes.some((v) => v.envelope.version === version && !!v.envelope.signature === signed),
        `a valid v${version} ${signed ? 'signed' : 'unsigned'} envelope exists`);
    }
  }
  // valid envelopes
  for (const v of fx.envelopes) {
    attempt(`envelope ${v.name}`, () => {
      const parsed = parseEnvelope(v.envelope);
      ok(aad(parsed).toString('hex') === v.aadHex, `envelope ${v.name}: aadHex`);
      ok(v.aadHex.startsWith(field(AAD_DOMAINS[parsed.version]).toString('hex')), `envelope ${v.name}: aadHex starts with the v${parsed.version} domain`);
      ok(!!v.envelope.signature === (v.signedBy !== null), `envelope ${v.name}: signature present iff signedBy`);
      const expected = Buffer.from(v.plaintextBase64, 'base64');
      for (const reader of v.readers) {
        const variants = [[null, 'unverified']];
        if (v.signedBy) variants.push([v.signedBy, `verified by ${v.signedBy}`]);
        for (const [verifier, label] of variants) {
          attempt(`envelope ${v.name} reader ${reader} ${label}`, () => {
            const r = open(JSON.stringify(v.envelope), {
              privateKeyPem: fx.keys[reader].privateKeyPem,
              verifyWithPem: verifier ? fx.keys[verifier].publicKeyPem : undefined,
            });
            ok(r.plaintext.equals(expected), `envelope ${v.name} reader ${reader} ${label}: plaintext`);
            ok(r.header.senderId === v.envelope.senderId, `envelope ${v.name}: header.senderId`);
            ok(r.header.version === v.envelope.version, `envelope ${v.name}: header.version`);
            ok(r.header.signerKeyId === (v.signedBy ? fx.keys[v.signedBy].keyId : undefined), `envelope ${v.name}: header.signerKeyId`);
          });
        }
      }
      if (!v.signedBy) {
        // An unsigned envelope must fail for a reader who has the sender's key.
        const reader = v.readers[0];
        let code = null;
        try {
          open(v.envelope, { privateKeyPem: fx.keys[reader].privateKeyPem, verifyWithPem: fx.keys.alice.publicKeyPem });
        } catch (e) {
          code = e.code;
        }
        ok(code === 'bad_signature', `envelope ${v.name}: unsigned + verifyWith -> bad_signature (got ${code})`);
      } else {
        // Strip the signature: v2 binds it into the AAD (cannot_decrypt), v1 does not (opens as unsigned).
        const stripped = clone(v.envelope);
        delete stripped.signature;
        const reader = v.readers[0];
        const got = (verifyWithPem) => {
          try {
            open(stripped, { privateKeyPem: fx.keys[reader].privateKeyPem, verifyWithPem });
            return 'ok';
          } catch (e) {
            return e.code;
          }
        };
        const want = parsed.version === 1 ? 'ok' : 'cannot_decrypt';
        ok(got(undefined) === want, `envelope ${v.name}: signature stripped -> ${want} (got ${got(undefined)})`);
        ok(got(fx.keys[v.signedBy].publicKeyPem) === 'bad_signature', `envelope ${v.name}: signature stripped + verifyWith -> bad_signature`);
      }
    });
  }
  // invalid envelopes
  for (const c of fx.invalid) {
    let code = null;
    let detail = '';
    try {
      open(c.envelopeJson, {
        privateKeyPem: fx.keys[c.reader].privateKeyPem,
        verifyWithPem: c.verifyWith ? fx.keys[c.verifyWith].publicKeyPem : undefined,
      });
      code = 'opened';
    } catch (e) {
      code = e.code ?? `exception ${e.message}`;
      detail = e.message;
    }
    ok(code === c.expect, `invalid ${c.name}: expected ${c.expect}, got ${code} (${detail})`);
  }
  return { passes, failures };
}

/** Extra runtime checks that are too large for the fixture file. */
export function runtimeChecks(fx, log = console.error) {
  let failures = 0;
  let passes = 0;
  const ok = (cond, msg) => {
    if (cond) passes++;
    else {
      failures++;
      log(`FAIL ${msg}`);
    }
  };
  const codeOf = (fn) => {
    try {
      fn();
      return 'ok';
    } catch (e) {
      return e.code ?? e.message;
    }
  };
  const bob = fx.keys.bob;
  const alice = fx.keys.alice;
  // The worked examples of docs/envelope.md: sender a, message id m1, createdAt 1, one recipient b.
  const exampleAad = aad({ version: 1, senderId: 'a', messageId: 'm1', createdAt: 1, recipients: [{ userId: 'b', keyId: 'k'.repeat(64) }] });
  const expectedPrefix = Buffer.concat([
    Buffer.from('00000010', 'hex'), Buffer.from('e2ee.envelope.v1'), Buffer.from('0000000c', 'hex'), Buffer.from('RSA-OAEP-256'),
    Buffer.from('00000007', 'hex'), Buffer.from('A256GCM'), Buffer.from('00000001', 'hex'), Buffer.from('a'),
  ]);
  ok(exampleAad.subarray(0, expectedPrefix.length).equals(expectedPrefix), 'AAD matches the worked example of the spec');
  ok(exampleAad.length === expectedPrefix.length + 4 + 2 + 8 + 4 + 4 + 1 + 4 + 64, 'AAD example length');
  const v2Header = { version: 2, senderId: 'a', messageId: 'm1', createdAt: 1, recipients: [{ userId: 'b', keyId: 'b'.repeat(64) }] };
  const v2Unsigned = '00000010' + '653265652e656e76656c6f70652e7632' + '0000000c' + '5253412d4f4145502d323536' + '00000007' + '4132353647434d' +
    '00000001' + '61' + '00000002' + '6d31' + '0000000000000001' + '00000001' + '00000001' + '62' + '00000040' + '62'.repeat(64) + '00000000';
  ok(aad(v2Header).toString('hex') === v2Unsigned, 'v2 AAD matches the worked example of the spec (unsigned, 147 bytes)');
  ok(aad(v2Header).length === 147, 'v2 AAD example length');
  const v2Signed = aad(v2Header, 'a'.repeat(64));
  ok(v2Signed.toString('hex') === v2Unsigned.slice(0, -8) + '00000040' + '61'.repeat(64) && v2Signed.length === 211,
    'v2 AAD matches the worked example of the spec (signed by key id 64 x "a", 211 bytes)');
  ok(aad({ ...v2Header, signature: { keyId: 'a'.repeat(64) } }).equals(v2Signed), 'v2 AAD takes the signer from header.signature');
  // seal writes v2 unless asked for v1; both open; other versions are refused.
  const sealArgs = { plaintext: Buffer.from('v?'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: bob.publicKeyPem }], signWith: alice.privateKeyPem };
  ok(seal(sealArgs).version === 2, 'seal writes version 2 by default');
  ok(seal({ ...sealArgs, version: 1 }).version === 1, 'seal writes version 1 when asked');
  for (const version of [1, 2]) {
    const e = seal({ ...sealArgs, version });
    ok(codeOf(() => open(e, { privateKeyPem: bob.privateKeyPem, verifyWithPem: alice.publicKeyPem })) === 'ok', `seal v${version} opens verified`);
    const { signature, ...stripped } = e; // eslint-disable-line no-unused-vars
    ok(codeOf(() => open(stripped, { privateKeyPem: bob.privateKeyPem })) === (version === 1 ? 'ok' : 'cannot_decrypt'), `seal v${version}: signature stripped, not verified`);
  }
  ok(codeOf(() => seal({ ...sealArgs, version: 3 })) === 'invalid_input', 'seal refuses version 3');
  // 1 MiB plaintext, 16 recipients with 128-byte ids, 4096-bit signer: the largest envelope must fit the limit.
  const extraKeys = Array.from({ length: 12 }, () => genKey(2048).publicKey.export({ type: 'spki', format: 'pem' }));
  const big = crypto.randomBytes(MAX_PLAINTEXT_BYTES);
  const id = (i) => `${String(i).padStart(2, '0')}${'é'.repeat(63)}`;
  const recipients = [bob, alice, fx.keys.carol, fx.keys.dave].map((k, i) => ({ userId: id(i), publicKeyPem: k.publicKeyPem }))
    .concat(extraKeys.map((pem, i) => ({ userId: id(i + 4), publicKeyPem: pem })));
  const env = seal({ plaintext: big, senderId: id(99), messageId: 'm'.repeat(128), createdAt: Number.MAX_SAFE_INTEGER, recipients, signWith: fx.keys.dave.privateKeyPem });
  const text = JSON.stringify(env);
  ok(Buffer.byteLength(text) <= MAX_ENVELOPE_BYTES, `largest envelope ${Buffer.byteLength(text)} bytes within MAX_ENVELOPE_BYTES`);
  if (process.env.ENVELOPE_DEBUG) log(`largest envelope: ${Buffer.byteLength(text)} bytes (limit ${MAX_ENVELOPE_BYTES})`);
  const r = open(text, { privateKeyPem: fx.keys.carol.privateKeyPem, verifyWithPem: fx.keys.dave.publicKeyPem });
  ok(r.plaintext.equals(big), '1 MiB plaintext round trip');
  // plaintext 1 MiB + 1 rejected by seal
  ok(codeOf(() => seal({ plaintext: Buffer.alloc(MAX_PLAINTEXT_BYTES + 1), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: bob.publicKeyPem }] })) === 'invalid_input', 'seal rejects 1 MiB + 1');
  // ciphertext of 1 MiB + 17 bytes rejected by open
  const small = seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: bob.publicKeyPem }] });
  const tooLong = { ...small, ciphertext: b64(Buffer.alloc(MAX_PLAINTEXT_BYTES + TAG_BYTES + 1)) };
  ok(codeOf(() => open(JSON.stringify(tooLong), { privateKeyPem: bob.privateKeyPem })) === 'invalid_envelope', 'ciphertext 1 MiB + 17 bytes -> invalid_envelope');
  const maxCt = { ...small, ciphertext: b64(Buffer.alloc(MAX_PLAINTEXT_BYTES + TAG_BYTES)) };
  ok(codeOf(() => open(JSON.stringify(maxCt), { privateKeyPem: bob.privateKeyPem })) === 'cannot_decrypt', 'ciphertext exactly 1 MiB + 16 bytes is structurally valid -> cannot_decrypt');
  // whole envelope above MAX_ENVELOPE_BYTES (padded with JSON whitespace) rejected
  const padded = JSON.stringify(small).replace(/^\{/, '{' + ' '.repeat(MAX_ENVELOPE_BYTES));
  ok(codeOf(() => open(padded, { privateKeyPem: bob.privateKeyPem })) === 'invalid_envelope', 'envelope > MAX_ENVELOPE_BYTES -> invalid_envelope');
  const exact = JSON.stringify(small).replace(/^\{/, '{' + ' '.repeat(MAX_ENVELOPE_BYTES - Buffer.byteLength(JSON.stringify(small))));
  ok(Buffer.byteLength(exact) === MAX_ENVELOPE_BYTES && codeOf(() => open(exact, { privateKeyPem: bob.privateKeyPem })) === 'ok', 'envelope of exactly MAX_ENVELOPE_BYTES (whitespace) opens');
  // pretty-printed JSON (whitespace between tokens) is fine, as Buffer too
  ok(codeOf(() => open(Buffer.from(JSON.stringify(small, null, 2)), { privateKeyPem: bob.privateKeyPem })) === 'ok', 'pretty-printed envelope opens');
  // escaped characters in strings decode before AAD
  const esc = seal({ plaintext: Buffer.from('x'), senderId: 'zoë', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: bob.publicKeyPem }] });
  ok(codeOf(() => open(JSON.stringify(esc).replace('zoë', 'zo\\u00eb'), { privateKeyPem: bob.privateKeyPem })) === 'ok', '\\u escapes in ids decode before the AAD');
  // invalid UTF-8 bytes
  const bad = Buffer.from(JSON.stringify(esc).replace('zoë', 'zo\u00ff'), 'utf8');
  const i = bad.indexOf(Buffer.from('zo\u00ff', 'utf8'));
  bad[i + 2] = 0xff;
  ok(codeOf(() => open(bad, { privateKeyPem: bob.privateKeyPem })) === 'invalid_envelope', 'invalid UTF-8 -> invalid_envelope');
  ok(codeOf(() => open(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(esc))]), { privateKeyPem: bob.privateKeyPem })) === 'invalid_envelope', 'UTF-8 BOM -> invalid_envelope');
  // seal input checks
  ok(codeOf(() => seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: bob.publicKeyPem }, { userId: 'c', publicKeyPem: bob.publicKeyPem }] })) === 'invalid_input', 'seal rejects duplicate recipient key');
  ok(codeOf(() => seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: Array.from({ length: 17 }, () => ({ userId: 'b', publicKeyPem: bob.publicKeyPem })) })) === 'invalid_input', 'seal rejects 17 recipients');
  const k1024 = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' });
  ok(codeOf(() => seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: k1024 }] })) === 'invalid_key', 'seal rejects a 1024-bit key');
  const k3 = crypto.generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).publicKey.export({ type: 'spki', format: 'pem' });
  ok(codeOf(() => seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: k3 }] })) === 'invalid_key', 'seal rejects e=3');
  const pkcs1 = crypto.createPublicKey(bob.publicKeyPem).export({ type: 'pkcs1', format: 'pem' });
  ok(codeOf(() => seal({ plaintext: Buffer.from('x'), senderId: 'a', messageId: 'm', createdAt: 0, recipients: [{ userId: 'b', publicKeyPem: pkcs1 }] })) === 'invalid_key', 'seal rejects a PKCS#1 public key');
  // object input and Buffer input behave like text input
  ok(codeOf(() => open(small, { privateKeyPem: bob.privateKeyPem })) === 'ok', 'open accepts an object');
  // scrypt-encrypted key round trip through encryptPrivateKeyScrypt
  const encPem = encryptPrivateKeyScrypt(bob.privateKeyPem, 'pw');
  const d = describeEncryptedPkcs8(encPem);
  ok(d.kdf === 'scrypt' && d.N === 32768n && d.r === 8n && d.p === 1n && d.cipher === 'aes-256-cbc', 'scrypt PKCS#8 parameters');
  ok(keyId(loadPrivateKey(encPem, 'pw')) === bob.keyId, 'scrypt PKCS#8 decrypts');
  return { passes, failures };
}

// ---------------------------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------------------------

function usage() {
  return [
    'usage:',
    '  node tests/interop/envelope.mjs seal --to PUB.pem [--to PUB2.pem ...] [--recipient ID ...] [--sender ID]',
    '                                       [--message-id ID] [--created-at MS] [--sign-with PRIV.pem] [--passphrase-env VAR]',
    '        plaintext on stdin, envelope JSON on stdout',
    '  node tests/interop/envelope.mjs open --key PRIV.pem [--passphrase-env VAR] [--verify-with PUB.pem]',
    '        envelope JSON on stdin, plaintext on stdout; on failure exit 1 and "error: <code>" on stderr',
    '  node tests/interop/envelope.mjs keygen --out PRIV.pem [--bits 2048|3072|4096] [--passphrase-env VAR]',
    '        writes PKCS#8 PEM, mode 0600, refuses to overwrite (scrypt-encrypted if --passphrase-env); prints the SPKI PEM',
    '  node tests/interop/envelope.mjs pubkey --key PRIV.pem [--passphrase-env VAR]      prints the SPKI PEM',
    '  node tests/interop/envelope.mjs fingerprint FILE [--passphrase-env VAR]            prints key id, then fingerprint',
    '  node tests/interop/envelope.mjs generate [--keys-from OLD_FIXTURES.json] > tests/interop/fixtures.json',
    '        (--keys-from keeps the four fixture keys of an earlier file; everything else is drawn anew)',
    '  node tests/interop/envelope.mjs check tests/interop/fixtures.json',
  ].join('\n');
}

class UsageError extends Error {}

function parseArgs(argv, spec) {
  const out = { _: [] };
  for (const [k, kind] of Object.entries(spec)) if (kind === 'multi') out[k] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      out._.push(a);
      continue;
    }
    let name = a.slice(2);
    let val;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      val = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (val === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      val = argv[++i];
    }
    if (kind === 'multi') out[name].push(val);
    else {
      if (out[name] !== undefined) throw new UsageError(`--${name} given twice`);
      out[name] = val;
    }
  }
  return out;
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks);
}

function writeStdout(data) {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}

function passphraseFromEnv(name) {
  if (name === undefined) return undefined;
  const v = process.env[name];
  if (v === undefined) throw new UsageError(`environment variable ${name} is not set`);
  return v;
}

const readText = (path) => fs.readFileSync(path, 'utf8');

async function main(argv) {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'seal': {
      const o = parseArgs(rest, { to: 'multi', recipient: 'multi', sender: 'single', 'message-id': 'single', 'created-at': 'single', 'sign-with': 'single', 'passphrase-env': 'single' });
      if (o._.length) throw new UsageError(`unexpected argument ${o._[0]}`);
      if (o.to.length === 0) throw new UsageError('seal needs at least one --to');
      if (o.recipient.length > o.to.length) throw new UsageError('more --recipient than --to');
      let createdAt = Date.now();
      if (o['created-at'] !== undefined) {
        if (!/^(0|[1-9][0-9]*)$/.test(o['created-at'])) throw new UsageError('--created-at must be a non-negative integer');
        createdAt = Number(o['created-at']);
      }
      const recipients = o.to.map((path, i) => ({ userId: o.recipient[i] ?? `r${i + 1}`, publicKeyPem: readText(path) }));
      const plaintext = await readStdin();
      const env = seal({
        plaintext,
        senderId: o.sender ?? 'sender',
        messageId: o['message-id'] ?? crypto.randomUUID(),
        createdAt,
        recipients,
        signWith: o['sign-with'] !== undefined ? readText(o['sign-with']) : undefined,
        signPassphrase: passphraseFromEnv(o['passphrase-env']),
      });
      await writeStdout(JSON.stringify(env) + '\n');
      return 0;
    }
    case 'open': {
      const o = parseArgs(rest, { key: 'single', 'passphrase-env': 'single', 'verify-with': 'single' });
      if (o._.length) throw new UsageError(`unexpected argument ${o._[0]}`);
      if (o.key === undefined) throw new UsageError('open needs --key');
      const input = await readStdin();
      const r = open(input, {
        privateKeyPem: readText(o.key),
        passphrase: passphraseFromEnv(o['passphrase-env']),
        verifyWithPem: o['verify-with'] !== undefined ? readText(o['verify-with']) : undefined,
      });
      await writeStdout(r.plaintext);
      return 0;
    }
    case 'keygen': {
      const o = parseArgs(rest, { out: 'single', bits: 'single', 'passphrase-env': 'single' });
      if (o._.length) throw new UsageError(`unexpected argument ${o._[0]}`);
      if (o.out === undefined) throw new UsageError('keygen needs --out');
      const bits = o.bits === undefined ? 2048 : Number(o.bits);
      if (!RSA_BITS.includes(bits)) throw new UsageError('--bits must be 2048, 3072 or 4096');
      const pass = passphraseFromEnv(o['passphrase-env']);
      const { privateKey, publicKey } = genKey(bits);
      const pem = pass !== undefined ? encryptPrivateKeyScrypt(privateKey, pass) : privateKey.export({ type: 'pkcs8', format: 'pem' });
      fs.writeFileSync(o.out, pem, { mode: 0o600, flag: 'wx' }); // like the Rust CLI: never overwrite a key file
      await writeStdout(publicKey.export({ type: 'spki', format: 'pem' }));
      return 0;
    }
    case 'pubkey': {
      const o = parseArgs(rest, { key: 'single', 'passphrase-env': 'single' });
      if (o._.length || o.key === undefined) throw new UsageError('pubkey needs --key PRIV.pem');
      const key = loadPrivateKey(readText(o.key), passphraseFromEnv(o['passphrase-env']));
      await writeStdout(crypto.createPublicKey(key).export({ type: 'spki', format: 'pem' }));
      return 0;
    }
    case 'fingerprint': {
      const o = parseArgs(rest, { 'passphrase-env': 'single' });
      if (o._.length !== 1) throw new UsageError('fingerprint needs one FILE');
      const text = readText(o._[0]);
      const key = pemLabel(text) === 'PUBLIC KEY' ? loadPublicKey(text) : loadPrivateKey(text, passphraseFromEnv(o['passphrase-env']));
      await writeStdout(`${keyId(key)}\n${fingerprint(key)}\n`);
      return 0;
    }
    case 'generate': {
      const o = parseArgs(rest, { 'keys-from': 'single' });
      if (o._.length) throw new UsageError(`unexpected argument ${o._[0]}`);
      const reuseKeys = o['keys-from'] !== undefined ? JSON.parse(readText(o['keys-from'])).keys : null;
      await writeStdout(JSON.stringify(generateFixtures({ reuseKeys }), null, 2) + '\n');
      return 0;
    }
    case 'check': {
      if (rest.length !== 1) throw new UsageError('check needs FIXTURES.json');
      const fx = JSON.parse(readText(rest[0]));
      const a = checkFixtures(fx);
      console.error(`fixtures: ${a.passes} checks passed, ${a.failures} failed ` +
        `(${Object.keys(fx.keys).length} keys, ${fx.encryptedKeys.length} encrypted keys, ${fx.chatIds.length} chat ids, ` +
        `${fx.envelopes.length} envelopes, ${fx.invalid.length} invalid cases)`);
      const b = runtimeChecks(fx);
      console.error(`runtime: ${b.passes} checks passed, ${b.failures} failed`);
      return a.failures + b.failures === 0 ? 0 : 1;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      console.error(usage());
      return cmd === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command ${cmd}`);
  }
}

const isMain = (() => {
  try {
    return process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      if (e instanceof UsageError) {
        process.stderr.write(`error: usage: ${e.message} (see --help)\n`);
        process.exitCode = 2;
      } else if (e instanceof EnvelopeError) {
        process.stderr.write(`error: ${e.code}\n`);
        if (process.env.ENVELOPE_DEBUG) process.stderr.write(`  ${e.message}\n`);
        process.exitCode = 1;
      } else {
        process.stderr.write(`error: ${String(e.message).split('\n')[0]}\n`);
        process.exitCode = 1;
      }
    },
  );
}
