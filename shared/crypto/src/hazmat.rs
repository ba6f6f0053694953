//! The primitive operations `seal` and `open` are built from, exactly as they call them.
//!
//! Exposed for benchmarks and test vectors, not as a second way to encrypt: use [`crate::seal`] and
//! [`crate::open`]. No function here adds the envelope's bindings (AAD, key ids, signature context).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::keys::{PrivateKey, PublicKey};

/// RSA-OAEP encryption, SHA-256 for hash and MGF1, empty label.
pub fn oaep_wrap(key: &PublicKey, content_key: &[u8]) -> Result<Vec<u8>> {
    key.inner
        .oaep_encrypt::<Sha256>(content_key)
        .map_err(|_| CryptoError::Internal)
}

/// RSA-OAEP decryption, SHA-256 for hash and MGF1, empty label, blinded. Any failure is `CannotDecrypt`.
pub fn oaep_unwrap(key: &PrivateKey, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    crate::oaep::decrypt(key, wrapped, &[])
}

/// RSA-PSS over SHA-256(message), MGF1-SHA-256, 32-byte salt.
pub fn pss_sign(key: &PrivateKey, message: &[u8]) -> Result<Vec<u8>> {
    key.inner
        .pss_sign::<Sha256>(message)
        .map_err(|_| CryptoError::Internal)
}

/// Verifies [`pss_sign`]'s output; requires the 32-byte salt. Any failure is `BadSignature`.
pub fn pss_verify(key: &PublicKey, message: &[u8], signature: &[u8]) -> Result<()> {
    key.inner
        .pss_verify::<Sha256>(message, signature)
        .map_err(|_| CryptoError::BadSignature)
}

/// AES-256-GCM with a 96-bit nonce; returns ciphertext || 16-byte tag.
pub fn aes_gcm_seal(key: &[u8; 32], nonce: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Nonce::try_from(nonce)
        .map_err(|_| CryptoError::InvalidInput("nonce must be 12 bytes".into()))?;
    cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Internal)
}

/// Inverse of [`aes_gcm_seal`]. Any failure is `CannotDecrypt`.
pub fn aes_gcm_open(
    key: &[u8; 32],
    nonce: &[u8],
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let cipher = Aes256Gcm::new(key.into());
    let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::CannotDecrypt)?;
    cipher
        .decrypt(&nonce, Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::CannotDecrypt)
}
