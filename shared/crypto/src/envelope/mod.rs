//! Envelopes v1 and v2: the JSON structure, its validation, and seal / open / verify (docs/envelope.md).
//! [`seal`] writes v2, which binds the signer's key id into the AAD; [`open`] reads both.

mod conversation;
mod rules;
mod seal;

use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::encoding::base64_bytes;
use crate::error::{CryptoError, Result};
use crate::keys::{KeyId, PrivateKey, PublicKey};

pub use conversation::{ConversationEntries, ConversationError, conversation_recipients};
use rules::invalid;
pub use seal::{open, random_message_id, seal};

/// The version [`seal`] writes.
pub const ENVELOPE_VERSION: u8 = 2;
/// Every version [`Envelope::from_json`] and [`open`] accept.
pub const SUPPORTED_VERSIONS: [u8; 2] = [1, 2];
pub const KEY_ALG: &str = "RSA-OAEP-256";
pub const CONTENT_ALG: &str = "A256GCM";
pub const SIGNATURE_ALG: &str = "PS256";
/// Largest plaintext one envelope may carry (1 MiB).
pub const MAX_PLAINTEXT_BYTES: usize = 1 << 20;
/// Most recipient entries (keys) one envelope may carry.
pub const MAX_RECIPIENTS: usize = 16;
/// Longest user id or message id, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 128;
/// Largest envelope JSON accepted by [`Envelope::from_json`] (1.5 MiB: 1 MiB of base64 ciphertext plus keys).
pub const MAX_ENVELOPE_BYTES: usize = 1_572_864;
/// Largest `createdAt` (2^53 − 1, so JavaScript numbers represent it exactly).
pub const MAX_CREATED_AT: u64 = (1 << 53) - 1;

const CONTENT_KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
const AAD_CONTEXT_V1: &[u8] = b"e2ee.envelope.v1";
const SIGNATURE_CONTEXT_V1: &[u8] = b"e2ee.signature.v1";
const AAD_CONTEXT_V2: &[u8] = b"e2ee.envelope.v2";
const SIGNATURE_CONTEXT_V2: &[u8] = b"e2ee.signature.v2";

/// One message, sealed: valid by construction. Only [`seal`], [`Envelope::from_json`], [`Envelope::from_parts`]
/// and deserialization (which validates, as `from_json` does) make one, so every rule of docs/envelope.md that
/// needs no key holds for every `Envelope`; the fields are read through accessors.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "EnvelopeParts")]
pub struct Envelope(EnvelopeParts);

/// The fields of an envelope as they are on the wire, unchecked: for tools and tests that take an envelope
/// apart ([`Envelope::into_parts`]) and put one together again ([`Envelope::from_parts`], which validates).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EnvelopeParts {
    pub version: u8,
    pub key_alg: String,
    pub content_alg: String,
    pub sender_id: String,
    pub message_id: String,
    pub created_at: u64,
    pub recipients: Vec<WrappedKey>,
    #[serde(with = "base64_bytes")]
    pub nonce: Vec<u8>,
    /// AES-GCM output: ciphertext followed by the 16-byte tag.
    #[serde(with = "base64_bytes")]
    pub ciphertext: Vec<u8>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub signature: Option<Signature>,
}

impl Serialize for Envelope {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> core::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl TryFrom<EnvelopeParts> for Envelope {
    type Error = CryptoError;

    fn try_from(parts: EnvelopeParts) -> Result<Self> {
        Envelope::from_parts(parts)
    }
}

/// The content key wrapped for one recipient key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WrappedKey {
    pub user_id: String,
    pub key_id: String,
    #[serde(with = "base64_bytes")]
    pub wrapped_key: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Signature {
    pub alg: String,
    pub key_id: String,
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
}

/// An optional field that, when present, must not be `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> core::result::Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// The authenticated metadata of an envelope (everything the AAD binds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub version: u8,
    pub sender_id: String,
    pub message_id: String,
    pub created_at: u64,
    pub recipients: Vec<RecipientId>,
    /// The key id of the signature, when the envelope is signed (verified or not: see [`Opened`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientId {
    pub user_id: String,
    pub key_id: String,
}

/// A recipient for [`seal`]: the user id and the key to wrap for.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub user_id: &'a str,
    pub key: &'a PublicKey,
}

/// Everything [`seal`] needs besides the plaintext.
#[derive(Debug, Clone, Copy)]
pub struct SealParams<'a> {
    pub sender_id: &'a str,
    pub message_id: &'a str,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    pub recipients: &'a [Recipient<'a>],
    pub sign_with: Option<&'a PrivateKey>,
}

/// The result of [`open`].
pub struct Opened {
    pub plaintext: Zeroizing<Vec<u8>>,
    pub header: Header,
    /// True only when a sender key was given and the signature verified against it.
    pub signature_verified: bool,
}

impl core::fmt::Debug for Opened {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext", &"[redacted]")
            .field("header", &self.header)
            .field("signature_verified", &self.signature_verified)
            .finish()
    }
}

impl Envelope {
    /// Parses and fully validates an envelope. Oversized input is rejected before parsing.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        if json.len() > MAX_ENVELOPE_BYTES {
            return Err(invalid(format!("larger than {MAX_ENVELOPE_BYTES} bytes")));
        }
        // serde's derived structs also accept JSON arrays (fields by position); the format allows objects only.
        let shape: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
        rules::check_objects(&shape)?;
        serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))
    }

    /// Checks `parts` against every rule of docs/envelope.md that needs no key.
    pub fn from_parts(parts: EnvelopeParts) -> Result<Self> {
        rules::validate(&parts)?;
        Ok(Envelope(parts))
    }

    /// The fields, to be changed and checked again with [`Envelope::from_parts`].
    pub fn into_parts(self) -> EnvelopeParts {
        self.0
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings, integers and byte vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// One of [`SUPPORTED_VERSIONS`].
    pub fn version(&self) -> u8 {
        self.0.version
    }

    pub fn sender_id(&self) -> &str {
        &self.0.sender_id
    }

    pub fn message_id(&self) -> &str {
        &self.0.message_id
    }

    /// Milliseconds since the Unix epoch, as the sender claims (authenticated by the AAD, not by the server).
    pub fn created_at(&self) -> u64 {
        self.0.created_at
    }

    /// 1 to [`MAX_RECIPIENTS`] entries with distinct key ids.
    pub fn recipients(&self) -> &[WrappedKey] {
        &self.0.recipients
    }

    pub fn nonce(&self) -> &[u8] {
        &self.0.nonce
    }

    /// AES-GCM output: ciphertext followed by the 16-byte tag.
    pub fn ciphertext(&self) -> &[u8] {
        &self.0.ciphertext
    }

    pub fn signature(&self) -> Option<&Signature> {
        self.0.signature.as_ref()
    }

    /// The authenticated metadata (what the AAD binds).
    pub fn header(&self) -> Header {
        Header {
            version: self.0.version,
            sender_id: self.0.sender_id.clone(),
            message_id: self.0.message_id.clone(),
            created_at: self.0.created_at,
            recipients: self
                .0
                .recipients
                .iter()
                .map(|r| RecipientId {
                    user_id: r.user_id.clone(),
                    key_id: r.key_id.clone(),
                })
                .collect(),
            signer_key_id: self.0.signature.as_ref().map(|s| s.key_id.clone()),
        }
    }

    /// The recipient entry for `key_id`, if the envelope was sealed for that key.
    pub fn recipient(&self, key_id: KeyId) -> Option<&WrappedKey> {
        let key_id = key_id.to_string();
        self.0.recipients.iter().find(|r| r.key_id == key_id)
    }
}
