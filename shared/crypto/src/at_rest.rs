//! Secrets at rest under a passphrase (a client's MLS state, docs/mls.md "Client state at rest").
//!
//! A key is derived once with PBKDF2-HMAC-SHA256 ([`PBKDF2_ITERATIONS`], a random 16-byte salt) and then seals
//! any number of blobs with AES-256-GCM, each under a fresh random 12-byte nonce. One sealed blob:
//!
//! ```text
//! "e2ee-at-rest-v1" || salt (16) || u32be(iterations) || nonce (12) || ciphertext || tag (16)
//! ```
//!
//! The AAD is everything before the ciphertext followed by the caller's `context` (what the blob is, so a
//! blob cannot be passed off as another). Deriving is the slow part (by design); a client derives once per run
//! and seals every save with the same key.

use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::hazmat::{aes_gcm_open, aes_gcm_seal};
use crate::keys::PBKDF2_ITERATIONS;

const MAGIC: &[u8] = b"e2ee-at-rest-v1";
const SALT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;
const HEADER_BYTES: usize = MAGIC.len() + SALT_BYTES + 4;
/// Iterations accepted from a stored header: at least the older OWASP figure, at most 10× today's, so a damaged
/// or hostile file can neither weaken the key nor stall the device.
const MIN_ITERATIONS: u32 = 100_000;
const MAX_ITERATIONS: u32 = 10 * PBKDF2_ITERATIONS;

/// An AES-256 key derived from a passphrase and a salt.
#[derive(Clone)]
pub struct PassphraseKey {
    key: Zeroizing<[u8; 32]>,
    salt: [u8; SALT_BYTES],
    iterations: u32,
}

impl std::fmt::Debug for PassphraseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassphraseKey")
            .field("key", &"<redacted>")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl PassphraseKey {
    /// A key for new blobs: a random salt and today's iteration count.
    pub fn generate(passphrase: &[u8]) -> Result<Self> {
        let mut salt = [0u8; SALT_BYTES];
        rand::rng().fill_bytes(&mut salt);
        Self::derive(passphrase, salt, PBKDF2_ITERATIONS)
    }

    /// The key `sealed` was made with (its salt and iterations), from `passphrase`. Whether the passphrase is
    /// right shows when opening ([`CryptoError::WrongPassphrase`]).
    pub fn for_blob(passphrase: &[u8], sealed: &[u8]) -> Result<Self> {
        let (salt, iterations) = parse_header(sealed)?;
        Self::derive(passphrase, salt, iterations)
    }

    fn derive(passphrase: &[u8], salt: [u8; SALT_BYTES], iterations: u32) -> Result<Self> {
        if passphrase.is_empty() {
            return Err(CryptoError::InvalidInput("the passphrase is empty".into()));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(passphrase, &salt, iterations, key.as_mut());
        Ok(PassphraseKey {
            key,
            salt,
            iterations,
        })
    }

    fn header(&self) -> Vec<u8> {
        let mut header = Vec::with_capacity(HEADER_BYTES + NONCE_BYTES);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&self.salt);
        header.extend_from_slice(&self.iterations.to_be_bytes());
        header
    }

    /// Seals `plaintext` as a blob bound to `context`.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let mut blob = self.header();
        blob.extend_from_slice(&nonce);
        let mut aad = blob.clone();
        aad.extend_from_slice(context);
        let sealed = aes_gcm_seal(&self.key, &nonce, plaintext, &aad)?;
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    /// Opens a blob this key (same passphrase, salt and iterations) sealed for `context`. A wrong passphrase,
    /// another context or any altered byte is [`CryptoError::WrongPassphrase`]: they cannot be told apart.
    pub fn open(&self, context: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let (salt, iterations) = parse_header(blob)?;
        if salt != self.salt || iterations != self.iterations {
            return Err(CryptoError::WrongPassphrase);
        }
        let nonce = &blob[HEADER_BYTES..HEADER_BYTES + NONCE_BYTES];
        let mut aad = blob[..HEADER_BYTES + NONCE_BYTES].to_vec();
        aad.extend_from_slice(context);
        aes_gcm_open(&self.key, nonce, &blob[HEADER_BYTES + NONCE_BYTES..], &aad)
            .map_err(|_| CryptoError::WrongPassphrase)
    }
}

fn parse_header(blob: &[u8]) -> Result<([u8; SALT_BYTES], u32)> {
    let malformed = || CryptoError::InvalidInput("not a sealed blob of this format".into());
    if blob.len() < HEADER_BYTES + NONCE_BYTES + 16 || !blob.starts_with(MAGIC) {
        return Err(malformed());
    }
    let mut salt = [0u8; SALT_BYTES];
    salt.copy_from_slice(&blob[MAGIC.len()..MAGIC.len() + SALT_BYTES]);
    let mut count = [0u8; 4];
    count.copy_from_slice(&blob[MAGIC.len() + SALT_BYTES..HEADER_BYTES]);
    let iterations = u32::from_be_bytes(count);
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(malformed());
    }
    Ok((salt, iterations))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn blobs_open_only_with_the_passphrase_context_and_bytes_they_were_sealed_with() {
        let key = PassphraseKey::generate(b"correct horse").unwrap();
        let blob = key.seal(b"mls-state", b"secret state").unwrap();
        assert!(!blob.windows(12).any(|w| w == b"secret state"));
        assert_eq!(&*key.open(b"mls-state", &blob).unwrap(), b"secret state");
        // Derived again from the blob's header, as a new run does.
        let again = PassphraseKey::for_blob(b"correct horse", &blob).unwrap();
        assert_eq!(&*again.open(b"mls-state", &blob).unwrap(), b"secret state");
        // Each seal has its own nonce.
        assert_ne!(key.seal(b"mls-state", b"secret state").unwrap(), blob);

        let wrong = PassphraseKey::for_blob(b"wrong horse", &blob).unwrap();
        assert!(matches!(
            wrong.open(b"mls-state", &blob),
            Err(CryptoError::WrongPassphrase)
        ));
        assert!(matches!(
            key.open(b"other", &blob),
            Err(CryptoError::WrongPassphrase)
        ));
        for at in [
            MAGIC.len() + SALT_BYTES + 4,
            blob.len() - 1,
            blob.len() - 20,
        ] {
            let mut altered = blob.clone();
            altered[at] ^= 1;
            assert!(key.open(b"mls-state", &altered).is_err(), "byte {at}");
        }
    }

    #[test]
    fn damaged_or_hostile_headers_are_refused_before_deriving() {
        let key = PassphraseKey::generate(b"pass").unwrap();
        let blob = key.seal(b"c", b"x").unwrap();
        assert!(PassphraseKey::for_blob(b"pass", &blob[..20]).is_err());
        let mut slow = blob.clone();
        slow[MAGIC.len() + SALT_BYTES..HEADER_BYTES].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            PassphraseKey::for_blob(b"pass", &slow),
            Err(CryptoError::InvalidInput(_))
        ));
        let mut weak = blob;
        weak[MAGIC.len() + SALT_BYTES..HEADER_BYTES].copy_from_slice(&1u32.to_be_bytes());
        assert!(PassphraseKey::for_blob(b"pass", &weak).is_err());
        assert!(PassphraseKey::generate(b"").is_err());
    }
}
