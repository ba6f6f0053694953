//! Signed key operations: the statement a key signs to prove possession when it is registered, and that the
//! account's active key signs to authorize registering or revoking a key (docs/security.md).

use crate::encoding::Canonical;
use crate::error::{CryptoError, Result};
use crate::hazmat;
use crate::keys::{KeyId, PrivateKey, PublicKey};

const KEY_OP_CONTEXT: &[u8] = b"e2ee.key-op.v1";

/// What a signed statement allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOperation {
    /// Make a key the user's active key.
    Register,
    /// Revoke one of the user's keys.
    Revoke,
}

impl KeyOperation {
    fn name(self) -> &'static str {
        match self {
            KeyOperation::Register => "register",
            KeyOperation::Revoke => "revoke",
        }
    }
}

/// "`user_id` performs `operation` on key `key_id` at `created_at`": the signed bytes are
/// `field("e2ee.key-op.v1") || field(operation) || field(userId) || field(keyId hex) || u64(createdAt)`.
#[derive(Debug, Clone, Copy)]
pub struct KeyStatement<'a> {
    pub operation: KeyOperation,
    pub user_id: &'a str,
    pub key_id: KeyId,
    /// Milliseconds since the Unix epoch; verifiers require it to be recent.
    pub created_at: u64,
}

impl KeyStatement<'_> {
    /// The exact bytes that are signed.
    pub fn signing_input(&self) -> Vec<u8> {
        let key_id = self.key_id.to_string();
        let mut out = Canonical::with_capacity(64 + self.user_id.len() + key_id.len());
        out.field(KEY_OP_CONTEXT)
            .field(self.operation.name().as_bytes())
            .field(self.user_id.as_bytes())
            .field(key_id.as_bytes())
            .u64(self.created_at);
        out.into_bytes()
    }

    /// RSA-PSS (SHA-256, 32-byte salt) over [`Self::signing_input`].
    pub fn sign(&self, key: &PrivateKey) -> Result<Vec<u8>> {
        hazmat::pss_sign(key, &self.signing_input())
    }

    /// Any failure (wrong key, wrong length, wrong statement) is [`CryptoError::BadSignature`].
    pub fn verify(&self, key: &PublicKey, signature: &[u8]) -> Result<()> {
        verify_statement(key, &self.signing_input(), signature)
    }
}

/// RSA-PSS verification of a signed statement; a signature of the wrong length is a bad one, not an error.
pub(crate) fn verify_statement(key: &PublicKey, input: &[u8], signature: &[u8]) -> Result<()> {
    if signature.len() != key.size().bytes() {
        return Err(CryptoError::BadSignature);
    }
    hazmat::pss_verify(key, input, signature)
}
