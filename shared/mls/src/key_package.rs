//! Key packages as the Delivery Service receives them (RFC 9420 §10): each upload is checked here before it is
//! stored, so that no member is ever handed a package that would fail to validate, name another device, or
//! live forever.

use openmls::prelude::{
    BasicCredential, KeyPackage, MlsMessageBodyIn, MlsMessageIn, ProtocolVersion,
    tls_codec::DeserializeBytes,
};
use openmls_rust_crypto::RustCrypto;

use crate::{CIPHERSUITE, DeviceIdentity, MlsError, MlsInput};

/// Largest key package upload accepted (an Ed25519/X25519 package is about 300 bytes; extensions may add some).
pub const MAX_KEY_PACKAGE_BYTES: usize = 16 * 1024;
/// Longest lifetime (`notAfter − notBefore`) a key package may claim: openmls' default of 12 weeks plus its
/// one hour of clock-skew margin. (ts-mls' default never expires; such packages are refused.)
pub const MAX_LIFETIME_SECONDS: u64 = 12 * 7 * 24 * 60 * 60 + 60 * 60;

/// A key package that passed [`validate_key_package`]: what the store keeps and hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidKeyPackage {
    /// The MLSMessage bytes as uploaded, handed out unchanged on a claim.
    pub message: Vec<u8>,
    /// `KeyPackageRef` (RFC 9420 §5.2): what a Welcome names to say whom it is for.
    pub key_package_ref: Vec<u8>,
    /// The device's MLS signature public key (it must be the one its device certificate covers).
    pub signature_key: Vec<u8>,
    /// Seconds since the Unix epoch after which the package must not be handed out.
    pub not_after: u64,
    /// Carries the `last_resort` extension: handed out without being consumed when the others run out.
    pub last_resort: bool,
}

/// Checks an uploaded key package, a TLS-encoded `MLSMessage` with wire format `mls_key_package`, for the
/// device `uploader`: the signatures of the package and of its leaf node (openmls), the protocol version,
/// the ciphersuite (only [`CIPHERSUITE`]), the lifetime (valid `now_seconds`, at most
/// [`MAX_LIFETIME_SECONDS`] long), and that its basic credential names exactly `uploader`.
pub fn validate_key_package(
    message: &[u8],
    uploader: &DeviceIdentity,
    now_seconds: u64,
) -> Result<ValidKeyPackage, MlsError> {
    if message.len() > MAX_KEY_PACKAGE_BYTES {
        return Err(MlsError::Malformed {
            input: MlsInput::KeyPackage,
            reason: "too large",
        });
    }
    let parsed =
        MlsMessageIn::tls_deserialize_exact_bytes(message).map_err(|_| MlsError::Malformed {
            input: MlsInput::KeyPackage,
            reason: "not a TLS-encoded MLSMessage",
        })?;
    let MlsMessageBodyIn::KeyPackage(key_package) = parsed.extract() else {
        return Err(MlsError::Malformed {
            input: MlsInput::KeyPackage,
            reason: "the MLSMessage is not a key package",
        });
    };
    let crypto = RustCrypto::default();
    let key_package = key_package
        .validate(&crypto, ProtocolVersion::Mls10)
        .map_err(|error| match error {
            openmls::prelude::KeyPackageVerifyError::LifetimeError(lifetime) => {
                MlsError::Lifetime(lifetime.to_string())
            }
            other => MlsError::InvalidKeyPackage(other.to_string()),
        })?;
    if key_package.ciphersuite() != CIPHERSUITE {
        return Err(MlsError::UnsupportedCiphersuite(u16::from(
            key_package.ciphersuite(),
        )));
    }
    let not_after = check_lifetime(&key_package, now_seconds)?;
    let leaf = key_package.leaf_node();
    let credential = BasicCredential::try_from(leaf.credential().clone())
        .map_err(|_| MlsError::InvalidCredential("not a basic credential"))?;
    let named = DeviceIdentity::parse(credential.identity())?;
    if &named != uploader {
        return Err(MlsError::WrongIdentity {
            expected: uploader.to_string(),
            found: named.to_string(),
        });
    }
    let key_package_ref = key_package
        .hash_ref(&crypto)
        .map_err(|_| MlsError::Internal)?;
    Ok(ValidKeyPackage {
        message: message.to_vec(),
        key_package_ref: key_package_ref.as_slice().to_vec(),
        signature_key: leaf.signature_key().as_slice().to_vec(),
        not_after,
        last_resort: key_package.last_resort(),
    })
}

/// openmls checked the lifetime against the system clock; the server's policy is checked against `now`
/// (the caller's clock, so tests can move it) and bounds its length.
fn check_lifetime(key_package: &KeyPackage, now_seconds: u64) -> Result<u64, MlsError> {
    let lifetime = key_package.life_time();
    if lifetime.not_after() <= now_seconds {
        return Err(MlsError::Lifetime("the key package has expired".into()));
    }
    if lifetime.not_before() > now_seconds {
        return Err(MlsError::Lifetime(
            "the key package is not valid yet".into(),
        ));
    }
    if lifetime.not_after().saturating_sub(lifetime.not_before()) > MAX_LIFETIME_SECONDS {
        return Err(MlsError::Lifetime(format!(
            "the key package is valid for longer than {MAX_LIFETIME_SECONDS} seconds"
        )));
    }
    Ok(lifetime.not_after())
}
