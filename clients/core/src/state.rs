//! This device's MLS state, without I/O (docs/mls.md, "Clients"): the openmls storage (its signature key, key
//! packages' private halves, every group's secrets) and what the device tracks besides ([`DeviceMeta`]: its
//! groups and how far it has read each log). The driver keeps it as one blob ([`DeviceState::to_bytes`]),
//! encrypted at rest under a key of its own (the SDK: the profile passphrase; the browser: a key wrapped under
//! the password), and saves it after every operation. openmls deletes an epoch's secrets when it moves on; the
//! next saved blob no longer holds them.
//!
//! Blob format: a 4-byte big-endian length, the [`DeviceMeta`] JSON, then the openmls storage as
//! `e2ee_mls::encode_storage` writes it. The Rust SDK and the browser (WebAssembly) write the same blob.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;
use openmls_traits::signatures::Signer as _;
use openmls_traits::storage::StorageProvider as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::CoreError;
use crate::group::{GroupMessage, GroupMeta};

/// The version of [`DeviceMeta`] this core writes and reads.
pub const META_VERSION: u32 = 1;

/// openmls' provider over this device's storage (kept in memory; the driver saves [`DeviceState::to_bytes`]).
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

/// What the state holds besides the openmls storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceMeta {
    pub version: u32,
    pub user_id: String,
    pub device_id: String,
    /// Base64 of the device's Ed25519 signature public key.
    pub signature_key: String,
    /// Group id (lowercase hex) → what this device tracks of it.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupMeta>,
    /// The secret of this device's link code (review N10): it verifies the approver's link proof, from which
    /// this device learns its own user's identity key. Only ever here, encrypted with the rest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_secret: Option<crate::link::LinkSecret>,
    /// The key packages this device made whose lifetime has not ended, so that their private keys are deleted
    /// once it has ([`DeviceState::prune_key_packages`]): nobody can be handed an expired package.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_packages: Vec<IssuedKeyPackage>,
}

/// A key package this device made and uploaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedKeyPackage {
    /// Lowercase hex of its TLS-encoded `KeyPackageRef`.
    pub key_package_ref: String,
    /// The end of its lifetime, seconds since the epoch.
    pub not_after: u64,
}

/// A group just created: its id (lowercase hex), its GroupInfo (`MLSMessage` bytes) and ratchet tree (TLS bytes).
#[derive(Debug, Clone)]
pub struct CreatedGroup {
    pub group_id: String,
    pub group_info: Vec<u8>,
    pub ratchet_tree: Vec<u8>,
}

/// This device's MLS state, unlocked.
pub struct DeviceState {
    provider: MlsProvider,
    signer: SignatureKeyPair,
    pub meta: DeviceMeta,
}

impl std::fmt::Debug for DeviceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceState")
            .field("device", &self.identity().to_string())
            .field("groups", &self.meta.groups.len())
            .finish_non_exhaustive()
    }
}

fn mls(context: &str, error: impl std::fmt::Debug) -> CoreError {
    CoreError::Mls(format!("{context}: {error:?}"))
}

impl DeviceState {
    /// A new device: a fresh Ed25519 signature key, no groups.
    pub fn create(user_id: &str, device_id: &str) -> Result<Self, CoreError> {
        DeviceIdentity::new(user_id, device_id)
            .map_err(|e| CoreError::Input(format!("device id {device_id:?}: {e}")))?;
        let provider = MlsProvider::default();
        let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm())
            .map_err(|e| mls("cannot generate the signature key", e))?;
        signer
            .store(provider.storage())
            .map_err(|e| mls("cannot store the signature key", e))?;
        let meta = DeviceMeta {
            version: META_VERSION,
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            signature_key: STANDARD.encode(signer.public()),
            groups: BTreeMap::new(),
            link_secret: None,
            key_packages: Vec::new(),
        };
        Ok(DeviceState {
            provider,
            signer,
            meta,
        })
    }

    /// The state a blob of [`Self::to_bytes`] holds ([`CoreError::Damaged`] for anything else).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CoreError> {
        let damaged = |what: &str| CoreError::Damaged(what.to_owned());
        let (length, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or_else(|| damaged("too short"))?;
        let length =
            usize::try_from(u32::from_be_bytes(*length)).map_err(|_| damaged("bad length"))?;
        let (meta, storage) = rest
            .split_at_checked(length)
            .ok_or_else(|| damaged("bad length"))?;
        let meta: DeviceMeta =
            serde_json::from_slice(meta).map_err(|_| damaged("unreadable metadata"))?;
        if meta.version != META_VERSION {
            return Err(damaged("another version"));
        }
        let provider = MlsProvider {
            crypto: RustCrypto::default(),
            storage: e2ee_mls::decode_storage(storage)
                .map_err(|_| damaged("unreadable storage"))?,
        };
        let public = STANDARD
            .decode(&meta.signature_key)
            .map_err(|_| damaged("bad signature key"))?;
        let signer = SignatureKeyPair::read(
            provider.storage(),
            &public,
            CIPHERSUITE.signature_algorithm(),
        )
        .ok_or_else(|| damaged("no signature key"))?;
        Ok(DeviceState {
            provider,
            signer,
            meta,
        })
    }

    /// The whole state as one blob, to encrypt and save (zeroed when dropped: it holds every secret).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>, CoreError> {
        let meta = Zeroizing::new(
            serde_json::to_vec(&self.meta)
                .map_err(|e| CoreError::Encode(format!("the MLS state: {e}")))?,
        );
        let storage = Zeroizing::new(
            e2ee_mls::encode_storage(self.provider.storage())
                .map_err(|e| CoreError::Encode(format!("the MLS state: {e}")))?,
        );
        let length = u32::try_from(meta.len())
            .map_err(|_| CoreError::Encode("the MLS state is too large".into()))?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(4 + meta.len() + storage.len()));
        bytes.extend_from_slice(&length.to_be_bytes());
        bytes.extend_from_slice(&meta);
        bytes.extend_from_slice(&storage);
        Ok(bytes)
    }

    /// Keeps a message read or sent in the group.
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

    /// What the core needs to change a group: the provider, the signer and the group's metadata (borrowed
    /// apart, so all three are usable at once).
    pub fn parts(
        &mut self,
        group_id: &str,
    ) -> Result<(&MlsProvider, &SignatureKeyPair, &mut GroupMeta), CoreError> {
        let meta = self
            .meta
            .groups
            .get_mut(group_id)
            .ok_or_else(|| CoreError::NotInGroup(group_id.to_owned()))?;
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
        crate::group::credential(&self.identity(), &self.signer)
    }

    /// `count` one-time key packages, or as many last-resort ones, as uploaded (base64 `MLSMessage`s); each is
    /// remembered until it expires.
    pub fn key_packages(
        &mut self,
        count: usize,
        last_resort: bool,
    ) -> Result<Vec<String>, CoreError> {
        let packages = crate::key_packages::key_packages(
            &self.provider,
            &self.signer,
            &self.credential(),
            count,
            last_resort,
        )?;
        self.meta
            .key_packages
            .extend(packages.iter().map(|made| IssuedKeyPackage {
                key_package_ref: hex::encode(&made.hash_ref),
                not_after: made.not_after,
            }));
        Ok(packages
            .iter()
            .map(|made| STANDARD.encode(&made.message))
            .collect())
    }

    /// Deletes the private keys of this device's key packages whose lifetime ended by `now_ms` (a one-time package
    /// a Welcome used is gone already). Returns how many expired.
    pub fn prune_key_packages(&mut self, now_ms: i64) -> Result<usize, CoreError> {
        let now = u64::try_from(now_ms / 1000).unwrap_or(0);
        let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.meta.key_packages)
            .into_iter()
            .partition(|package| package.not_after <= now);
        self.meta.key_packages = live;
        for package in &expired {
            use openmls::prelude::tls_codec::DeserializeBytes as _;
            let hash_ref = hex::decode(&package.key_package_ref)
                .ok()
                .and_then(|bytes| KeyPackageRef::tls_deserialize_exact_bytes(&bytes).ok())
                .ok_or_else(|| CoreError::Damaged("a key package reference".into()))?;
            self.provider
                .storage()
                .delete_key_package(&hash_ref)
                .map_err(|e| CoreError::Damaged(format!("cannot delete a key package: {e:?}")))?;
        }
        Ok(expired.len())
    }

    /// A new group of this device alone (`name` kept on this device only), tracked from its creation row on:
    /// what `POST /api/groups` takes. The driver saves the state before posting.
    pub fn create_group(
        &mut self,
        name: Option<String>,
        now_ms: i64,
    ) -> Result<CreatedGroup, CoreError> {
        use openmls::prelude::tls_codec::Serialize as _;
        let group = MlsGroup::new(
            &self.provider,
            &self.signer,
            &crate::group::create_config(),
            self.credential(),
        )
        .map_err(|e| mls("cannot create the group", e))?;
        let group_id = hex::encode(group.group_id().as_slice());
        let group_info = group
            .export_group_info(self.provider.crypto(), &self.signer, false)
            .map_err(|e| mls("cannot export the GroupInfo", e))?
            .to_bytes()
            .map_err(|e| mls("cannot encode the GroupInfo", e))?;
        let ratchet_tree = group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|e| mls("cannot encode the ratchet tree", e))?;
        self.meta.groups.insert(
            group_id.clone(),
            GroupMeta {
                name,
                after: Some(0),
                updated_at: now_ms,
                ..GroupMeta::default()
            },
        );
        Ok(CreatedGroup {
            group_id,
            group_info,
            ratchet_tree,
        })
    }

    /// The device's proof for `POST /api/devices/session` at `created_at` (ms): its Ed25519 signature over
    /// `device_session_input` (docs/mls.md, "Device tokens").
    pub fn session_proof(&self, created_at: u64) -> Result<Vec<u8>, CoreError> {
        let input = e2ee_protocol::device_session_input(
            &self.meta.user_id,
            &self.meta.device_id,
            created_at,
        );
        self.signer
            .sign(&input)
            .map_err(|e| mls("cannot sign the device session", e))
    }

    /// Deletes the group's secrets and what this device kept of it (gone from the blob from now on).
    pub fn forget_group(&mut self, group_id: &str) -> Result<(), CoreError> {
        let mut group = self.group(group_id)?;
        group
            .delete(self.provider.storage())
            .map_err(|e| mls("cannot delete the group", e))?;
        self.meta.groups.remove(group_id);
        Ok(())
    }

    /// The group, as this device holds it.
    pub fn group(&self, group_id: &str) -> Result<MlsGroup, CoreError> {
        let id = hex::decode(group_id)
            .map_err(|_| CoreError::Input(format!("invalid group id {group_id:?}")))?;
        MlsGroup::load(self.provider.storage(), &GroupId::from_slice(&id))
            .map_err(|e| mls("cannot load the group", e))?
            .ok_or_else(|| CoreError::NotInGroup(group_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_saved_state_loads_with_its_signature_key_and_groups() {
        let mut state = DeviceState::create("u_alice", "d1").unwrap();
        let group = MlsGroup::new(
            state.provider(),
            state.signer(),
            &crate::group::create_config(),
            state.credential(),
        )
        .unwrap();
        let group_id = hex::encode(group.group_id().as_slice());
        state
            .meta
            .groups
            .insert(group_id.clone(), GroupMeta::default());
        let loaded = DeviceState::from_bytes(&state.to_bytes().unwrap()).unwrap();
        assert_eq!(loaded.meta, state.meta);
        assert_eq!(loaded.signer().public(), state.signer().public());
        assert_eq!(loaded.group(&group_id).unwrap().epoch().as_u64(), 0);
    }

    #[test]
    fn a_damaged_blob_is_refused() {
        let state = DeviceState::create("u_alice", "d1").unwrap();
        let bytes = state.to_bytes().unwrap();
        for bad in [
            &bytes[..3],
            &bytes[..bytes.len() / 2],
            b"\0\0\0\x02{}".as_slice(),
        ] {
            assert!(matches!(
                DeviceState::from_bytes(bad),
                Err(CoreError::Damaged(_))
            ));
        }
        assert!(matches!(
            DeviceState::create("u_alice", "bad/id"),
            Err(CoreError::Input(_))
        ));
    }

    #[test]
    fn expired_key_packages_lose_their_private_keys_and_live_ones_keep_them() {
        use openmls::prelude::tls_codec::DeserializeBytes as _;
        let mut state = DeviceState::create("u_alice", "d1").unwrap();
        state.key_packages(2, false).unwrap();
        state.key_packages(1, true).unwrap();
        let issued = state.meta.key_packages.clone();
        assert_eq!(issued.len(), 3);
        let stored = |state: &DeviceState, issued: &IssuedKeyPackage| {
            let hash_ref = KeyPackageRef::tls_deserialize_exact_bytes(
                &hex::decode(&issued.key_package_ref).unwrap(),
            )
            .unwrap();
            let bundle: Option<KeyPackageBundle> =
                state.provider().storage().key_package(&hash_ref).unwrap();
            bundle.is_some()
        };
        assert!(issued.iter().all(|p| stored(&state, p)));
        // Not expired yet (openmls' lifetime: 12 weeks from now).
        let now_ms = |seconds: u64| i64::try_from(seconds * 1000).unwrap();
        let first_end = issued.iter().map(|p| p.not_after).min().unwrap();
        assert_eq!(state.prune_key_packages(now_ms(first_end - 1)).unwrap(), 0);
        assert_eq!(state.meta.key_packages, issued);
        // Expired: gone from the storage and from the list, and the list survives a save.
        assert_eq!(
            state
                .prune_key_packages(now_ms(first_end + 86_400))
                .unwrap(),
            3
        );
        assert!(issued.iter().all(|p| !stored(&state, p)));
        assert!(state.meta.key_packages.is_empty());
        state.key_packages(1, false).unwrap();
        let loaded = DeviceState::from_bytes(&state.to_bytes().unwrap()).unwrap();
        assert_eq!(loaded.meta.key_packages.len(), 1);
        assert!(stored(&loaded, &loaded.meta.key_packages[0]));
    }
}
