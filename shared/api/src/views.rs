//! Stored records → the response bodies of `e2ee-protocol`.

use e2ee_crypto::KeyId;
use e2ee_protocol::{KeyView, MessagePage, MessageView};
use e2ee_storage::{Message, Page, PublicKeyRecord};

pub fn key_view(record: &PublicKeyRecord) -> KeyView {
    KeyView {
        key_id: record.key_id.clone(),
        fingerprint: KeyId::parse(&record.key_id)
            .map(|id| id.fingerprint())
            .unwrap_or_default(),
        bits: record.bits,
        public_key: record.public_key_pem.clone(),
        status: record.status,
        created_at: record.created_at,
        retired_at: record.retired_at,
        revoked_at: record.revoked_at,
    }
}

fn message_view(m: Message) -> MessageView {
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

pub fn message_page(page: Page<Message>) -> MessagePage {
    MessagePage {
        messages: page.items.into_iter().map(message_view).collect(),
        next_cursor: page.next_cursor,
    }
}
