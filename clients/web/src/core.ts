// The SDK without MLS: envelopes v1/v2, keys, key ids, chat ids, the API client (api.ts), device keys (keygen.ts), pins
// (pins.ts), the logged-in session with 1:1 chat (session.ts), device storage and key backups. index.ts re-exports it
// with the MLS half; an app that bundles with code splitting imports this one where it needs no MLS, so ts-mls is
// not pulled into that part (esbuild assigns modules to chunks by what imports them, used or not).

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
export {
  ApiClient,
  ApiError,
  NetworkError,
  ResponseError,
  apiErrorFrom,
  type ApiClientOptions,
  type RegisterResponse,
  type LoginResponse,
  type UserInfo,
  type KeyInfo,
  type KeyStatus,
  type PublicKeyResponse,
  type SendResponse,
  type StoredMessage,
  type MessagePage,
  type MarkReadResponse,
  type PageQuery,
  type RegisterKeyBody,
} from "./api.js";
export { generateKeyPair, spkiPem, keyOpInput } from "./keygen.js";
export {
  KeyChangedError,
  IdentityChangedError,
  MemoryPinStore,
  foldUsername,
  type PinStore,
  type Pin,
} from "./pins.js";
export {
  Session,
  connect,
  type MessageReport,
  type MessageStatus,
  type SentReport,
  type SessionOptions,
} from "./session.js";
export { MemoryKvStore, type KvStore } from "./kv.js";

// --- Device storage and key backups: IndexedDB KvStore, keyring, persistent pins, encrypted PKCS#8 (idb.ts,
// keyring.ts, storage.ts, pins.ts, backup.ts, keygen.ts) ---
export { openIndexedDbKvStore, IndexedDbKvStore } from "./idb.js";
export { StorageError, ownerPrefix, type StorageErrorCode } from "./storage.js";
export { Keyring, type KeyringEntry } from "./keyring.js";
export { KvPinStore } from "./pins.js";
export {
  importEncryptedPrivateKeyPem,
  BackupError,
  PBKDF2_ITERATIONS,
  MIN_PBKDF2_ITERATIONS,
  MAX_PBKDF2_ITERATIONS,
  type BackupErrorCode,
} from "./backup.js";
export { generateKeyPairWithBackup } from "./keygen.js";
// --- Encryption at rest of the MLS state: the data key (sealedkey.ts); the store itself (sealed.ts) is exported
// by index.ts, with MLS, so that what imports the core only (the page's 1:1 chat) does not load it ---
export { unlockSealedKey, changeSealedStorePassword, sealedKeyName, SEALED_PBKDF2_ITERATIONS } from "./sealedkey.js";
