//! The E2EE envelope: RSA-OAEP-256 key wrapping, AES-256-GCM content encryption, optional RSA-PSS signatures
//! (bound into the AAD since v2), the signed statements of key registration and revocation, and device
//! certificates (an identity key vouching for a device's MLS signature key).
//!
//! The format is specified in `docs/envelope.md`; this crate is its reference implementation. It performs no
//! I/O: callers bring keys and bytes. Secret material (private keys, content keys, plaintexts returned by
//! [`open`]) is zeroized on drop and never printed by `Debug`.
//!
//! ```
//! use e2ee_crypto::{KeySize, PrivateKey, Recipient, SealParams, conversation_recipients, open, seal};
//!
//! # fn main() -> e2ee_crypto::Result<()> {
//! let alice = PrivateKey::generate(KeySize::Rsa2048)?;
//! let bob = PrivateKey::generate(KeySize::Rsa2048)?;
//! // A 1:1 message is sealed for the receiver and for the sender's own key (docs/envelope.md).
//! let recipients = conversation_recipients(
//!     Recipient { user_id: "u_bob", key: bob.public_key() },
//!     Recipient { user_id: "u_alice", key: alice.public_key() },
//! );
//! let envelope = seal(
//!     b"hello bob",
//!     &SealParams {
//!         sender_id: "u_alice",
//!         message_id: "m-1",
//!         created_at: 1_764_145_653_000,
//!         recipients: &recipients,
//!         sign_with: Some(&alice),
//!     },
//! )?;
//! assert_eq!(envelope.recipients().len(), 2);
//! // What travels is JSON; the reader parses (and so validates) it, then opens and verifies it.
//! let received = e2ee_crypto::Envelope::from_json(envelope.to_json().as_bytes())?;
//! let opened = open(&received, &bob, Some(alice.public_key()))?;
//! assert_eq!(opened.plaintext.as_slice(), b"hello bob");
//! assert!(opened.signature_verified);
//! # Ok(()) }
//! ```

mod at_rest;
mod device;
mod encoding;
mod envelope;
mod error;
pub mod hazmat;
mod keyop;
mod keys;
mod oaep;

#[cfg(test)]
mod wycheproof_tests;

pub use at_rest::PassphraseKey;
pub use device::{
    DeviceLink, DeviceRevocation, DeviceStatement, LINK_PROOF_BYTES, LINK_SECRET_BYTES,
    MAX_DEVICE_ID_BYTES, MAX_SIGNATURE_KEY_BYTES, is_device_id,
};
pub use envelope::{
    CONTENT_ALG, ConversationEntries, ConversationError, ENVELOPE_VERSION, Envelope, EnvelopeParts,
    Header, KEY_ALG, MAX_CREATED_AT, MAX_ENVELOPE_BYTES, MAX_ID_BYTES, MAX_PLAINTEXT_BYTES,
    MAX_RECIPIENTS, Opened, Recipient, RecipientId, SIGNATURE_ALG, SUPPORTED_VERSIONS, SealParams,
    Signature, WrappedKey, conversation_recipients, open, random_message_id, seal,
};
pub use error::{CryptoError, Result};
pub use keyop::{KeyOperation, KeyStatement};
pub use keys::{KeyId, KeySize, PBKDF2_ITERATIONS, PUBLIC_EXPONENT, PrivateKey, PublicKey};
