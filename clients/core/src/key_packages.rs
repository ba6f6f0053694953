//! This device's key packages (what others add it to groups with) and the key packages a claim hands out for
//! other devices, checked before they are added.

use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use openmls::prelude::tls_codec::{DeserializeBytes as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::OpenMlsProvider;

use crate::error::CoreError;
use crate::welcome::identity_of;

/// A key package this device made: what it uploads, and what it keeps to delete the private keys at expiry.
#[derive(Debug, Clone)]
pub struct MadeKeyPackage {
    /// The `MLSMessage` bytes, as uploaded.
    pub message: Vec<u8>,
    /// Its `KeyPackageRef` (how a Welcome names it; the storage's key for its private keys), TLS-encoded.
    pub hash_ref: Vec<u8>,
    /// The end of its lifetime, seconds since the epoch.
    pub not_after: u64,
}

/// `count` key packages of this device (ciphersuite 0x0001, openmls' lifetime), one-time or last-resort (the
/// extension listed in the leaf's capabilities, as openmls requires); their private keys go into `provider`'s
/// storage.
pub fn key_packages<P: OpenMlsProvider>(
    provider: &P,
    signer: &SignatureKeyPair,
    credential: &CredentialWithKey,
    count: usize,
    last_resort: bool,
) -> Result<Vec<MadeKeyPackage>, CoreError> {
    (0..count)
        .map(|_| {
            let mut builder = KeyPackage::builder();
            if last_resort {
                let capabilities =
                    Capabilities::new(None, None, Some(&[ExtensionType::LastResort]), None, None);
                builder = builder
                    .leaf_node_capabilities(capabilities)
                    .mark_as_last_resort();
            }
            let bundle = builder
                .build(CIPHERSUITE, provider, signer, credential.clone())
                .map_err(|e| mls("cannot build a key package", e))?;
            let package = bundle.key_package();
            let hash_ref = package
                .hash_ref(provider.crypto())
                .map_err(|e| mls("cannot hash a key package", e))?;
            Ok(MadeKeyPackage {
                message: MlsMessageOut::from(package.clone())
                    .to_bytes()
                    .map_err(|e| mls("cannot encode a key package", e))?,
                hash_ref: hash_ref
                    .tls_serialize_detached()
                    .map_err(|e| mls("cannot encode a key package reference", e))?,
                not_after: package.life_time().not_after(),
            })
        })
        .collect()
}

pub fn claimed_key_package<P: OpenMlsProvider>(
    provider: &P,
    device: &DeviceIdentity,
    bytes: &[u8],
) -> Result<KeyPackage, &'static str> {
    let message = MlsMessageIn::tls_deserialize_exact_bytes(bytes).map_err(|_| "malformed")?;
    let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
        return Err("not a key package");
    };
    let package = package
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(|_| "it does not validate")?;
    if identity_of(package.leaf_node().credential()).as_ref() != Some(device) {
        return Err("its credential names another device");
    }
    Ok(package)
}

fn mls(context: &str, error: impl std::fmt::Debug) -> CoreError {
    CoreError::Mls(format!("{context}: {error:?}"))
}
