//! This device's MLS state (docs/mls.md, "Clients"): the openmls storage (its signature key, key packages'
//! private halves, every group's secrets), plus which groups it is in and how far it has read each log —
//! loaded from the profile's `mls.sealed`, sealed under the profile passphrase, and saved whole after every
//! operation. openmls deletes an epoch's secrets when it moves on; the next save no longer holds them.

use e2ee_crypto::PassphraseKey;

pub use e2ee_client_core::group::{
    GroupMessage, GroupMeta, MAX_KEPT_MESSAGES, MAX_PAST_EPOCHS, MessageStatus, create_config,
    join_config,
};
pub use e2ee_client_core::state::{DeviceState, MlsProvider};

use crate::error::{ClientError, Result};
use crate::profile::Profile;

/// What the sealed blob is (bound as AAD: the blob cannot be passed off as anything else).
const STATE_CONTEXT: &[u8] = b"e2ee mls state v1";
/// The unlocked MLS state of this profile's device: the core's [`DeviceState`] and the key it is sealed under
/// in the profile's `mls.sealed`.
pub struct MlsState {
    device: DeviceState,
    key: PassphraseKey,
}

impl std::fmt::Debug for MlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.device.fmt(f)
    }
}

impl std::ops::Deref for MlsState {
    type Target = DeviceState;
    fn deref(&self) -> &DeviceState {
        &self.device
    }
}

impl std::ops::DerefMut for MlsState {
    fn deref_mut(&mut self) -> &mut DeviceState {
        &mut self.device
    }
}

fn looks_sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(b"e2ee-at-rest-v1")
}

impl MlsState {
    /// A new device state: a fresh Ed25519 signature key, sealed under `passphrase` (not saved yet).
    pub fn create(passphrase: &[u8], user_id: &str, device_id: &str) -> Result<Self> {
        let device = DeviceState::create(user_id, device_id)?;
        let key = PassphraseKey::generate(passphrase)?;
        Ok(MlsState { device, key })
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
        let device = DeviceState::from_bytes(&plain)?;
        if Some(device.meta.user_id.as_str()) != profile.data.user_id.as_deref() {
            return Err(ClientError::Profile(format!(
                "{} belongs to another account",
                crate::profile::MLS_STATE_FILE
            )));
        }
        Ok(MlsState { device, key })
    }

    /// Seals the whole state and replaces the profile's file with it.
    pub fn save(&self, profile: &Profile) -> Result<()> {
        let plain = self.device.to_bytes()?;
        let sealed = self.key.seal(STATE_CONTEXT, &plain)?;
        profile.save_mls_state(&sealed)
    }
}
