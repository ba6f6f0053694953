//! The server's view of MLS (RFC 9420, docs/mls.md): what the Delivery Service checks without holding any
//! group secret. Built on openmls 0.9 with its RustCrypto provider; performs no I/O.
//!
//! * [`CIPHERSUITE`]: the one ciphersuite the system speaks (0x0001, the one openmls and ts-mls share).
//! * [`DeviceIdentity`]: how a credential names a user's device (`userId "/" deviceId`).
//! * [`validate_key_package`]: an uploaded key package, checked (signatures, ciphersuite, lifetime, identity)
//!   and reduced to what the store keeps.
//! * [`create_group`], [`apply_commit`]: a group's public state (openmls `PublicGroup`) and the validation of
//!   commit bundles against it.
//! * [`verify_device_signature`]: a raw signature by a device's MLS signature key (device session proofs).

mod error;
mod group;
mod identity;
mod key_package;

pub use error::{MlsError, MlsInput};
pub use group::{
    AcceptedCommit, AddedMember, GroupMember, GroupSnapshot, MAX_MLS_MESSAGE_BYTES,
    application_message_epoch, apply_commit, create_group, decode_storage, encode_storage,
    ratchet_tree,
};
pub use identity::DeviceIdentity;
pub use key_package::{
    MAX_KEY_PACKAGE_BYTES, MAX_LIFETIME_SECONDS, ValidKeyPackage, validate_key_package,
};

use openmls::prelude::{Ciphersuite, OpenMlsCrypto};
use openmls_rust_crypto::RustCrypto;

/// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001): every group, key package and device uses it.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;

/// Verifies `signature` over `message` (raw bytes, no MLS label) under the device signature key
/// `signature_key` of [`CIPHERSUITE`] (Ed25519).
pub fn verify_device_signature(
    signature_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), MlsError> {
    RustCrypto::default()
        .verify_signature(
            CIPHERSUITE.signature_algorithm(),
            message,
            signature_key,
            signature,
        )
        .map_err(|_| MlsError::BadSignature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use openmls_basic_credential::SignatureKeyPair;
    use openmls_traits::signatures::Signer;

    use super::*;

    #[test]
    fn device_signatures_verify_only_under_their_key_and_message() {
        let device = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        let other = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
        let signature = device.sign(b"hello").unwrap();
        assert!(verify_device_signature(device.public(), b"hello", &signature).is_ok());
        for (key, message, signature) in [
            (other.public(), &b"hello"[..], signature.as_slice()),
            (device.public(), &b"hellO"[..], signature.as_slice()),
            (device.public(), &b"hello"[..], &signature[..63]),
            (&device.public()[..31], &b"hello"[..], signature.as_slice()),
        ] {
            assert!(matches!(
                verify_device_signature(key, message, signature),
                Err(MlsError::BadSignature)
            ));
        }
    }
}
