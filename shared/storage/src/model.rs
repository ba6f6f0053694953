//! The storage contract: domain records, the three store traits and their error type.
//! Every backend (SQLite, MySQL, MongoDB) implements these traits and passes the same conformance suite.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). One time type across all backends and the API.
pub type Millis = i64;

/// Default and maximum page sizes for paginated reads.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
pub const MAX_PAGE_SIZE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("forbidden")]
    Forbidden,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The database could not be reached or timed out. Retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
    Revoked,
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
}

#[derive(Debug, Clone)]
pub struct NewPublicKey {
    pub user_id: String,
    pub key_id: String,
    pub public_key_pem: String,
    pub bits: u32,
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
    /// A message with the same (sender id, client message id) already existed; this is it, unchanged.
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
    /// `None` → [`DEFAULT_PAGE_SIZE`]; 0 or more than [`MAX_PAGE_SIZE`] → `BadRequest`.
    pub limit: Option<u32>,
    /// An opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `Some` when more items may follow.
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Duplicate (case-folded) username → `Conflict`; invalid username → `BadRequest`.
    async fn create(&self, user: NewUser) -> StoreResult<User>;
    async fn get(&self, id: &str) -> StoreResult<Option<User>>;
    /// Case-insensitive lookup.
    async fn get_by_username(&self, username: &str) -> StoreResult<Option<User>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Makes `key` the user's only active key; the previous active key becomes `Retired`.
    /// Registering the user's current active key again is a no-op returning it; re-activating a retired or
    /// revoked key is a `Conflict`.
    async fn put_active(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord>;
    async fn active_for_user(&self, user_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    async fn get(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    /// All of the user's keys, newest first.
    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>>;
    /// Unknown key → `NotFound`. Revoking is idempotent.
    async fn revoke(&self, user_id: &str, key_id: &str) -> StoreResult<PublicKeyRecord>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Idempotent on (sender id, client message id).
    async fn insert(&self, message: NewMessage) -> StoreResult<Inserted>;
    async fn get(&self, id: &str) -> StoreResult<Option<Message>>;
    /// The receiver's unread messages, oldest first.
    async fn unread_for(&self, receiver_id: &str, page: PageRequest) -> StoreResult<Page<Message>>;
    /// Both directions of one chat, ordered by (created_at, id).
    async fn history(
        &self,
        chat_id: &str,
        order: Order,
        page: PageRequest,
    ) -> StoreResult<Page<Message>>;
    /// Only the receiver may mark a message read (`Forbidden` otherwise; unknown id → `NotFound`).
    /// Idempotent: a second call returns the first `read_at`.
    async fn mark_read(&self, id: &str, caller_id: &str) -> StoreResult<Message>;
}
