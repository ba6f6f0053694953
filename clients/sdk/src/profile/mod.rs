//! The profile: everything this device keeps for one account, in one directory.
//!
//! ```text
//! <root>/<profile>/            0700   root: --profile-dir, $E2EE_PROFILE_DIR, or ~/.config/e2ee
//!   profile.json               0600   server URL, user id, username, current key id, list of local keys
//!   session.json               0600   the session token and its expiry (secret)
//!   contacts.json              0600   pinned keys and usernames of contacts (trust on first use)
//!   seen.json                  0600   the signed messages already seen (sender, message id): replay detection
//!   mls.sealed                 0600   the MLS device's state (openmls storage, groups), sealed under the passphrase
//!   keys/                      0700
//!     <keyid>.key              0600   private key, encrypted PKCS#8 PEM (PBKDF2-SHA256 + AES-256-CBC)
//!     <keyid>.pub              0600   its SPKI PEM public key (so listing keys needs no passphrase)
//! ```
//!
//! Old keys stay after `keys rotate`, so the history sealed for them remains readable. Files are replaced
//! atomically (write to a temporary file, then rename); key files are never overwritten.

mod files;
mod mls_state;
mod seen;

use std::fs;
use std::path::{Path, PathBuf};

use e2ee_crypto::{KeyId, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::contacts::Contacts;
use crate::error::{ClientError, Result};
use files::{ensure_private_dir, read_json, write_atomic, write_json_atomic, write_new_private};
pub use mls_state::MLS_STATE_FILE;
pub use seen::SeenMessages;

pub const PROFILE_FILE: &str = "profile.json";
pub const SESSION_FILE: &str = "session.json";
pub const CONTACTS_FILE: &str = "contacts.json";
pub const SEEN_FILE: &str = "seen.json";
pub const KEYS_DIR: &str = "keys";
pub const DEFAULT_PROFILE: &str = "default";
const FORMAT_VERSION: u32 = 1;

/// The directory that holds the profiles when none is given: `$XDG_CONFIG_HOME/e2ee`, else
/// `$HOME/.config/e2ee`.
pub fn default_root() -> Result<PathBuf> {
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(config).join("e2ee"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".config").join("e2ee")),
        None => Err(ClientError::Usage(
            "cannot find the home directory: pass --profile-dir or set E2EE_PROFILE_DIR".into(),
        )),
    }
}

/// Profile names are directory names: 1–64 of `A-Z a-z 0-9 _ . -`, not starting with a dot.
fn validate_profile_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(ClientError::Usage(format!(
            "invalid profile name {name:?}: use 1-64 letters, digits, '_', '.' or '-', not starting with '.'"
        )))
    }
}

/// A key pair of this device, as listed in `profile.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalKey {
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub created_at: i64,
    /// When this device replaced it with a newer key (it then verifies only older messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
    /// When this device revoked it (it verifies nothing any more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// `profile.json`. Nothing secret: the token lives in `session.json`, keys in `keys/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProfileData {
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The key registered as active on the server by this device; `None` before `keys init`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_key_id: Option<String>,
    /// Every key of this device, oldest first (the current one included).
    #[serde(default)]
    pub keys: Vec<LocalKey>,
}

/// `session.json`: the bearer token and when it expires (milliseconds since the epoch).
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    pub token: Zeroizing<String>,
    pub expires_at: i64,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl SessionData {
    /// Whether the token is still good for at least `margin_ms`.
    pub fn is_valid_at(&self, now_ms: i64, margin_ms: i64) -> bool {
        self.expires_at > now_ms.saturating_add(margin_ms)
    }
}

#[derive(Debug)]
pub struct Profile {
    name: String,
    dir: PathBuf,
    pub data: ProfileData,
}

impl Profile {
    /// Opens profile `name` under `root`. A profile that does not exist yet is empty; nothing is written
    /// until [`Profile::save`].
    pub fn open(root: &Path, name: &str) -> Result<Profile> {
        validate_profile_name(name)?;
        let dir = root.join(name);
        let data = match read_json::<ProfileData>(&dir.join(PROFILE_FILE))? {
            Some(data) => {
                if data.version != FORMAT_VERSION {
                    return Err(ClientError::Profile(format!(
                        "{}: unsupported profile version {}",
                        dir.join(PROFILE_FILE).display(),
                        data.version
                    )));
                }
                for key in &data.keys {
                    KeyId::parse(&key.key_id).map_err(|_| {
                        ClientError::Profile(format!(
                            "{}: invalid key id {:?}",
                            dir.join(PROFILE_FILE).display(),
                            key.key_id
                        ))
                    })?;
                }
                data
            }
            None => ProfileData {
                version: FORMAT_VERSION,
                ..ProfileData::default()
            },
        };
        Ok(Profile {
            name: name.to_owned(),
            dir,
            data,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `profile.json` exists.
    pub fn exists(&self) -> bool {
        self.dir.join(PROFILE_FILE).exists()
    }

    /// The account's user id, or an error telling the user to register or log in.
    pub fn user_id(&self) -> Result<&str> {
        self.data
            .user_id
            .as_deref()
            .ok_or_else(|| ClientError::NotLoggedIn {
                profile: self.name.clone(),
            })
    }

    pub fn username(&self) -> &str {
        self.data.username.as_deref().unwrap_or("USERNAME")
    }

    /// Writes `profile.json` (creating the directory, mode 0700).
    pub fn save(&self) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        write_json_atomic(&self.dir.join(PROFILE_FILE), &self.data)
    }

    pub fn session(&self) -> Result<Option<SessionData>> {
        read_json(&self.dir.join(SESSION_FILE))
    }

    pub fn save_session(&self, session: &SessionData) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        let json = Zeroizing::new(
            serde_json::to_vec_pretty(session)
                .map_err(|e| ClientError::Profile(format!("cannot encode the session: {e}")))?,
        );
        write_atomic(&self.dir.join(SESSION_FILE), &json)
    }

    pub fn clear_session(&self) -> Result<()> {
        let path = self.dir.join(SESSION_FILE);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ClientError::io_path("remove", &path, e)),
        }
    }

    pub fn contacts(&self) -> Result<Contacts> {
        Ok(read_json(&self.dir.join(CONTACTS_FILE))?.unwrap_or_default())
    }

    pub fn save_contacts(&self, contacts: &Contacts) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        write_json_atomic(&self.dir.join(CONTACTS_FILE), contacts)
    }

    fn keys_dir(&self) -> PathBuf {
        self.dir.join(KEYS_DIR)
    }

    pub fn private_key_path(&self, key_id: &str) -> PathBuf {
        self.keys_dir().join(format!("{key_id}.key"))
    }

    pub fn public_key_path(&self, key_id: &str) -> PathBuf {
        self.keys_dir().join(format!("{key_id}.pub"))
    }

    /// The current key's entry, if `keys init` ran. It may have been revoked since (see
    /// [`Profile::usable_key`]).
    pub fn current_key(&self) -> Option<&LocalKey> {
        let current = self.data.current_key_id.as_deref()?;
        self.data.keys.iter().find(|k| k.key_id == current)
    }

    /// The current key, unless it was revoked.
    pub fn usable_key(&self) -> Option<&LocalKey> {
        self.current_key().filter(|k| k.revoked_at.is_none())
    }

    /// The entry of one of this device's keys.
    pub fn local_key(&self, key_id: &str) -> Option<&LocalKey> {
        self.data.keys.iter().find(|k| k.key_id == key_id)
    }

    pub fn local_key_mut(&mut self, key_id: &str) -> Option<&mut LocalKey> {
        self.data.keys.iter_mut().find(|k| k.key_id == key_id)
    }

    /// The signed messages this profile has already seen (see [`SeenMessages`]).
    pub fn seen(&self) -> Result<SeenMessages> {
        Ok(read_json(&self.dir.join(SEEN_FILE))?.unwrap_or_default())
    }

    pub fn save_seen(&self, seen: &SeenMessages) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        write_json_atomic(&self.dir.join(SEEN_FILE), seen)
    }

    /// Writes a new key pair: the private key encrypted with `passphrase` and the public key, both 0600.
    /// Does not change the profile data (see [`Profile::add_key`]).
    pub fn write_key(&self, key: &PrivateKey, passphrase: &str, now_ms: i64) -> Result<LocalKey> {
        if passphrase.is_empty() {
            return Err(ClientError::Usage(
                "the passphrase must not be empty".into(),
            ));
        }
        ensure_private_dir(&self.dir)?;
        ensure_private_dir(&self.keys_dir())?;
        let key_id = key.key_id().to_string();
        let encrypted = key.to_encrypted_pkcs8_pem(passphrase.as_bytes())?;
        let public = key.public_key().to_spki_pem()?;
        write_new_private(&self.private_key_path(&key_id), encrypted.as_bytes())?;
        write_new_private(&self.public_key_path(&key_id), public.as_bytes())?;
        Ok(LocalKey {
            key_id,
            fingerprint: key.key_id().fingerprint(),
            bits: key.public_key().size().bits() as u32,
            created_at: now_ms,
            retired_at: None,
            revoked_at: None,
        })
    }

    /// Records a written key and makes it current (the caller saves).
    pub fn add_key(&mut self, key: LocalKey) {
        self.data.current_key_id = Some(key.key_id.clone());
        self.data.keys.retain(|k| k.key_id != key.key_id);
        self.data.keys.push(key);
    }

    /// Removes the files of a key that never became current (e.g. the server refused it).
    pub fn discard_key_files(&self, key_id: &str) {
        let _ = fs::remove_file(self.private_key_path(key_id));
        let _ = fs::remove_file(self.public_key_path(key_id));
    }

    /// Decrypts a private key of this profile.
    pub fn load_private_key(&self, key_id: &str, passphrase: &str) -> Result<PrivateKey> {
        let path = self.private_key_path(key_id);
        let pem = Zeroizing::new(
            fs::read_to_string(&path).map_err(|e| ClientError::io_path("read", &path, e))?,
        );
        let key = PrivateKey::from_pem(&pem, Some(passphrase.as_bytes()))?;
        if key.key_id().to_string() != key_id {
            return Err(ClientError::Profile(format!(
                "{} does not hold the key it is named after",
                path.display()
            )));
        }
        Ok(key)
    }

    pub fn load_public_key(&self, key_id: &str) -> Result<PublicKey> {
        let path = self.public_key_path(key_id);
        let pem = fs::read_to_string(&path).map_err(|e| ClientError::io_path("read", &path, e))?;
        let key = PublicKey::from_spki_pem(&pem)?;
        if key.key_id().to_string() != key_id {
            return Err(ClientError::Profile(format!(
                "{} does not hold the key it is named after",
                path.display()
            )));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
