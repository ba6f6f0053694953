//! Identifiers every party agrees on: the reference rule for user and message ids, and the 1:1 chat id.

use sha2::{Digest, Sha256};

/// Longest user id, client message id or envelope id, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 128;

/// Longest device id, in bytes (ids are ASCII: see [`is_device_id`]).
pub const MAX_DEVICE_ID_BYTES: usize = 64;
/// Longest MLS signature public key accepted (Ed25519 keys are 32 bytes; P-521 keys, the largest of RFC 9420's
/// ciphersuites, 133).
pub const MAX_SIGNATURE_KEY_BYTES: usize = 256;

/// The device id rule (docs/mls.md): 1 to [`MAX_DEVICE_ID_BYTES`] of `A–Z a–z 0–9 _ -`, so never a `/`, which
/// separates the user id from the device id in an MLS credential.
pub fn is_device_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_DEVICE_ID_BYTES
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// Whether `value` has the shape of the user ids the server issues (`u_` + 32 lowercase hex). Routes that only
/// ever name accounts (key package claims, device lists) refuse anything else as a bad request; the general id
/// rule ([`check_id`]) stays what envelopes accept.
pub fn is_issued_user_id(value: &str) -> bool {
    value.len() == 34
        && value.starts_with("u_")
        && value[2..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Why a value is not a valid id (see [`check_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Empty, or longer than [`MAX_ID_BYTES`].
    Length,
    /// Contains an ASCII control character (U+0000–U+001F, U+007F).
    ControlCharacter,
}

/// The one rule for user ids and client message ids (docs/envelope.md, "JSON shape"): 1 to [`MAX_ID_BYTES`] bytes of
/// UTF-8 without ASCII control characters (U+0000–U+001F, U+007F; C1 controls are allowed, as they always
/// were in envelopes — displays sanitize them).
pub fn check_id(value: &str) -> Result<(), IdError> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        Err(IdError::Length)
    } else if value.chars().any(|c| c.is_ascii_control()) {
        Err(IdError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// The id of the 1:1 chat between users `a` and `b` (docs/envelope.md, "Chat id"): `c_` + lowercase hex of
/// `SHA-256(u32be(len(min)) || min || u32be(len(max)) || max)`, min/max by UTF-8 bytes. Symmetric.
pub fn chat_id(a: &str, b: &str) -> String {
    let (low, high) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    let mut hasher = Sha256::new();
    for part in [low, high] {
        // Ids are at most a few hundred bytes; a longer one is hashed under a saturated length, still distinct.
        let length = u32::try_from(part.len()).unwrap_or(u32::MAX);
        hasher.update(length.to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(2 + 64);
    id.push_str("c_");
    for byte in digest {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

/// Whether `value` has the shape of a [`chat_id`]: `c_` + 64 lowercase hex characters.
pub fn is_chat_id(value: &str) -> bool {
    value.len() == 66
        && value.starts_with("c_")
        && value[2..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod issued_user_id_tests {
    use super::is_issued_user_id;

    #[test]
    fn issued_user_ids_are_u_and_32_lowercase_hex() {
        assert!(is_issued_user_id("u_0123456789abcdef0123456789abcdef"));
        for other in [
            "bob",
            "u_0123",
            "u_0123456789ABCDEF0123456789abcdef",
            "x_0123456789abcdef0123456789abcdef",
        ] {
            assert!(!is_issued_user_id(other), "{other}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_id_is_symmetric_and_matches_the_specified_construction() {
        let mut input = Vec::new();
        input.extend_from_slice(&1u32.to_be_bytes());
        input.extend_from_slice(b"a");
        input.extend_from_slice(&2u32.to_be_bytes());
        input.extend_from_slice(b"bc");
        let digest = Sha256::digest(&input);
        let expected: String = "c_"
            .chars()
            .chain(
                digest
                    .iter()
                    .flat_map(|b| format!("{b:02x}").chars().collect::<Vec<_>>()),
            )
            .collect();
        assert_eq!(chat_id("a", "bc"), expected);
        assert_eq!(chat_id("bc", "a"), expected);
        assert!(is_chat_id(&expected));
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
    fn chat_id_shape_is_checked_exactly() {
        assert!(!is_chat_id("c_"));
        assert!(!is_chat_id(&chat_id("a", "b").to_uppercase()));
        assert!(!is_chat_id(&format!("x{}", &chat_id("a", "b")[1..])));
    }

    #[test]
    fn ids_reject_ascii_controls_and_bad_lengths() {
        assert_eq!(check_id("u_alice"), Ok(()));
        assert_eq!(check_id(&"é".repeat(64)), Ok(()));
        assert_eq!(check_id(""), Err(IdError::Length));
        assert_eq!(
            check_id(&"a".repeat(MAX_ID_BYTES + 1)),
            Err(IdError::Length)
        );
        for control in ['\0', '\n', '\u{1f}', '\u{7f}'] {
            assert_eq!(
                check_id(&format!("a{control}b")),
                Err(IdError::ControlCharacter)
            );
        }
        for allowed in ['\u{80}', '\u{85}', '\u{9f}', '\u{a0}'] {
            assert_eq!(check_id(&format!("a{allowed}b")), Ok(()));
        }
    }
}
