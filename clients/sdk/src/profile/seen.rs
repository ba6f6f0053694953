//! `seen.json`: the signed messages already seen, for replay detection.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The verified messages this profile has seen: sender id → envelope message id → the server's message id
/// it was first delivered under. The same signed envelope delivered again under another server id is a
/// replay. Only the envelope's authenticated fields are keys; only verified messages are recorded (an
/// unsigned envelope anyone could seal must not be able to mark a real message as a replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenMessages {
    pub version: u32,
    pub messages: BTreeMap<String, BTreeMap<String, String>>,
}

impl Default for SeenMessages {
    fn default() -> Self {
        SeenMessages {
            version: 1,
            messages: BTreeMap::new(),
        }
    }
}

impl SeenMessages {
    /// The server message id `(sender_id, message_id)` was first seen under.
    pub fn first_seen(&self, sender_id: &str, message_id: &str) -> Option<&str> {
        self.messages
            .get(sender_id)?
            .get(message_id)
            .map(String::as_str)
    }

    /// Records a verified message; returns whether it was new.
    pub fn record(&mut self, sender_id: &str, message_id: &str, server_message_id: &str) -> bool {
        let by_sender = self.messages.entry(sender_id.to_owned()).or_default();
        if by_sender.contains_key(message_id) {
            return false;
        }
        by_sender.insert(message_id.to_owned(), server_message_id.to_owned());
        true
    }
}
