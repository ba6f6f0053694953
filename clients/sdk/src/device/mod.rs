//! The operations of a user on this device: register, log in, manage keys, send, read inbox and history.
//!
//! All cryptography happens here, on the device: keys are generated locally and only their public halves
//! are registered; messages are sealed for the receiver and for the sender's own key, signed, and opened
//! locally. The server-assisted endpoints are never used.
//!
//! [`Device`] is one account on this device; its operations are grouped by job, one file each: `account`
//! (register, log in), `keys` (own keys), `contacts` (trust on first use of keys and names), `send`, and
//! `read` (inbox, read, history), which pages through listings with one helper (`paging`) and opens each
//! message against the sender's key directory (`open`).

mod account;
mod contacts;
mod groups;
mod keys;
mod mls_devices;
mod open;
pub(crate) mod paging;
mod read;
mod send;

use std::collections::HashMap;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::api::Client;
use crate::clock::now_ms;
use crate::contacts::Contacts;
use crate::error::{ClientError, Result};
use crate::keyring::KeyRing;
use crate::profile::{Profile, SeenMessages, SessionData};
pub use account::Account;
pub use contacts::{ContactReport, ContactStatus, TrustedKey};
pub use e2ee_client_core::devices::{CertifiedDevice, device_fingerprint};
use e2ee_client_core::directory::Directory;
pub use groups::{
    GroupMessage, GroupReadReport, GroupReport, LeaveReport, SyncReport, UPDATE_AFTER_MESSAGES,
    UPDATE_AFTER_MS,
};
pub use keys::{KeyInfo, KeysReport, OwnKey, RevokeReport};
pub use mls_devices::{DeviceListReport, DeviceReport, ListedDevice, revoke_device_request};
pub use paging::MAX_PAGES;
pub use read::{HistoryReport, ReadReport};
pub use send::SendReport;

/// A session token is treated as expired this long before it really expires.
const SESSION_MARGIN_MS: i64 = 30_000;

/// A user as seen by this device.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub user_id: String,
    pub username: String,
}

/// One account on this device: its profile directory and an API client.
#[derive(Debug)]
pub struct Device {
    profile: Profile,
    client: Client,
    session: Option<SessionData>,
    contacts: Contacts,
    contacts_changed: bool,
    seen: SeenMessages,
    seen_changed: bool,
    directory: HashMap<String, Directory>,
    /// Usernames learnt from lookups during this run (user id → username).
    names: HashMap<String, String>,
    /// Each user's certified MLS devices, checked once per run (user id → devices).
    certified: HashMap<String, Vec<CertifiedDevice>>,
    /// Each user's device listing as the directory answered it, once per run (user id → devices).
    listed: std::collections::BTreeMap<String, Vec<e2ee_protocol::DeviceView>>,
    /// The device token the client holds, if any: for which device, and until when (ms since the epoch).
    device_token: Option<(String, i64)>,
    /// This profile's MLS device as the current operation opened its state (every operation on the state
    /// starts with [`Device::use_device_token`], which records it): what checking the approver's link proof
    /// needs where the state itself is not passed along (review N10).
    own_device: Option<OwnDevice>,
    /// Why this device trusts no identity key of its own user, if it holds none and pinned none (review N10):
    /// shown with `device list` and refusals.
    own_key_unverified: Option<String>,
}

/// See [`Device::own_device`]. The secret's `Debug` is redacted.
#[derive(Debug, Clone)]
struct OwnDevice {
    device_id: String,
    signature_key: Vec<u8>,
    link_secret: Option<e2ee_client_core::link::LinkSecret>,
}

impl Device {
    /// Opens `profile` against `server` (an explicit URL) or, without one, the server the profile was
    /// registered on. The saved session token is only ever sent to the profile's own server: against
    /// another one, requests go without it (and fail with [`ClientError::OtherServer`]) until you log in
    /// there with another profile.
    pub fn open(profile: Profile, server: Option<&str>) -> Result<Device> {
        let server = match server.filter(|s| !s.trim().is_empty()) {
            Some(server) => server.to_owned(),
            None => profile.data.server.clone().ok_or_else(|| {
                ClientError::Usage(
                    "no server URL: pass --server URL or set E2EE_SERVER (e.g. http://127.0.0.1:9000)"
                        .into(),
                )
            })?,
        };
        let mut client = Client::new(&server)?;
        let session = profile.session()?;
        if let Some(session) = &session {
            let same_server = match &profile.data.server {
                None => true,
                Some(saved) => crate::api::normalize_base_url(saved)
                    .is_ok_and(|saved| saved == client.base_url()),
            };
            if same_server {
                client.set_token(Some(session.token.clone()));
            } else {
                let saved = profile.data.server.clone().unwrap_or_default();
                client.withhold_token(profile.name(), &saved);
            }
        }
        let contacts = profile.contacts()?;
        let seen = profile.seen()?;
        Ok(Device {
            profile,
            client,
            session,
            contacts,
            contacts_changed: false,
            seen,
            seen_changed: false,
            directory: HashMap::new(),
            names: HashMap::new(),
            certified: HashMap::new(),
            listed: std::collections::BTreeMap::new(),
            device_token: None,
            own_device: None,
            own_key_unverified: None,
        })
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// Unlocks this device's private keys (see [`KeyRing::unlock`]).
    pub fn unlock(&self, passphrase: Zeroizing<String>) -> Result<KeyRing> {
        KeyRing::unlock(&self.profile, passphrase)
    }

    /// The user id of a logged-in, unexpired session (checked locally, without asking the server).
    pub fn require_session(&self) -> Result<String> {
        self.me()
    }

    fn me(&self) -> Result<String> {
        let user_id = self.profile.user_id()?.to_owned();
        match &self.session {
            None => Err(ClientError::NotLoggedIn {
                profile: self.profile.name().to_owned(),
            }),
            Some(session) if !session.is_valid_at(now_ms(), SESSION_MARGIN_MS) => {
                Err(ClientError::SessionExpired {
                    profile: self.profile.name().to_owned(),
                    username: self.profile.username().to_owned(),
                })
            }
            Some(_) => Ok(user_id),
        }
    }

    /// Saves the contacts (pins) and the seen-set, if they changed.
    fn save_contacts(&mut self) -> Result<()> {
        if self.contacts_changed {
            self.profile.save_contacts(&self.contacts)?;
            self.contacts_changed = false;
        }
        if self.seen_changed {
            self.profile.save_seen(&self.seen)?;
            self.seen_changed = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
