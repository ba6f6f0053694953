//! Server-assigned identifiers and the clock. (The chat id is `e2ee_protocol::chat_id`, docs/envelope.md.)

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

/// Whether `id` has the shape of a message id made by [`new_message_id`].
pub(crate) fn is_message_id(id: &str) -> bool {
    id.strip_prefix("m_")
        .is_some_and(|digits| digits.len() == 32 && is_lower_hex(digits))
}

/// Only `0-9a-f` (and not empty).
pub(crate) fn is_lower_hex(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

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
    use super::*;

    #[test]
    fn random_ids_have_the_documented_shape() {
        for id in [new_user_id(), new_message_id()] {
            assert_eq!(id.len(), 34);
            assert!(id[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        }
        assert!(new_user_id().starts_with("u_"));
        assert!(new_message_id().starts_with("m_"));
        assert_ne!(new_message_id(), new_message_id());
        assert!(is_message_id(&new_message_id()));
        assert!(!is_message_id(&new_user_id()));
        assert!(!is_message_id(&new_message_id().to_uppercase()));
    }

    #[test]
    fn created_after_is_strictly_later_than_a_future_latest() {
        let future = now_millis() + 10_000;
        assert_eq!(created_after(Some(future)), future + 1);
        let past = now_millis() - 10_000;
        assert!(created_after(Some(past)) > past);
    }
}
