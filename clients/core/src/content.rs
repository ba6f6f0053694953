//! What an MLS application message carries (docs/mls.md, "Application messages"): one UTF-8 JSON object whose
//! `type` says what it is, so any client (the browser SDK too) reads and writes it in a few lines. Unknown
//! fields are ignored; an unknown `type` is reported as a message this client cannot show.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Content {
    /// `{"type":"text","text":"…"}`: a chat message.
    Text { text: String },
    /// `{"type":"leave"}`: the sender's user leaves the group. A member cannot commit its own removal
    /// (RFC 9420 §12.2), so a device of another user commits the removal of all the sender user's devices.
    Leave,
}

impl Content {
    pub fn encode(&self) -> Result<Vec<u8>, CoreError> {
        serde_json::to_vec(self).map_err(|e| CoreError::Encode(e.to_string()))
    }

    /// `None` for anything that is not a content object this client knows.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_is_a_json_object_tagged_by_type() {
        let text = Content::Text {
            text: "hi \"there\"".into(),
        };
        assert_eq!(
            text.encode().unwrap(),
            br#"{"type":"text","text":"hi \"there\""}"#
        );
        assert_eq!(Content::Leave.encode().unwrap(), br#"{"type":"leave"}"#);
        assert_eq!(
            Content::decode(br#"{"text":"a","type":"text","sentAt":1}"#),
            Some(Content::Text { text: "a".into() })
        );
        assert_eq!(
            Content::decode(br#"{"type":"reaction","emoji":"+1"}"#),
            None
        );
        assert_eq!(Content::decode(b"plain text"), None);
    }
}
