//! The storage contract: domain records and the four store traits (their error type is in `error.rs`).
//! Every backend (SQLite, MySQL, MongoDB) implements these traits and passes the same conformance suite.

use async_trait::async_trait;
use e2ee_protocol::{KeyStatus, Order};
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;

/// Milliseconds since the Unix epoch (UTC). One time type across all backends and the API.
pub type Millis = i64;

/// Throttle counter keys are at most this long (in bytes); longer ones are `Invalid`.
pub const MAX_THROTTLE_KEY_BYTES: usize = 300;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Opaque, server-assigned: `u_` + 32 lowercase hex characters (128 random bits).
    pub id: String,
    /// As the user typed it (NFC-normalized); uniqueness is on its case-folded form.
    pub username: String,
    /// argon2id PHC string. Never leaves the server.
    pub password_hash: String,
    pub display_name: Option<String>,
    pub created_at: Millis,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("password_hash", &"[redacted]")
            .field("display_name", &self.display_name)
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub username: String,
    pub password_hash: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyRecord {
    pub user_id: String,
    /// 64 lowercase hex: SHA-256 of the SPKI DER (see docs/envelope.md).
    pub key_id: String,
    pub public_key_pem: String,
    pub bits: u32,
    pub created_at: Millis,
    pub status: KeyStatus,
    /// When the key was retired (replaced by a newer active key); kept when it is revoked later. `None` for
    /// keys that were never retired, and for keys retired before this field existed.
    pub retired_at: Option<Millis>,
    /// When the key was first revoked (revoking again keeps it). `None` unless revoked, and for keys revoked
    /// before this field existed.
    pub revoked_at: Option<Millis>,
    /// The previous active key's signature that authorized this key's registration (a rotation), if there
    /// was one; `None` for a first key, a registration authorized by the password, and keys registered
    /// before this field existed.
    pub endorsement: Option<KeyEndorsement>,
}

/// "The key `key_id` (then the user's active key) authorized registering this key": its RSA-PSS signature over
/// the `register` key statement of the new key (`e2ee_crypto::KeyStatement`) made at `created_at`. Stored as
/// given, so that clients can check it themselves (a rotation chain); it is public, like the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEndorsement {
    /// 64 lowercase hex: the endorsing key's id.
    pub key_id: String,
    /// The statement's `createdAt` (ms since the epoch).
    pub created_at: Millis,
    /// 1 to [`MAX_ENDORSEMENT_SIGNATURE_BYTES`] bytes.
    pub signature: Vec<u8>,
}

/// Longest endorsement signature (RSA-PSS under a 4096-bit key: 512 bytes).
pub const MAX_ENDORSEMENT_SIGNATURE_BYTES: usize = 512;

#[derive(Debug, Clone)]
pub struct NewPublicKey {
    pub user_id: String,
    pub key_id: String,
    pub public_key_pem: String,
    pub bits: u32,
    /// Stored with the key by `put_active` (also when it activates a pending key, replacing the pending
    /// record's); registering the active key again keeps the stored one.
    pub endorsement: Option<KeyEndorsement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Opaque, server-assigned: `m_` + 32 lowercase hex characters.
    pub id: String,
    pub chat_id: String,
    pub sender_id: String,
    pub receiver_id: String,
    pub client_message_id: String,
    /// The envelope as a JSON document (stored structured, never as plaintext: it is ciphertext already).
    pub envelope: serde_json::Value,
    pub created_at: Millis,
    pub read_at: Option<Millis>,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub sender_id: String,
    pub receiver_id: String,
    pub client_message_id: String,
    pub envelope: serde_json::Value,
}

/// Result of an idempotent insert.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    Created(Message),
    /// A message with the same (sender id, client message id) and the same envelope already existed; this is
    /// it, unchanged (its receiver is the stored one).
    Existing(Message),
}

impl Inserted {
    pub fn message(&self) -> &Message {
        match self {
            Inserted::Created(m) | Inserted::Existing(m) => m,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// `None` → [`DEFAULT_PAGE_SIZE`](e2ee_protocol::paging::DEFAULT_PAGE_SIZE); 0 or more than
    /// [`MAX_PAGE_SIZE`](e2ee_protocol::paging::MAX_PAGE_SIZE) → `Invalid` (`limit`).
    pub limit: Option<u32>,
    /// An opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `Some` when more items may follow.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Duplicate (case-folded) username → `UsernameTaken`; invalid input → `Invalid`.
    async fn create(&self, user: NewUser) -> StoreResult<User>;
    async fn get(&self, id: &str) -> StoreResult<Option<User>>;
    /// Case-insensitive lookup.
    async fn get_by_username(&self, username: &str) -> StoreResult<Option<User>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Makes `key` the user's only active key; the previous active key becomes `Retired` (with `retired_at`).
    /// Registering the user's current active key again is a no-op returning it; a key that is `Pending` is
    /// activated (it takes a fresh position, newer than every key of the user); re-activating a retired or
    /// revoked key is `KeyRetired` / `KeyRevoked`. The key's `endorsement` is stored with it (see
    /// [`NewPublicKey::endorsement`]).
    async fn put_active(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord>;
    /// Stores `key` as `Pending` (usable for nothing until `put_active`). Idempotent when the same key is
    /// already pending (returns it unchanged); `KeyNotPending` when it exists with another status.
    async fn put_pending(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord>;
    /// The user's active key (never a pending one).
    async fn active_for_user(&self, user_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    async fn get(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    /// All of the user's keys, newest first, pending ones included.
    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>>;
    /// Revokes a key of any status (pending included) and sets `revoked_at`. Unknown key → `KeyNotFound`.
    /// Idempotent: revoking again keeps the first `revoked_at`.
    async fn revoke(&self, user_id: &str, key_id: &str) -> StoreResult<PublicKeyRecord>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Idempotent on (sender id, client message id): a retry with the same envelope returns the stored message
    /// as `Inserted::Existing`; one with a different envelope is `MessageIdReused`. Records the chat and its
    /// two participants first (if it is not recorded yet), so every stored message has its chat.
    async fn insert(&self, message: NewMessage) -> StoreResult<Inserted>;
    /// The two participants of a chat, bytewise sorted (smaller first); `None` for an unknown chat.
    async fn chat_participants(&self, chat_id: &str) -> StoreResult<Option<[String; 2]>>;
    async fn get(&self, id: &str) -> StoreResult<Option<Message>>;
    /// The receiver's unread messages, oldest first. Pages are limited by count and by
    /// [`MAX_PAGE_BYTES`](e2ee_protocol::paging::MAX_PAGE_BYTES).
    async fn unread_for(&self, receiver_id: &str, page: PageRequest) -> StoreResult<Page<Message>>;
    /// Both directions of one chat, ordered by (created_at, id). Pages are limited by count and by
    /// [`MAX_PAGE_BYTES`](e2ee_protocol::paging::MAX_PAGE_BYTES).
    async fn history(
        &self,
        chat_id: &str,
        order: Order,
        page: PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// Only the receiver may mark a message read (`NotTheReceiver` otherwise; unknown id →
    /// `MessageNotFound`). Idempotent: a second call returns the first `read_at`.
    async fn mark_read(&self, id: &str, caller_id: &str) -> StoreResult<Message>;
}

/// The failure counter of one key (see [`ThrottleStore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last_failure_at: Millis,
}

/// Counters for rate limits, quotas and login backoff, shared by every instance (they live in the SQL database
/// of users). Keys are 1 to [`MAX_THROTTLE_KEY_BYTES`] bytes (`Invalid` otherwise); every operation is one
/// atomic statement, exact under concurrency.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Atomically adds one to the fixed-window counter `key` for the window starting at `window_start`
    /// (a counter of an older window is replaced, i.e. starts again at 1) and returns the new count.
    /// A hit for a window older than the stored one (a caller with a lagging clock) counts in the stored window.
    async fn hit(&self, key: &str, window_start: Millis) -> StoreResult<u64>;
    /// The failure counter of `key` (e.g. `login-account:<folded name>` or `login-source:<ip>`), if any.
    async fn failures(&self, key: &str) -> StoreResult<Option<Failures>>;
    /// Atomically adds one failure at `now` and returns the new state.
    async fn record_failure(&self, key: &str, now: Millis) -> StoreResult<Failures>;
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;
}
