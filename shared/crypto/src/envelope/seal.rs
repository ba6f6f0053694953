//! Sealing, opening and verifying: the canonical AAD and signature input, AES-256-GCM under a fresh content key
//! wrapped with RSA-OAEP-256 per recipient, RSA-PSS signatures.

use rand::Rng;
use zeroize::Zeroizing;

use super::{
    AAD_CONTEXT_V1, AAD_CONTEXT_V2, CONTENT_ALG, CONTENT_KEY_BYTES, ENVELOPE_VERSION, Envelope,
    EnvelopeParts, KEY_ALG, MAX_PLAINTEXT_BYTES, NONCE_BYTES, Opened, SIGNATURE_ALG,
    SIGNATURE_CONTEXT_V1, SIGNATURE_CONTEXT_V2, SealParams, Signature, TAG_BYTES, WrappedKey,
    rules,
};
use crate::encoding::Canonical;
use crate::error::{CryptoError, Result};
use crate::hazmat;
use crate::keys::{PrivateKey, PublicKey};

impl Envelope {
    /// The canonical header bytes bound as AES-GCM additional data. In v2 they end with the signer's key id
    /// (an empty field when unsigned), so removing, adding or swapping a signature makes opening fail.
    pub fn aad(&self) -> Vec<u8> {
        self.aad_for_signer(self.0.signature.as_ref().map(|s| s.key_id.as_str()))
    }

    fn aad_for_signer(&self, signer_key_id: Option<&str>) -> Vec<u8> {
        let context = if self.0.version == 1 {
            AAD_CONTEXT_V1
        } else {
            AAD_CONTEXT_V2
        };
        let mut out = Canonical::with_capacity(200 + self.0.recipients.len() * 100);
        out.field(context)
            .field(self.0.key_alg.as_bytes())
            .field(self.0.content_alg.as_bytes())
            .field(self.0.sender_id.as_bytes())
            .field(self.0.message_id.as_bytes())
            .u64(self.0.created_at)
            .u32(self.0.recipients.len() as u32);
        for recipient in &self.0.recipients {
            out.field(recipient.user_id.as_bytes())
                .field(recipient.key_id.as_bytes());
        }
        if self.0.version != 1 {
            out.field(signer_key_id.unwrap_or_default().as_bytes());
        }
        out.into_bytes()
    }

    fn signature_input(&self, signer_key_id: &str) -> Vec<u8> {
        let context = if self.0.version == 1 {
            SIGNATURE_CONTEXT_V1
        } else {
            SIGNATURE_CONTEXT_V2
        };
        let wrapped: usize = self
            .recipients()
            .iter()
            .map(|r| r.wrapped_key.len() + 4)
            .sum();
        let mut out = Canonical::with_capacity(256 + self.0.ciphertext.len() + wrapped);
        out.field(context)
            .field(&self.aad_for_signer(Some(signer_key_id)))
            .field(signer_key_id.as_bytes())
            .field(&self.0.nonce)
            .field(&self.0.ciphertext);
        for recipient in &self.0.recipients {
            out.field(&recipient.wrapped_key);
        }
        out.into_bytes()
    }

    /// Checks the sender signature against `sender_key` without decrypting anything (the server does this).
    /// A missing signature, a signature by another key or an invalid one are all [`CryptoError::BadSignature`].
    pub fn verify_signature(&self, sender_key: &PublicKey) -> Result<()> {
        let signature = self.0.signature.as_ref().ok_or(CryptoError::BadSignature)?;
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

    let mut envelope = EnvelopeParts {
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
    rules::validate(&envelope).map_err(|e| match e {
        CryptoError::InvalidEnvelope(reason) => CryptoError::InvalidInput(reason),
        other => other,
    })?;

    let signer_key_id = params.sign_with.map(|signer| signer.key_id().to_string());
    let mut envelope = Envelope(envelope);
    envelope.0.ciphertext = hazmat::aes_gcm_seal(
        &content_key,
        &nonce,
        plaintext,
        &envelope.aad_for_signer(signer_key_id.as_deref()),
    )?;

    if let (Some(signer), Some(key_id)) = (params.sign_with, signer_key_id) {
        let value = hazmat::pss_sign(signer, &envelope.signature_input(&key_id))?;
        envelope.0.signature = Some(Signature {
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
        envelope.nonce(),
        envelope.ciphertext(),
        &envelope.aad(),
    )?;
    Ok(Opened {
        plaintext,
        header: envelope.header(),
        signature_verified: verify_with.is_some(),
    })
}
