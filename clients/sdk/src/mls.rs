//! This device's MLS state (docs/mls.md, "Clients"): the openmls storage (its signature key, key packages'
//! private halves, every group's secrets), plus which groups it is in and how far it has read each log —
//! loaded from the profile's `mls.sealed`, sealed under the profile passphrase, and saved whole after every
//! operation. openmls deletes an epoch's secrets when it moves on; the next save no longer holds them.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::PassphraseKey;
use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;
use serde::{Deserialize, Serialize};

pub use e2ee_client_core::group::{
    GroupMessage, GroupMeta, MAX_KEPT_MESSAGES, MAX_PAST_EPOCHS, MessageStatus, create_config,
    join_config,
};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::profile::Profile;

/// What the sealed blob is (bound as AAD: the blob cannot be passed off as anything else).
const STATE_CONTEXT: &[u8] = b"e2ee mls state v1";
const META_VERSION: u32 = 1;
/// openmls' provider over this device's storage.
#[derive(Default)]
pub struct MlsProvider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for MlsProvider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

/// What `mls.sealed` holds besides the openmls storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MlsMeta {
    pub version: u32,
    pub user_id: String,
    pub device_id: String,
    /// Base64 of the device's Ed25519 signature public key.
    pub signature_key: String,
    /// Group id (lowercase hex) → what this device tracks of it.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupMeta>,
    /// The secret of this device's link code (`device request`; review N10): it verifies the approver's link
    /// proof, from which this device learns its own user's identity key. Only ever here, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_secret: Option<e2ee_client_core::link::LinkSecret>,
}

/// The unlocked MLS state of this profile's device.
pub struct MlsState {
    provider: MlsProvider,
    key: PassphraseKey,
    signer: SignatureKeyPair,
    pub meta: MlsMeta,
}

impl std::fmt::Debug for MlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlsState")
            .field("device", &self.identity().to_string())
            .field("groups", &self.meta.groups.len())
            .finish_non_exhaustive()
    }
}

fn mls_error(context: &str, error: impl std::fmt::Display) -> ClientError {
    ClientError::Mls(format!("{context}: {error}"))
}

fn looks_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(b"e2ee-at-rest-v1")
}

impl MlsState {
    /// A new device state: a fresh Ed25519 signature key, sealed under `passphrase` (not saved yet).
    pub fn create(passphrase: &[u8], user_id: &str, device_id: &str) -> Result<Self> {
        DeviceIdentity::new(user_id, device_id)
            .map_err(|e| ClientError::Usage(format!("device id {device_id:?}: {e}")))?;
        let key = PassphraseKey::generate(passphrase)?;
        let provider = MlsProvider::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(|e| mls_error("cannot generate the signature key", format!("{e:?}")))?;
        signer
            .store(provider.storage())
            .map_err(|e| mls_error("cannot store the signature key", e))?;
        let meta = MlsMeta {
            version: META_VERSION,
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            signature_key: STANDARD.encode(signer.public()),
            groups: BTreeMap::new(),
            link_secret: None,
        };
        Ok(MlsState {
            provider,
            key,
            signer,
            meta,
        })
    }

    /// The profile's state unlocked with `passphrase` ([`ClientError::WrongPassphrase`] if it does not;
    /// [`ClientError::NoDevice`] if the profile has none).
    pub fn open(profile: &Profile, passphrase: &[u8]) -> Result<Self> {
        let sealed = Self::sealed(profile)?;
        let key = PassphraseKey::for_blob(passphrase, &sealed)?;
        Self::unseal(profile, key, &sealed)
    }

    /// The state as last saved (after a commit the server refused: the in-memory merge is dropped).
    pub fn reload(&mut self, profile: &Profile) -> Result<()> {
        let sealed = Self::sealed(profile)?;
        *self = Self::unseal(profile, self.key.clone(), &sealed)?;
        Ok(())
    }

    fn sealed(profile: &Profile) -> Result<Vec<u8>> {
        profile
            .load_mls_state(looks_sealed)?
            .ok_or_else(|| ClientError::NoDevice {
                profile: profile.name().to_owned(),
            })
    }

    fn unseal(profile: &Profile, key: PassphraseKey, sealed: &[u8]) -> Result<Self> {
        let plain = key.open(STATE_CONTEXT, sealed)?;
        let damaged =
            || ClientError::Profile(format!("{} is damaged", crate::profile::MLS_STATE_FILE));
        let (length, rest) = plain.split_at_checked(4).ok_or_else(damaged)?;
        let length = usize::try_from(u32::from_be_bytes(
            length.try_into().map_err(|_| damaged())?,
        ))
        .map_err(|_| damaged())?;
        let (meta, storage) = rest.split_at_checked(length).ok_or_else(damaged)?;
        let meta: MlsMeta = serde_json::from_slice(meta).map_err(|_| damaged())?;
        if meta.version != META_VERSION
            || Some(meta.user_id.as_str()) != profile.data.user_id.as_deref()
        {
            return Err(ClientError::Profile(format!(
                "{} belongs to another account or version",
                crate::profile::MLS_STATE_FILE
            )));
        }
        let provider = MlsProvider {
            crypto: RustCrypto::default(),
            storage: e2ee_mls::decode_storage(storage).map_err(|_| damaged())?,
        };
        let public = STANDARD
            .decode(&meta.signature_key)
            .map_err(|_| damaged())?;
        let signer = SignatureKeyPair::read(
            provider.storage(),
            &public,
            CIPHERSUITE.signature_algorithm(),
        )
        .ok_or_else(damaged)?;
        Ok(MlsState {
            provider,
            key,
            signer,
            meta,
        })
    }

    /// Keeps a message read or sent in the group (for `group read --all`).
    pub fn record(&mut self, group_id: &str, message: GroupMessage) {
        if let Some(meta) = self.meta.groups.get_mut(group_id) {
            meta.record(message);
        }
    }

    /// Every message kept for the group, oldest first.
    pub fn history(&self, group_id: &str) -> Vec<GroupMessage> {
        self.meta
            .groups
            .get(group_id)
            .map(|meta| meta.messages.clone())
            .unwrap_or_default()
    }

    /// Seals the whole state and replaces the profile's file with it.
    pub fn save(&self, profile: &Profile) -> Result<()> {
        // Zeroed after use: the meta may hold the link secret.
        let meta = Zeroizing::new(
            serde_json::to_vec(&self.meta)
                .map_err(|e| ClientError::Profile(format!("cannot encode the MLS state: {e}")))?,
        );
        let storage = Zeroizing::new(
            e2ee_mls::encode_storage(self.provider.storage())
                .map_err(|e| mls_error("cannot encode the MLS state", e))?,
        );
        let mut plain = Zeroizing::new(Vec::with_capacity(4 + meta.len() + storage.len()));
        let length = u32::try_from(meta.len())
            .map_err(|_| ClientError::Profile("the MLS state is too large".into()))?;
        plain.extend_from_slice(&length.to_be_bytes());
        plain.extend_from_slice(&meta);
        plain.extend_from_slice(&storage);
        let sealed = self.key.seal(STATE_CONTEXT, &plain)?;
        profile.save_mls_state(&sealed)
    }

    /// What the core needs to change a group: the provider, the signer and the group's metadata (borrowed
    /// apart, so all three are usable at once).
    pub fn parts(
        &mut self,
        group_id: &str,
    ) -> Result<(&MlsProvider, &SignatureKeyPair, &mut GroupMeta)> {
        let meta =
            self.meta.groups.get_mut(group_id).ok_or_else(|| {
                ClientError::Usage(format!("this device is not in group {group_id}"))
            })?;
        Ok((&self.provider, &self.signer, meta))
    }

    pub fn provider(&self) -> &MlsProvider {
        &self.provider
    }

    pub fn signer(&self) -> &SignatureKeyPair {
        &self.signer
    }

    pub fn identity(&self) -> DeviceIdentity {
        DeviceIdentity {
            user_id: self.meta.user_id.clone(),
            device_id: self.meta.device_id.clone(),
        }
    }

    /// The device's credential: a basic credential `userId/deviceId` under its signature key.
    pub fn credential(&self) -> CredentialWithKey {
        e2ee_client_core::group::credential(&self.identity(), &self.signer)
    }

    /// `count` one-time key packages, or one last-resort package, as uploaded (base64 `MLSMessage`s).
    pub fn key_packages(&self, count: usize, last_resort: bool) -> Result<Vec<String>> {
        let packages = e2ee_client_core::group::key_packages(
            &self.provider,
            &self.signer,
            &self.credential(),
            count,
            last_resort,
        )?;
        Ok(packages
            .iter()
            .map(|bytes| STANDARD.encode(bytes))
            .collect())
    }

    /// Deletes the group's secrets and what this device kept of it (gone from the file with the next save).
    pub fn forget_group(&mut self, group_id: &str) -> Result<()> {
        let mut group = self.group(group_id)?;
        group
            .delete(self.provider.storage())
            .map_err(|e| mls_error("cannot delete the group", e))?;
        self.meta.groups.remove(group_id);
        Ok(())
    }

    /// The group, as this device last saved it.
    pub fn group(&self, group_id: &str) -> Result<MlsGroup> {
        let id = hex::decode(group_id)
            .map_err(|_| ClientError::Usage(format!("invalid group id {group_id:?}")))?;
        MlsGroup::load(self.provider.storage(), &GroupId::from_slice(&id))
            .map_err(|e| mls_error("cannot load the group", e))?
            .ok_or_else(|| {
                ClientError::Usage(format!(
                    "this device is not in group {group_id} (run `e2ee sync` if it was just added)"
                ))
            })
    }
}
