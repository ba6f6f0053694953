// Public API of @e2ee/web-sdk (this slice: envelopes v1/v2, keys, key ids, chat ids).

export { EnvelopeError, InputError, type EnvelopeErrorCode, type InputErrorCode } from "./errors.js";
export {
  keyId,
  fingerprint,
  chatId,
  importPublicKeyPem,
  importPrivateKeyPem,
  RSA_BITS,
  type RsaBits,
  type PublicKeyInfo,
  type KeyPair,
} from "./keys.js";
export {
  parseEnvelope,
  aad,
  sigInput,
  seal,
  open,
  ENVELOPE_VERSION,
  SUPPORTED_VERSIONS,
  KEY_ALG,
  CONTENT_ALG,
  SIG_ALG,
  MAX_PLAINTEXT_BYTES,
  MAX_ENVELOPE_BYTES,
  MAX_RECIPIENTS,
  type EnvelopeVersion,
  type Envelope,
  type ParsedEnvelope,
  type EnvelopeHeader,
  type Signer,
  type SealOptions,
  type Sealed,
  type OpenOptions,
  type Opened,
} from "./envelope.js";
export { checkId, MAX_ID_BYTES } from "./ids.js";
export { toBase64, fromBase64Strict, toHex } from "./bytes.js";
