//! This device's private keys, unlocked with the profile's one passphrase: the current key at once, older
//! keys (kept after `keys rotate`) when a message sealed for them needs them.

use std::collections::HashMap;

use e2ee_crypto::{PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::profile::Profile;

/// The private keys of this device, unlocked with one passphrase. The current key is decrypted up front
/// (so a wrong passphrase fails before anything else happens); older keys when a message needs them.
pub struct KeyRing {
    passphrase: Zeroizing<String>,
    current: PrivateKey,
    loaded: HashMap<String, PrivateKey>,
    /// Key ids that exist on disk but are not loaded yet.
    on_disk: Vec<String>,
    /// Public halves of every key of this device (from the `.pub` files): own signatures verify offline.
    publics: HashMap<String, PublicKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.key_id())
            .field("keys", &self.publics.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Unlocks the profile's current key with `passphrase` ([`ClientError::WrongPassphrase`] if it does not).
    pub fn unlock(profile: &Profile, passphrase: Zeroizing<String>) -> Result<KeyRing> {
        let current = profile
            .current_key()
            .ok_or_else(|| ClientError::NoKey {
                profile: profile.name().to_owned(),
            })?
            .key_id
            .clone();
        let current_key = profile.load_private_key(&current, &passphrase)?;
        let mut publics = HashMap::new();
        publics.insert(current.clone(), current_key.public_key().clone());
        let mut on_disk = Vec::new();
        for key in &profile.data.keys {
            if key.key_id == current {
                continue;
            }
            if let Ok(public) = profile.load_public_key(&key.key_id) {
                publics.insert(key.key_id.clone(), public);
            }
            on_disk.push(key.key_id.clone());
        }
        Ok(KeyRing {
            passphrase,
            current: current_key,
            loaded: HashMap::new(),
            on_disk,
            publics,
        })
    }

    /// A key ring of in-memory keys (tests, embedders with their own key storage).
    pub fn from_keys(current: PrivateKey, older: Vec<PrivateKey>) -> KeyRing {
        let mut publics = HashMap::new();
        publics.insert(current.key_id().to_string(), current.public_key().clone());
        let mut loaded = HashMap::new();
        for key in older {
            publics.insert(key.key_id().to_string(), key.public_key().clone());
            loaded.insert(key.key_id().to_string(), key);
        }
        KeyRing {
            passphrase: Zeroizing::new(String::new()),
            current,
            loaded,
            on_disk: Vec::new(),
            publics,
        }
    }

    pub fn current(&self) -> &PrivateKey {
        &self.current
    }

    /// The public key of one of this device's keys.
    pub fn public(&self, key_id: &str) -> Option<&PublicKey> {
        self.publics.get(key_id)
    }

    /// Whether this device holds the private key `key_id`.
    pub fn holds(&self, key_id: &str) -> bool {
        self.current.key_id().to_string() == key_id
            || self.loaded.contains_key(key_id)
            || self.on_disk.iter().any(|k| k == key_id)
    }

    /// The private key `key_id`, decrypting an older key on first use.
    pub(crate) fn private(
        &mut self,
        key_id: &str,
        profile: Option<&Profile>,
    ) -> Result<Option<&PrivateKey>> {
        if self.current.key_id().to_string() == key_id {
            return Ok(Some(&self.current));
        }
        if !self.loaded.contains_key(key_id) {
            let Some(profile) = profile else {
                return Ok(None);
            };
            if !self.on_disk.iter().any(|k| k == key_id) {
                return Ok(None);
            }
            let key = profile.load_private_key(key_id, &self.passphrase)?;
            self.on_disk.retain(|k| k != key_id);
            self.loaded.insert(key_id.to_owned(), key);
        }
        Ok(self.loaded.get(key_id))
    }
}
