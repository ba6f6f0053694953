//! Response bodies: the public JSON shapes of stored records (camelCase, times in ms since the epoch).

use e2ee_crypto::{KeyId, PublicKey};
use e2ee_storage::{KeyStatus, Message, Page, PublicKeyRecord};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub public_key: String,
    pub status: KeyStatus,
    pub created_at: i64,
}

impl From<&PublicKeyRecord> for KeyView {
    fn from(record: &PublicKeyRecord) -> Self {
        KeyView {
            key_id: record.key_id.clone(),
            fingerprint: KeyId::parse(&record.key_id)
                .map(|id| id.fingerprint())
                .unwrap_or_default(),
            bits: record.bits,
            public_key: record.public_key_pem.clone(),
            status: record.status,
            created_at: record.created_at,
        }
    }
}

/// The fingerprint of a parsed key, as shown next to its id.
pub fn fingerprint(key: &PublicKey) -> String {
    key.key_id().fingerprint()
}

#[derive(Serialize)]
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

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        MessageView {
            message_id: m.id,
            chat_id: m.chat_id,
            sender_id: m.sender_id,
            receiver_id: m.receiver_id,
            client_message_id: m.client_message_id,
            envelope: m.envelope,
            created_at: m.created_at,
            read_at: m.read_at,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagePage {
    pub messages: Vec<MessageView>,
    pub next_cursor: Option<String>,
}

impl From<Page<Message>> for MessagePage {
    fn from(page: Page<Message>) -> Self {
        MessagePage {
            messages: page.items.into_iter().map(MessageView::from).collect(),
            next_cursor: page.next_cursor,
        }
    }
}
