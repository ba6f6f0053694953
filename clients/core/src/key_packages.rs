//! This device's key packages (what others add it to groups with) and the key packages a claim hands out for
//! other devices, checked before they are added.

use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::OpenMlsProvider;

use crate::error::CoreError;
use crate::welcome::identity_of;

/// `count` one-time key packages, or as many last-resort ones, as `MLSMessage` bytes (their private halves
/// go to the provider's storage).
pub fn key_packages<P: OpenMlsProvider>(
    provider: &P,
    signer: &SignatureKeyPair,
    credential: &CredentialWithKey,
    count: usize,
    last_resort: bool,
) -> Result<Vec<Vec<u8>>, CoreError> {
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
            MlsMessageOut::from(bundle.key_package().clone())
                .to_bytes()
                .map_err(|e| mls("cannot encode a key package", e))
        })
        .collect()
}

/// A key package the server handed out for `device` (a claim), parsed and checked: it validates (signatures,
/// lifetime, version) and its credential names `device`. The driver must still check that its leaf's signature
/// key is a certified device of its user before adding it. `Err` says what is wrong with it.
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
