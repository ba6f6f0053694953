//! The rules of docs/envelope.md that need no key, checked on every envelope this crate builds or parses.

use std::collections::HashSet;

use super::{
    CONTENT_ALG, EnvelopeParts, KEY_ALG, MAX_CREATED_AT, MAX_ID_BYTES, MAX_PLAINTEXT_BYTES,
    MAX_RECIPIENTS, NONCE_BYTES, SIGNATURE_ALG, SUPPORTED_VERSIONS, TAG_BYTES,
};
use crate::error::{CryptoError, Result};
use crate::keys::KeyId;

pub(super) fn invalid(reason: impl Into<String>) -> CryptoError {
    CryptoError::InvalidEnvelope(reason.into())
}

pub(super) fn validate(envelope: &EnvelopeParts) -> Result<()> {
    if !SUPPORTED_VERSIONS.contains(&envelope.version) {
        return Err(invalid(format!("unsupported version {}", envelope.version)));
    }
    if envelope.key_alg != KEY_ALG {
        return Err(invalid("keyAlg must be RSA-OAEP-256"));
    }
    if envelope.content_alg != CONTENT_ALG {
        return Err(invalid("contentAlg must be A256GCM"));
    }
    check_id("senderId", &envelope.sender_id)?;
    check_id("messageId", &envelope.message_id)?;
    if envelope.created_at > MAX_CREATED_AT {
        return Err(invalid("createdAt is out of range"));
    }
    if envelope.recipients.is_empty() || envelope.recipients.len() > MAX_RECIPIENTS {
        return Err(invalid(format!(
            "recipients must have 1 to {MAX_RECIPIENTS} entries"
        )));
    }
    let mut seen = HashSet::with_capacity(envelope.recipients.len());
    for recipient in &envelope.recipients {
        check_id("recipients[].userId", &recipient.user_id)?;
        KeyId::parse(&recipient.key_id)
            .map_err(|_| invalid("recipients[].keyId must be 64 lowercase hex"))?;
        if !seen.insert(recipient.key_id.as_str()) {
            return Err(invalid("duplicate recipient keyId"));
        }
        if !is_rsa_length(recipient.wrapped_key.len()) {
            return Err(invalid("recipients[].wrappedKey has an impossible length"));
        }
    }
    if envelope.nonce.len() != NONCE_BYTES {
        return Err(invalid("nonce must be 12 bytes"));
    }
    if envelope.ciphertext.len() < TAG_BYTES
        || envelope.ciphertext.len() > MAX_PLAINTEXT_BYTES + TAG_BYTES
    {
        return Err(invalid("ciphertext length is out of range"));
    }
    if let Some(signature) = &envelope.signature {
        if signature.alg != SIGNATURE_ALG {
            return Err(invalid("signature.alg must be PS256"));
        }
        KeyId::parse(&signature.key_id)
            .map_err(|_| invalid("signature.keyId must be 64 lowercase hex"))?;
        if !is_rsa_length(signature.value.len()) {
            return Err(invalid("signature.value has an impossible length"));
        }
    }
    Ok(())
}

/// The envelope, each recipient entry and the signature must be JSON objects.
pub(super) fn check_objects(value: &serde_json::Value) -> Result<()> {
    let object = value
        .as_object()
        .ok_or_else(|| invalid("the envelope must be a JSON object"))?;
    let recipients = object
        .get("recipients")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    if !recipients.iter().all(serde_json::Value::is_object) {
        return Err(invalid("recipients[] entries must be JSON objects"));
    }
    if object.get("signature").is_some_and(|s| !s.is_object()) {
        return Err(invalid("signature must be a JSON object"));
    }
    Ok(())
}

fn is_rsa_length(len: usize) -> bool {
    matches!(len, 256 | 384 | 512)
}

/// The id rule of docs/envelope.md ("Ids"), the same as the server's for user and message ids
/// (`e2ee_protocol::ids::check_id`; tests/envelope.rs compares the two on every code point).
fn check_id(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(invalid(format!("{name} must be 1 to {MAX_ID_BYTES} bytes")));
    }
    if value.chars().any(|c| c.is_ascii_control()) {
        return Err(invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(())
}
