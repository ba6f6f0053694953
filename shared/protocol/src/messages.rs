//! Messages: the server-assisted encrypt/decrypt helpers, sending, pages of messages, read receipts.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

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
