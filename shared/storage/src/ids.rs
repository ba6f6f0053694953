//! Server-assigned identifiers, the chat id derivation and the clock.

use crate::model::Millis;

/// `u_` + 32 lowercase hex characters (128 random bits from the thread-local CSPRNG).
pub(crate) fn new_user_id() -> String {
    random_id("u_")
}

/// `m_` + 32 lowercase hex characters (128 random bits from the thread-local CSPRNG).
pub(crate) fn new_message_id() -> String {
    random_id("m_")
}

fn random_id(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The 1:1 chat id is defined with the envelope format (docs/envelope.md, "Chat id"); one implementation.
pub use e2ee_crypto::chat_id;

/// Milliseconds since the Unix epoch. A clock before 1970 is treated as the epoch rather than an error: ordering
/// only needs to be monotonic per chat and per user, which the callers guarantee on top of this value.
pub(crate) fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| Millis::try_from(elapsed.as_millis()).unwrap_or(Millis::MAX))
        .unwrap_or(0)
}

/// A creation time that is strictly after `latest` (the newest related record), and otherwise "now".
/// Sequential writes therefore sort in the order they happened even within one millisecond.
pub(crate) fn created_after(latest: Option<Millis>) -> Millis {
    let now = now_millis();
    match latest {
        Some(latest) if latest >= now => latest.saturating_add(1),
        _ => now,
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn chat_id_is_symmetric_and_matches_the_specified_construction() {
        let expected = {
            let mut input = Vec::new();
            input.extend_from_slice(&1u32.to_be_bytes());
            input.extend_from_slice(b"a");
            input.extend_from_slice(&2u32.to_be_bytes());
            input.extend_from_slice(b"bc");
            format!("c_{}", hex::encode(Sha256::digest(&input)))
        };
        assert_eq!(chat_id("a", "bc"), expected);
        assert_eq!(chat_id("bc", "a"), expected);
        assert_eq!(expected.len(), 2 + 64);
    }

    #[test]
    fn chat_id_length_prefix_prevents_concatenation_collisions() {
        // Without the length prefix, ("ab", "c") and ("a", "bc") would hash the same bytes.
        assert_ne!(chat_id("ab", "c"), chat_id("a", "bc"));
    }

    #[test]
    fn chat_id_orders_by_utf8_bytes() {
        // 'é' (0xC3 0xA9) sorts after 'z' bytewise; swapping the arguments must not matter either way.
        assert_eq!(chat_id("é", "z"), chat_id("z", "é"));
    }

    #[test]
    fn random_ids_have_the_documented_shape() {
        for id in [new_user_id(), new_message_id()] {
            assert_eq!(id.len(), 34);
            assert!(id[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        }
        assert!(new_user_id().starts_with("u_"));
        assert!(new_message_id().starts_with("m_"));
        assert_ne!(new_message_id(), new_message_id());
    }

    #[test]
    fn created_after_is_strictly_later_than_a_future_latest() {
        let future = now_millis() + 10_000;
        assert_eq!(created_after(Some(future)), future + 1);
        let past = now_millis() - 10_000;
        assert!(created_after(Some(past)) > past);
    }
}
