//! The server's view of MLS (RFC 9420, docs/mls.md): what the Delivery Service checks without holding any
//! group secret. Built on openmls 0.9 with its RustCrypto provider; performs no I/O.
//!
//! * [`CIPHERSUITE`]: the one ciphersuite the system speaks (0x0001, the one openmls and ts-mls share).
//! * [`DeviceIdentity`]: how a credential names a user's device (`userId "/" deviceId`).
//! * [`validate_key_package`]: an uploaded key package, checked (signatures, ciphersuite, lifetime, identity)
//!   and reduced to what the store keeps.

mod error;
mod identity;
mod key_package;

pub use error::MlsError;
pub use identity::DeviceIdentity;
pub use key_package::{
    MAX_KEY_PACKAGE_BYTES, MAX_LIFETIME_SECONDS, ValidKeyPackage, validate_key_package,
};

use openmls::prelude::Ciphersuite;

/// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001): every group, key package and device uses it.
pub const CIPHERSUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
