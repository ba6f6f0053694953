//! The E2EE envelope: RSA-OAEP-256 key wrapping, AES-256-GCM content encryption, optional RSA-PSS signatures
//! (bound into the AAD since v2), and the signed statements of key registration and revocation.
//!
//! The format is specified in `docs/envelope.md`; this crate is its reference implementation. It performs no
//! I/O: callers bring keys and bytes. Secret material (private keys, content keys, plaintexts returned by
//! [`open`]) is zeroized on drop and never printed by `Debug`.

mod encoding;
mod envelope;
mod error;
pub mod hazmat;
mod keyop;
mod keys;
mod oaep;

#[cfg(test)]
mod wycheproof_tests;

pub use envelope::{
    CONTENT_ALG, ENVELOPE_VERSION, Envelope, Header, KEY_ALG, MAX_CREATED_AT, MAX_ENVELOPE_BYTES,
    MAX_ID_BYTES, MAX_PLAINTEXT_BYTES, MAX_RECIPIENTS, Opened, Recipient, RecipientId,
    SIGNATURE_ALG, SUPPORTED_VERSIONS, SealParams, Signature, WrappedKey, chat_id, open,
    random_message_id, seal,
};
pub use error::{CryptoError, Result};
pub use keyop::{KeyOperation, KeyStatement};
pub use keys::{KeyId, KeySize, PBKDF2_ITERATIONS, PUBLIC_EXPONENT, PrivateKey, PublicKey};
