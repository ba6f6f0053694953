//! Input rules enforced by the store itself, identically for every backend (documented in docs/storage.md).
//! Everything here returns `StoreError::BadRequest` with a message safe to show to the caller.

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::model::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, MAX_THROTTLE_KEY_BYTES, NewMessage, NewPublicKey, NewUser,
    StoreError, StoreResult,
};

pub const MIN_USERNAME_CHARS: usize = 3;
pub const MAX_USERNAME_CHARS: usize = 32;
const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// An argon2id PHC string is about 100 bytes; anything far larger is not one.
const MAX_PASSWORD_HASH_BYTES: usize = 512;
/// Same bound as the envelope's `senderId` / `messageId` (docs/envelope.md).
const MAX_REFERENCE_BYTES: usize = 128;
/// An SPKI PEM of a 4096-bit RSA key is about 800 bytes.
const MAX_PUBLIC_KEY_PEM_BYTES: usize = 4096;
const ALLOWED_KEY_BITS: [u32; 3] = [2048, 3072, 4096];

fn bad_request(message: impl Into<String>) -> StoreError {
    StoreError::BadRequest(message.into())
}

/// The canonical (NFC) form of a username, or `BadRequest` if it breaks the rules:
/// 3–32 Unicode scalar values after NFC; each one a letter or digit (`char::is_alphanumeric`), one of `_ . -`,
/// or a combining mark that follows another character (scripts such as Devanagari need them).
pub fn normalize_username(raw: &str) -> StoreResult<String> {
    let normalized: String = raw.nfc().collect();
    let length = normalized.chars().count();
    if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&length) {
        return Err(bad_request(format!(
            "username must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters"
        )));
    }
    for (position, character) in normalized.chars().enumerate() {
        let allowed = character.is_alphanumeric()
            || matches!(character, '_' | '.' | '-')
            || (position > 0 && is_combining_mark(character));
        if !allowed {
            return Err(bad_request(
                "username may contain only letters, digits, combining marks and _ . -",
            ));
        }
    }
    Ok(normalized)
}

/// The form on which usernames are unique and looked up: the lowercase of the NFC form, normalized again
/// because lowercasing can produce sequences that are no longer NFC.
pub fn fold_username(normalized: &str) -> String {
    normalized.to_lowercase().nfc().collect()
}

pub(crate) struct ValidUser {
    pub(crate) username: String,
    pub(crate) username_folded: String,
}

pub(crate) fn new_user(user: &NewUser) -> StoreResult<ValidUser> {
    let username = normalize_username(&user.username)?;
    if !user.password_hash.starts_with("$argon2id$")
        || user.password_hash.len() > MAX_PASSWORD_HASH_BYTES
    {
        // Catches a caller that would store a plain password or a hash of another scheme.
        return Err(bad_request("password_hash must be an argon2id PHC string"));
    }
    if let Some(display_name) = &user.display_name {
        let length = display_name.chars().count();
        if length == 0
            || length > MAX_DISPLAY_NAME_CHARS
            || display_name.chars().any(char::is_control)
        {
            return Err(bad_request(format!(
                "display_name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"
            )));
        }
    }
    let username_folded = fold_username(&username);
    Ok(ValidUser {
        username,
        username_folded,
    })
}

/// User ids and client message ids: 1–128 bytes of UTF-8 without control characters (the envelope's rule).
pub(crate) fn reference(field: &str, value: &str) -> StoreResult<()> {
    if value.is_empty() || value.len() > MAX_REFERENCE_BYTES || value.chars().any(char::is_control)
    {
        return Err(bad_request(format!(
            "{field} must be 1 to {MAX_REFERENCE_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// 64 lowercase hex characters: SHA-256 of the SPKI DER.
pub(crate) fn key_id(value: &str) -> StoreResult<()> {
    if value.len() != 64
        || !value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad_request("key_id must be 64 lowercase hex characters"));
    }
    Ok(())
}

pub(crate) fn new_public_key(key: &NewPublicKey) -> StoreResult<()> {
    reference("user_id", &key.user_id)?;
    key_id(&key.key_id)?;
    if !ALLOWED_KEY_BITS.contains(&key.bits) {
        return Err(bad_request("bits must be 2048, 3072 or 4096"));
    }
    let pem = key.public_key_pem.trim_start();
    // The store must never hold private key material: accept only an SPKI public key PEM.
    if !pem.starts_with("-----BEGIN PUBLIC KEY-----")
        || pem.contains("PRIVATE")
        || pem.len() > MAX_PUBLIC_KEY_PEM_BYTES
    {
        return Err(bad_request(
            "public_key_pem must be an SPKI PEM (BEGIN PUBLIC KEY)",
        ));
    }
    Ok(())
}

pub(crate) fn new_message(message: &NewMessage) -> StoreResult<()> {
    reference("sender_id", &message.sender_id)?;
    reference("receiver_id", &message.receiver_id)?;
    reference("client_message_id", &message.client_message_id)?;
    // MongoDB stores the envelope as a document, so every backend requires an object (the envelope always is).
    if !message.envelope.is_object() {
        return Err(bad_request("envelope must be a JSON object"));
    }
    Ok(())
}

/// The page size to use: `None` → the default; 0 or more than the maximum → `BadRequest`.
pub(crate) fn page_limit(limit: Option<u32>) -> StoreResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(limit) if (1..=MAX_PAGE_SIZE).contains(&limit) => Ok(limit),
        Some(_) => Err(bad_request(format!("limit must be 1 to {MAX_PAGE_SIZE}"))),
    }
}

/// Throttle counter keys: 1 to [`MAX_THROTTLE_KEY_BYTES`] bytes.
pub(crate) fn throttle_key(key: &str) -> StoreResult<()> {
    if key.is_empty() || key.len() > MAX_THROTTLE_KEY_BYTES {
        return Err(bad_request(format!(
            "throttle key must be 1 to {MAX_THROTTLE_KEY_BYTES} bytes"
        )));
    }
    Ok(())
}

/// Whether `value` has the shape of a chat id (`c_` + 64 lowercase hex); nothing else can name a chat.
pub(crate) fn is_chat_id(value: &str) -> bool {
    value.len() == 66
        && value.starts_with("c_")
        && value[2..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_nfc_normalized() {
        // "e" + COMBINING ACUTE ACCENT composes to "é".
        assert_eq!(
            normalize_username("Rene\u{301}e").ok(),
            Some("Ren\u{e9}e".to_owned())
        );
    }

    #[test]
    fn username_length_counts_characters_not_bytes() {
        assert!(normalize_username("ab").is_err());
        assert!(normalize_username("abc").is_ok());
        assert!(normalize_username(&"ж".repeat(32)).is_ok());
        assert!(normalize_username(&"ж".repeat(33)).is_err());
    }

    #[test]
    fn username_character_rules() {
        for good in ["alice", "Bob_1", "a.b-c", "日本語", "हिन्दी", "Ωmega"] {
            assert!(
                normalize_username(good).is_ok(),
                "{good} should be accepted"
            );
        }
        for bad in [
            "al ice",
            "al@ce",
            "zero\u{200b}width",
            "\u{301}abc",
            "tab\tx",
            "emoji😀",
        ] {
            assert!(
                matches!(normalize_username(bad), Err(StoreError::BadRequest(_))),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn folding_is_case_insensitive_across_scripts() {
        assert_eq!(fold_username("ALICE"), fold_username("alice"));
        assert_eq!(fold_username("ÄRGER"), fold_username("ärger"));
        assert_eq!(fold_username("ΩMEGA"), fold_username("ωmega"));
        assert_ne!(fold_username("alice"), fold_username("alicf"));
    }

    #[test]
    fn page_limits() {
        assert_eq!(page_limit(None).ok(), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(page_limit(Some(1)).ok(), Some(1));
        assert_eq!(page_limit(Some(MAX_PAGE_SIZE)).ok(), Some(MAX_PAGE_SIZE));
        assert!(matches!(
            page_limit(Some(0)),
            Err(StoreError::BadRequest(_))
        ));
        assert!(matches!(
            page_limit(Some(MAX_PAGE_SIZE + 1)),
            Err(StoreError::BadRequest(_))
        ));
    }

    #[test]
    fn public_keys_must_be_public() {
        let mut key = NewPublicKey {
            user_id: "u_1".into(),
            key_id: "a".repeat(64),
            public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            bits: 2048,
        };
        assert!(new_public_key(&key).is_ok());
        key.public_key_pem =
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".into();
        assert!(new_public_key(&key).is_err());
        key.public_key_pem = "-----BEGIN PUBLIC KEY-----\n-----BEGIN PRIVATE KEY-----\n".into();
        assert!(new_public_key(&key).is_err());
    }

    #[test]
    fn key_ids_are_lowercase_hex_sha256() {
        assert!(key_id(&"0f".repeat(32)).is_ok());
        assert!(key_id(&"0F".repeat(32)).is_err());
        assert!(key_id(&"0f".repeat(31)).is_err());
    }
}
