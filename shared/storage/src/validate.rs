//! Input rules enforced by the store itself, identically for every backend (documented in docs/storage.md).
//! Everything here returns `StoreError::Invalid` naming the field, with a reason safe to show to the caller.

use e2ee_protocol::ids::{
    MAX_DEVICE_ID_BYTES, MAX_ID_BYTES, MAX_SIGNATURE_KEY_BYTES, check_id, is_device_id,
};
use e2ee_protocol::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

use crate::devices::{
    DeviceCertificate, LINK_PROOF_BYTES, MAX_CERTIFICATE_SIGNATURE_BYTES, MAX_KEY_PACKAGE_BATCH,
    MAX_KEY_PACKAGE_BYTES, MAX_KEY_PACKAGE_REF_BYTES, NewDevice, NewKeyPackage,
};
use crate::error::{StoreError, StoreResult};
use crate::ids::is_lower_hex;
use crate::model::{
    KeyEndorsement, MAX_ENDORSEMENT_SIGNATURE_BYTES, MAX_THROTTLE_KEY_BYTES, Millis, NewMessage,
    NewPublicKey, NewUser,
};

const MIN_USERNAME_CHARS: usize = 3;
const MAX_USERNAME_CHARS: usize = 32;
const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// An argon2id PHC string is about 100 bytes; anything far larger is not one.
const MAX_PASSWORD_HASH_BYTES: usize = 512;
/// An SPKI PEM of a 4096-bit RSA key is about 800 bytes.
const MAX_PUBLIC_KEY_PEM_BYTES: usize = 4096;
const ALLOWED_KEY_BITS: [u32; 3] = [2048, 3072, 4096];

/// The canonical (NFC) form of a username, or `Invalid` (`username`) if it breaks the rules:
/// 3–32 Unicode scalar values after NFC; each one a letter or digit (`char::is_alphanumeric`), one of `_ . -`,
/// or a combining mark that follows another character (scripts such as Devanagari need them).
pub fn normalize_username(raw: &str) -> StoreResult<String> {
    let normalized: String = raw.nfc().collect();
    let length = normalized.chars().count();
    if !(MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&length) {
        return Err(StoreError::invalid(
            "username",
            format!("username must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters"),
        ));
    }
    for (position, character) in normalized.chars().enumerate() {
        let allowed = character.is_alphanumeric()
            || matches!(character, '_' | '.' | '-')
            || (position > 0 && is_combining_mark(character));
        if !allowed {
            return Err(StoreError::invalid(
                "username",
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
    // Catches a caller that would store a plain password or a hash of another scheme.
    let argon2id = user.password_hash.starts_with("$argon2id$")
        && user.password_hash.len() <= MAX_PASSWORD_HASH_BYTES;
    let reason = format_args!("password_hash must be an argon2id PHC string");
    require(argon2id, "password_hash", reason)?;
    if let Some(name) = &user.display_name {
        display_name(name)?;
    }
    let username_folded = fold_username(&username);
    Ok(ValidUser {
        username,
        username_folded,
    })
}

/// A user's or a device's display name: 1 to 64 characters without control characters.
fn display_name(name: &str) -> StoreResult<()> {
    let length = name.chars().count();
    let valid =
        (1..=MAX_DISPLAY_NAME_CHARS).contains(&length) && !name.chars().any(char::is_control);
    let reason = format_args!(
        "display_name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters without control characters"
    );
    require(valid, "display_name", reason)
}

/// A user id and a device id (`e2ee_protocol::ids::is_device_id`).
pub(crate) fn device_ref(user_id: &str, device_id: &str) -> StoreResult<()> {
    reference("user_id", user_id)?;
    require(
        is_device_id(device_id),
        "device_id",
        format_args!("device_id must be 1 to {MAX_DEVICE_ID_BYTES} of A-Z a-z 0-9 _ -"),
    )
}

pub(crate) fn certificate(certificate: &DeviceCertificate) -> StoreResult<()> {
    let valid = certificate.issuer_key_id.len() == 64
        && is_lower_hex(&certificate.issuer_key_id)
        && !certificate.signature.is_empty()
        && certificate.signature.len() <= MAX_CERTIFICATE_SIGNATURE_BYTES;
    require(
        valid,
        "certificate",
        format_args!(
            "certificate needs a 64-hex issuer key id and a signature of 1 to {MAX_CERTIFICATE_SIGNATURE_BYTES} bytes"
        ),
    )?;
    require(
        certificate
            .link_proof
            .as_ref()
            .is_none_or(|proof| proof.len() == LINK_PROOF_BYTES),
        "link_proof",
        format_args!("a link proof has {LINK_PROOF_BYTES} bytes"),
    )
}

pub(crate) fn new_device(device: &NewDevice) -> StoreResult<()> {
    device_ref(&device.user_id, &device.device_id)?;
    display_name(&device.display_name)?;
    let key =
        !device.signature_key.is_empty() && device.signature_key.len() <= MAX_SIGNATURE_KEY_BYTES;
    require(
        key,
        "signature_key",
        format_args!("signature_key must be 1 to {MAX_SIGNATURE_KEY_BYTES} bytes"),
    )?;
    device.certificate.as_ref().map_or(Ok(()), certificate)
}

/// 1 to `MAX_KEY_PACKAGE_BATCH` packages, each with a reference, a bounded message and a lifetime beyond `now`.
pub(crate) fn key_packages(packages: &[NewKeyPackage], now: Millis) -> StoreResult<()> {
    require(
        (1..=MAX_KEY_PACKAGE_BATCH).contains(&packages.len()),
        "key_packages",
        format_args!("upload 1 to {MAX_KEY_PACKAGE_BATCH} key packages at a time"),
    )?;
    for package in packages {
        let valid = (1..=MAX_KEY_PACKAGE_REF_BYTES).contains(&package.key_package_ref.len())
            && (1..=MAX_KEY_PACKAGE_BYTES).contains(&package.message.len());
        require(
            valid,
            "key_packages",
            format_args!("a key package is 1 to {MAX_KEY_PACKAGE_BYTES} bytes with a reference"),
        )?;
        require(
            package.not_after > now,
            "key_packages",
            format_args!("a key package has expired"),
        )?;
    }
    Ok(())
}

/// User ids and client message ids (user ids referenced by keys and messages, client message ids): the one id
/// rule every party applies, `e2ee_protocol::ids::check_id` (1 to `MAX_ID_BYTES` = 128 bytes of UTF-8 without
/// control characters, as that function defines them).
pub(crate) fn reference(field: &'static str, value: &str) -> StoreResult<()> {
    check_id(value).map_err(|_| {
        StoreError::invalid(
            field,
            format!("{field} must be 1 to {MAX_ID_BYTES} bytes without control characters"),
        )
    })
}

/// `Ok` when `valid`, else `Invalid` for `field` with `reason` (formatted only then).
fn require(valid: bool, field: &'static str, reason: std::fmt::Arguments<'_>) -> StoreResult<()> {
    if valid {
        Ok(())
    } else {
        Err(StoreError::invalid(field, reason.to_string()))
    }
}

/// 64 lowercase hex characters: SHA-256 of the SPKI DER.
pub(crate) fn key_id(value: &str) -> StoreResult<()> {
    let valid = value.len() == 64 && is_lower_hex(value);
    require(
        valid,
        "key_id",
        format_args!("key_id must be 64 lowercase hex characters"),
    )
}

pub(crate) fn new_public_key(key: &NewPublicKey) -> StoreResult<()> {
    reference("user_id", &key.user_id)?;
    key_id(&key.key_id)?;
    let bits = ALLOWED_KEY_BITS.contains(&key.bits);
    require(
        bits,
        "bits",
        format_args!("bits must be 2048, 3072 or 4096"),
    )?;
    let pem = key.public_key_pem.trim_start();
    // The store must never hold private key material: accept only an SPKI public key PEM.
    let public = pem.starts_with("-----BEGIN PUBLIC KEY-----")
        && !pem.contains("PRIVATE")
        && pem.len() <= MAX_PUBLIC_KEY_PEM_BYTES;
    require(
        public,
        "public_key_pem",
        format_args!("public_key_pem must be an SPKI PEM (BEGIN PUBLIC KEY)"),
    )?;
    key.endorsement.as_ref().map_or(Ok(()), endorsement)
}

fn endorsement(endorsement: &KeyEndorsement) -> StoreResult<()> {
    let valid = endorsement.key_id.len() == 64
        && is_lower_hex(&endorsement.key_id)
        && endorsement.created_at >= 0
        && !endorsement.signature.is_empty()
        && endorsement.signature.len() <= MAX_ENDORSEMENT_SIGNATURE_BYTES;
    require(
        valid,
        "endorsement",
        format_args!(
            "endorsement needs a 64-hex key id, a time of 0 or later and a signature of 1 to {MAX_ENDORSEMENT_SIGNATURE_BYTES} bytes"
        ),
    )
}

pub(crate) fn new_message(message: &NewMessage) -> StoreResult<()> {
    reference("sender_id", &message.sender_id)?;
    reference("receiver_id", &message.receiver_id)?;
    reference("client_message_id", &message.client_message_id)?;
    // MongoDB stores the envelope as a document, so every backend requires an object (the envelope always is).
    let object = message.envelope.is_object();
    require(
        object,
        "envelope",
        format_args!("envelope must be a JSON object"),
    )
}

/// The page size to use: `None` → the default; 0 or more than the maximum → `Invalid` (`limit`).
pub(crate) fn page_limit(limit: Option<u32>) -> StoreResult<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    let valid = (1..=MAX_PAGE_SIZE).contains(&limit);
    require(
        valid,
        "limit",
        format_args!("limit must be 1 to {MAX_PAGE_SIZE}"),
    )?;
    Ok(limit)
}

/// Throttle counter keys: 1 to [`MAX_THROTTLE_KEY_BYTES`] bytes.
pub(crate) fn throttle_key(key: &str) -> StoreResult<()> {
    let valid = !key.is_empty() && key.len() <= MAX_THROTTLE_KEY_BYTES;
    let reason = format_args!("throttle key must be 1 to {MAX_THROTTLE_KEY_BYTES} bytes");
    require(valid, "throttle_key", reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_invalid<T>(result: StoreResult<T>, expected: &str) -> bool {
        matches!(result, Err(StoreError::Invalid { field, .. }) if field == expected)
    }

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
                is_invalid(normalize_username(bad), "username"),
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
        assert!(is_invalid(page_limit(Some(0)), "limit"));
        assert!(is_invalid(page_limit(Some(MAX_PAGE_SIZE + 1)), "limit"));
    }

    #[test]
    fn references_follow_the_shared_id_rule() {
        assert!(reference("user_id", "u_alice").is_ok());
        assert!(reference("user_id", &"a".repeat(MAX_ID_BYTES)).is_ok());
        for bad in [String::new(), "a".repeat(MAX_ID_BYTES + 1), "a\nb".into()] {
            assert!(
                is_invalid(reference("sender_id", &bad), "sender_id"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn public_keys_must_be_public() {
        let mut key = NewPublicKey {
            user_id: "u_1".into(),
            key_id: "a".repeat(64),
            public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            bits: 2048,
            endorsement: None,
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
