//! Request and response bodies of the HTTP API (docs/openapi.yaml), shared by the server and the client so
//! the two cannot drift apart. JSON field names are camelCase; times are milliseconds since the Unix epoch.
//!
//! Requests reject unknown fields (the server must not silently ignore a misspelt option); responses accept
//! them (a newer server may add fields without breaking older clients).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

/// Every error response: `{"error":{"code":"...","message":"..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterRequest {
    pub username: String,
    pub password: Zeroizing<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterResponse {
    pub user_id: String,
    pub username: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: Zeroizing<String>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    pub token: Zeroizing<String>,
    pub token_type: String,
    pub expires_at: i64,
    pub user_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    pub user_id: String,
    pub username: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateKeysRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<usize>,
}

/// The one response that carries a private key (generated server-side, returned once, never stored).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedKeyResponse {
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub public_key: String,
    pub private_key: Zeroizing<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegisterKeyRequest {
    pub public_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Retired,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub public_key: String,
    pub status: KeyStatus,
    pub created_at: i64,
}

/// `GET /api/crypto/public-key/{userId}`: the active key, plus every key with `?all=true`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyResponse {
    pub user_id: String,
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub public_key: String,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyView>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EncryptRequest {
    pub receiver_id: String,
    pub message: Zeroizing<String>,
    #[serde(default)]
    pub sign: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Zeroizing<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptResponse {
    pub envelope: serde_json::Value,
    pub client_message_id: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DecryptRequest {
    /// Kept raw so the envelope parser sees the exact JSON (duplicate keys, shapes, sizes).
    pub envelope: Box<RawValue>,
    pub private_key: Zeroizing<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecryptResponse {
    /// The plaintext when it is UTF-8 text …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Zeroizing<String>>,
    /// … otherwise its base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_base64: Option<Zeroizing<String>>,
    pub header: serde_json::Value,
    pub signature_verified: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendRequest {
    pub receiver_id: String,
    /// Kept raw so the envelope parser sees the exact JSON (duplicate keys, shapes, sizes).
    pub envelope: Box<RawValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    pub message_id: String,
    pub chat_id: String,
    pub client_message_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub message_id: String,
    pub chat_id: String,
    pub sender_id: String,
    pub receiver_id: String,
    pub client_message_id: String,
    pub envelope: serde_json::Value,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadResponse {
    pub message_id: String,
    pub read_at: i64,
}
