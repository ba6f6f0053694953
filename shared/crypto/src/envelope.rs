//! Envelopes v1 and v2: the JSON structure, its validation, and seal / open / verify (docs/envelope.md).
//! [`seal`] writes v2, which binds the signer's key id into the AAD; [`open`] reads both.

use std::collections::HashSet;

use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize};
use zeroize::Zeroizing;

use crate::encoding::{Canonical, base64_bytes};
use crate::error::{CryptoError, Result};
use crate::hazmat;
use crate::keys::{KeyId, PrivateKey, PublicKey};

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

/// One message, sealed. Construct it with [`seal`] or [`Envelope::from_json`]; both guarantee it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Envelope {
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
        let envelope: Envelope =
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
        // serde's derived structs also accept JSON arrays (fields by position); the format allows objects only.
        let shape: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| invalid(e.to_string()))?;
        check_objects(&shape)?;
        envelope.validate()?;
        Ok(envelope)
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings, integers and byte vectors cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks every rule of docs/envelope.md that does not need a key.
    pub fn validate(&self) -> Result<()> {
        if !SUPPORTED_VERSIONS.contains(&self.version) {
            return Err(invalid(format!("unsupported version {}", self.version)));
        }
        if self.key_alg != KEY_ALG {
            return Err(invalid("keyAlg must be RSA-OAEP-256"));
        }
        if self.content_alg != CONTENT_ALG {
            return Err(invalid("contentAlg must be A256GCM"));
        }
        check_id("senderId", &self.sender_id)?;
        check_id("messageId", &self.message_id)?;
        if self.created_at > MAX_CREATED_AT {
            return Err(invalid("createdAt is out of range"));
        }
        if self.recipients.is_empty() || self.recipients.len() > MAX_RECIPIENTS {
            return Err(invalid(format!(
                "recipients must have 1 to {MAX_RECIPIENTS} entries"
            )));
        }
        let mut seen = HashSet::with_capacity(self.recipients.len());
        for recipient in &self.recipients {
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
        if self.nonce.len() != NONCE_BYTES {
            return Err(invalid("nonce must be 12 bytes"));
        }
        if self.ciphertext.len() < TAG_BYTES
            || self.ciphertext.len() > MAX_PLAINTEXT_BYTES + TAG_BYTES
        {
            return Err(invalid("ciphertext length is out of range"));
        }
        if let Some(signature) = &self.signature {
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

    /// The canonical header bytes bound as AES-GCM additional data. In v2 they end with the signer's key id
    /// (an empty field when unsigned), so removing, adding or swapping a signature makes opening fail.
    pub fn aad(&self) -> Vec<u8> {
        self.aad_for_signer(self.signature.as_ref().map(|s| s.key_id.as_str()))
    }

    fn aad_for_signer(&self, signer_key_id: Option<&str>) -> Vec<u8> {
        let context = if self.version == 1 {
            AAD_CONTEXT_V1
        } else {
            AAD_CONTEXT_V2
        };
        let mut out = Canonical::with_capacity(200 + self.recipients.len() * 100);
        out.field(context)
            .field(self.key_alg.as_bytes())
            .field(self.content_alg.as_bytes())
            .field(self.sender_id.as_bytes())
            .field(self.message_id.as_bytes())
            .u64(self.created_at)
            .u32(self.recipients.len() as u32);
        for recipient in &self.recipients {
            out.field(recipient.user_id.as_bytes())
                .field(recipient.key_id.as_bytes());
        }
        if self.version != 1 {
            out.field(signer_key_id.unwrap_or_default().as_bytes());
        }
        out.into_bytes()
    }

    fn signature_input(&self, signer_key_id: &str) -> Vec<u8> {
        let context = if self.version == 1 {
            SIGNATURE_CONTEXT_V1
        } else {
            SIGNATURE_CONTEXT_V2
        };
        let wrapped: usize = self
            .recipients
            .iter()
            .map(|r| r.wrapped_key.len() + 4)
            .sum();
        let mut out = Canonical::with_capacity(256 + self.ciphertext.len() + wrapped);
        out.field(context)
            .field(&self.aad_for_signer(Some(signer_key_id)))
            .field(signer_key_id.as_bytes())
            .field(&self.nonce)
            .field(&self.ciphertext);
        for recipient in &self.recipients {
            out.field(&recipient.wrapped_key);
        }
        out.into_bytes()
    }

    pub fn header(&self) -> Header {
        Header {
            version: self.version,
            sender_id: self.sender_id.clone(),
            message_id: self.message_id.clone(),
            created_at: self.created_at,
            recipients: self
                .recipients
                .iter()
                .map(|r| RecipientId {
                    user_id: r.user_id.clone(),
                    key_id: r.key_id.clone(),
                })
                .collect(),
            signer_key_id: self.signature.as_ref().map(|s| s.key_id.clone()),
        }
    }

    /// The recipient entry for `key_id`, if the envelope was sealed for that key.
    pub fn recipient(&self, key_id: KeyId) -> Option<&WrappedKey> {
        let key_id = key_id.to_string();
        self.recipients.iter().find(|r| r.key_id == key_id)
    }

    /// Checks the sender signature against `sender_key` without decrypting anything (the server does this).
    /// A missing signature, a signature by another key or an invalid one are all [`CryptoError::BadSignature`].
    pub fn verify_signature(&self, sender_key: &PublicKey) -> Result<()> {
        let signature = self.signature.as_ref().ok_or(CryptoError::BadSignature)?;
        if signature.key_id != sender_key.key_id().to_string() {
            return Err(CryptoError::BadSignature);
        }
        if signature.value.len() != sender_key.size().bytes() {
            return Err(CryptoError::BadSignature);
        }
        hazmat::pss_verify(
            sender_key,
            &self.signature_input(&signature.key_id),
            &signature.value,
        )
    }
}

fn invalid(reason: impl Into<String>) -> CryptoError {
    CryptoError::InvalidEnvelope(reason.into())
}

/// The envelope, each recipient entry and the signature must be JSON objects.
fn check_objects(value: &serde_json::Value) -> Result<()> {
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

/// The id of the 1:1 chat between users `a` and `b` (docs/envelope.md, "Chat id"): `c_` + lowercase hex of
/// `SHA-256(field(min) || field(max))`, min/max by UTF-8 bytes. Symmetric in its arguments.
pub fn chat_id(a: &str, b: &str) -> String {
    use sha2::{Digest, Sha256};
    let (low, high) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    let mut input = Canonical::with_capacity(8 + low.len() + high.len());
    input.field(low.as_bytes()).field(high.as_bytes());
    let digest = Sha256::digest(input.into_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("c_{hex}")
}

/// Random message id for callers that have none: 32 lowercase hex characters (128 bits).
pub fn random_message_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Encrypts `plaintext` for every recipient key and optionally signs the result.
pub fn seal(plaintext: &[u8], params: &SealParams<'_>) -> Result<Envelope> {
    if plaintext.len() > MAX_PLAINTEXT_BYTES {
        return Err(CryptoError::PlaintextTooLarge {
            max: MAX_PLAINTEXT_BYTES,
        });
    }
    let mut content_key = Zeroizing::new([0u8; CONTENT_KEY_BYTES]);
    let mut nonce = [0u8; NONCE_BYTES];
    let mut rng = rand::rng();
    rng.fill_bytes(content_key.as_mut());
    rng.fill_bytes(&mut nonce);

    let recipients = params
        .recipients
        .iter()
        .map(|recipient| {
            let wrapped_key = hazmat::oaep_wrap(recipient.key, content_key.as_ref())?;
            Ok(WrappedKey {
                user_id: recipient.user_id.to_owned(),
                key_id: recipient.key.key_id().to_string(),
                wrapped_key,
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let mut envelope = Envelope {
        version: ENVELOPE_VERSION,
        key_alg: KEY_ALG.to_owned(),
        content_alg: CONTENT_ALG.to_owned(),
        sender_id: params.sender_id.to_owned(),
        message_id: params.message_id.to_owned(),
        created_at: params.created_at,
        recipients,
        nonce: nonce.to_vec(),
        ciphertext: Vec::new(),
        signature: None,
    };
    // Validate the header before spending work on it: bad ids, too many or duplicate recipients.
    envelope.ciphertext = vec![0; TAG_BYTES];
    envelope.validate().map_err(|e| match e {
        CryptoError::InvalidEnvelope(reason) => CryptoError::InvalidInput(reason),
        other => other,
    })?;

    let signer_key_id = params.sign_with.map(|signer| signer.key_id().to_string());
    envelope.ciphertext = hazmat::aes_gcm_seal(
        &content_key,
        &nonce,
        plaintext,
        &envelope.aad_for_signer(signer_key_id.as_deref()),
    )?;

    if let (Some(signer), Some(key_id)) = (params.sign_with, signer_key_id) {
        let value = hazmat::pss_sign(signer, &envelope.signature_input(&key_id))?;
        envelope.signature = Some(Signature {
            alg: SIGNATURE_ALG.to_owned(),
            key_id,
            value,
        });
    }
    Ok(envelope)
}

/// Decrypts an envelope with the reader's private key. With `verify_with`, the sender signature must verify
/// against that key first (so a forged envelope costs no private-key operation).
pub fn open(
    envelope: &Envelope,
    key: &PrivateKey,
    verify_with: Option<&PublicKey>,
) -> Result<Opened> {
    envelope.validate()?;
    let entry = envelope
        .recipient(key.key_id())
        .ok_or(CryptoError::NotARecipient)?;
    if let Some(sender_key) = verify_with {
        envelope.verify_signature(sender_key)?;
    }
    let content_key = hazmat::oaep_unwrap(key, &entry.wrapped_key)?;
    let content_key: &[u8; CONTENT_KEY_BYTES] = content_key
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::CannotDecrypt)?;
    let plaintext = hazmat::aes_gcm_open(
        content_key,
        &envelope.nonce,
        &envelope.ciphertext,
        &envelope.aad(),
    )?;
    Ok(Opened {
        plaintext,
        header: envelope.header(),
        signature_verified: verify_with.is_some(),
    })
}
