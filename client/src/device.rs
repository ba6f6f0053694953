//! The operations of a user on this device: register, log in, manage keys, send, read inbox and history.
//!
//! All cryptography happens here, on the device: keys are generated locally and only their public halves
//! are registered; messages are sealed for the receiver and for the sender's own key, signed, and opened
//! locally. The server-assisted endpoints are never used.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use e2ee_crypto::{KeyId, KeySize, PrivateKey, PublicKey, Recipient, SealParams};
use e2ee_protocol::{
    KeyStatus, LoginRequest, MessagePage, MessageView, PublicKeyResponse, RegisterRequest,
    UserResponse,
};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::api::{Client, MAX_PAGE, Order};
use crate::contacts::{Contacts, Trust, fold_username};
use crate::error::{ClientError, KeyChange, Result};
use crate::keyops::{self, SecondFactor};
use crate::messages::{self, KeyRing, MessageReport, Signer, Verification};
use crate::profile::{LocalKey, Profile, SeenMessages, SessionData};

/// A session token is treated as expired this long before it really expires.
const SESSION_MARGIN_MS: i64 = 30_000;
/// Pauses before repeating a send that failed in transit (same envelope, so the server de-duplicates it).
const SEND_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];
/// The most pages one command fetches from one listing (100 000 messages at the largest page size).
pub const MAX_PAGES: usize = 1000;
/// Cursors are opaque, but a sane one is short.
const MAX_CURSOR_BYTES: usize = 4096;

pub fn now_ms() -> i64 {
    i64::try_from(crate::offline::now_millis()).unwrap_or(i64::MAX)
}

/// A public key as the server lists it, with the key id computed here (never taken from the server).
#[derive(Debug, Clone)]
struct DirectoryKey {
    key_id: String,
    key: PublicKey,
    status: KeyStatus,
    /// Revoked (by status or time): verifies nothing.
    revoked: bool,
    /// Retired: verifies only messages signed before this time (`i64::MIN` when the time is unknown).
    retired_at: Option<i64>,
}

/// Guards a cursor loop against a server that pages forever: at most [`MAX_PAGES`] pages, no cursor twice.
struct Pages {
    what: &'static str,
    fetched: usize,
    seen: HashSet<String>,
}

impl Pages {
    fn new(what: &'static str) -> Pages {
        Pages {
            what,
            fetched: 0,
            seen: HashSet::new(),
        }
    }

    /// Counts a fetched page; returns the cursor of the next one, if there is one and it may be fetched.
    fn next(&mut self, cursor: Option<String>) -> Result<Option<String>> {
        self.fetched += 1;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: the server's cursor is longer than {MAX_CURSOR_BYTES} bytes",
                self.what
            )));
        }
        if !self.seen.insert(cursor.clone()) {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: the server sent the same cursor twice (a paging loop); stopped",
                self.what
            )));
        }
        if self.fetched >= MAX_PAGES {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: more than {MAX_PAGES} pages; stopped",
                self.what
            )));
        }
        Ok(Some(cursor))
    }
}

/// The second factor this device can give for a key operation.
enum Factor {
    None,
    Key(Box<PrivateKey>),
    Password(Zeroizing<String>),
}

impl Factor {
    fn as_second(&self) -> SecondFactor<'_> {
        match self {
            Factor::None => SecondFactor::None,
            Factor::Key(key) => SecondFactor::ActiveKey(key),
            Factor::Password(password) => SecondFactor::Password(password.clone()),
        }
    }
}

/// The server asks for a second factor this device did not give: the password is needed.
fn key_operation_error(error: ClientError) -> ClientError {
    match error {
        ClientError::Api {
            status: 403, code, ..
        } if code == "authorization_required" => ClientError::PasswordRequired,
        other => other,
    }
}

#[derive(Debug, Clone, Default)]
struct DirectoryEntry {
    active: Option<String>,
    keys: Vec<DirectoryKey>,
}

/// A user as seen by this device.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserRef {
    pub user_id: String,
    pub username: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub profile: String,
    pub server: String,
    pub user_id: String,
    pub username: String,
    /// When the session token expires (ms since the epoch).
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub key_id: String,
    pub fingerprint: String,
    pub bits: u32,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_key_id: Option<String>,
}

/// The result of `keys revoke`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeReport {
    pub key_id: String,
    pub fingerprint: String,
    pub revoked_at: i64,
    /// It was the account's active key: the account has none now, until a new key is registered.
    pub was_active: bool,
    /// The private key is on this device (kept, so what was sealed for it stays readable).
    pub on_this_device: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnKey {
    #[serde(flatten)]
    pub key: LocalKey,
    pub current: bool,
    /// The key's status on the server, when it could be asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_status: Option<KeyStatus>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeysReport {
    pub profile: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub keys: Vec<OwnKey>,
    /// The server's active key for this account, if it is not one of this device's keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub foreign_active_key: Option<String>,
    /// Why the server's view is missing (not logged in, unreachable, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_note: Option<String>,
}

/// The result of `keys verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContactStatus {
    /// Seen for the first time: pinned now.
    New,
    /// The pinned key is still the active one.
    Unchanged,
    /// The active key differs from the pinned one (not accepted).
    Changed,
    /// The active key differed and the user accepted it.
    Accepted,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactReport {
    pub user_id: String,
    pub username: String,
    pub status: ContactStatus,
    /// The contact's active key on the server.
    pub key_id: String,
    pub fingerprint: String,
    /// The previously pinned key, when it differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_fingerprint: Option<String>,
    pub first_seen: i64,
    /// This device's own fingerprint, to compare the other way round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_fingerprint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReport {
    pub to: UserRef,
    pub message_id: String,
    pub chat_id: String,
    pub client_message_id: String,
    pub created_at: i64,
    /// The receiver's key the message was sealed for.
    pub receiver_key_id: String,
    /// True when the first attempt hit `stale_recipient_key` and the message was re-sealed for a newer key.
    pub resealed: bool,
    /// False when the server already had this exact envelope (an idempotent retry).
    pub created: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReport {
    pub chat_id: String,
    pub with: UserRef,
    pub messages: Vec<MessageReport>,
    /// True when older messages exist that were not fetched (no `--all`).
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReport {
    pub message_id: String,
    pub read_at: i64,
    /// The message, when it could be found (the inbox, or the history with a known contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageReport>,
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
    directory: HashMap<String, DirectoryEntry>,
    /// Usernames learnt from lookups during this run (user id → username).
    names: HashMap<String, String>,
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

    fn refuse_other_account(&self, user_id: Option<&str>, username: &str) -> Result<()> {
        match (&self.profile.data.user_id, user_id) {
            (Some(existing), Some(new)) if existing == new => Ok(()),
            (Some(existing), _) => Err(ClientError::Usage(format!(
                "profile {} belongs to {} ({existing}), not {username}: use --profile NAME for another account",
                self.profile.name(),
                self.profile.username(),
            ))),
            (None, _) => Ok(()),
        }
    }

    // ---- account ----------------------------------------------------------------------------------------

    /// Creates the account, then logs in (the session is saved in the profile).
    pub async fn register(
        &mut self,
        username: &str,
        password: Zeroizing<String>,
        display_name: Option<String>,
    ) -> Result<Account> {
        self.refuse_other_account(None, username)?;
        let registered = self
            .client
            .register(&RegisterRequest {
                username: username.to_owned(),
                password: password.clone(),
                display_name,
            })
            .await?;
        self.login(&registered.username, password).await
    }

    /// Logs in and saves the session token (mode 0600) and the account in the profile.
    pub async fn login(&mut self, username: &str, password: Zeroizing<String>) -> Result<Account> {
        let response = self
            .client
            .login(&LoginRequest {
                username: username.to_owned(),
                password,
            })
            .await?;
        self.refuse_other_account(Some(&response.user_id), username)?;
        self.client.set_token(Some(response.token.clone()));
        // The canonical spelling of the username, as the server stores it.
        let username = match self.client.lookup_user(username).await {
            Ok(user) if user.user_id == response.user_id => user.username,
            _ => username.to_owned(),
        };
        let session = SessionData {
            token: response.token,
            expires_at: response.expires_at,
        };
        self.profile.data.server = Some(self.client.base_url().to_owned());
        self.profile.data.user_id = Some(response.user_id.clone());
        self.profile.data.username = Some(username.clone());
        self.profile.save()?;
        self.profile.save_session(&session)?;
        self.session = Some(session);
        Ok(Account {
            profile: self.profile.name().to_owned(),
            server: self.client.base_url().to_owned(),
            user_id: response.user_id,
            username,
            expires_at: self.session.as_ref().map(|s| s.expires_at).unwrap_or(0),
        })
    }

    /// Forgets the session token.
    pub fn logout(&mut self) -> Result<()> {
        self.profile.clear_session()?;
        self.session = None;
        self.client.set_token(None);
        Ok(())
    }

    // ---- own keys ---------------------------------------------------------------------------------------

    /// Generates this device's first key pair, stores it encrypted with `passphrase`, and registers the
    /// public key. If the account already has an active key that is not on this device, refuses unless
    /// `replace` (the new key would make messages sealed for that key unreadable here).
    ///
    /// Registration is signed by the new key (proof of possession) and, when the account already has a
    /// key, authorized by the active key if this device holds it, otherwise by `password`
    /// ([`ClientError::PasswordRequired`] without one). A profile whose key was revoked may run this too:
    /// `passphrase` must then unlock that key (a profile has one passphrase).
    pub async fn keys_init(
        &mut self,
        passphrase: &str,
        bits: usize,
        replace: bool,
        password: Option<&str>,
    ) -> Result<KeyInfo> {
        let me = self.me()?;
        if let Some(current) = self.profile.usable_key() {
            return Err(ClientError::Usage(format!(
                "profile {} already has a key ({}): use `e2ee keys rotate` to replace it",
                self.profile.name(),
                current.fingerprint
            )));
        }
        let previous = self.profile.current_key().map(|k| k.key_id.clone());
        if let Some(previous) = &previous {
            self.profile.load_private_key(previous, passphrase)?;
        }
        let active = self.server_active_key(&me).await?;
        if let Some(active) = &active
            && !replace
            && self.profile.local_key(&active.key_id).is_none()
        {
            return Err(ClientError::Usage(format!(
                "your account already has an active key (fingerprint {}) that is not on this device; \
                 messages sealed for it cannot be read here. Use `e2ee keys init --replace` to register \
                 a new key anyway",
                active.fingerprint
            )));
        }
        let factor = self.second_factor(
            active.as_ref().map(|a| a.key_id.as_str()),
            passphrase,
            password,
            false,
        )?;
        self.generate_and_register(&me, passphrase, bits, previous, factor)
            .await
    }

    /// Replaces the current key with a new one (the old private key stays on the device, so the history
    /// sealed for it stays readable). `passphrase` must unlock the current key; the new key uses it too.
    /// The registration is authorized as for [`Device::keys_init`]: by the active key when it is on this
    /// device (the usual case), else by `password`.
    pub async fn keys_rotate(
        &mut self,
        passphrase: &str,
        bits: usize,
        password: Option<&str>,
    ) -> Result<KeyInfo> {
        let me = self.me()?;
        let current = self
            .profile
            .current_key()
            .ok_or_else(|| ClientError::NoKey {
                profile: self.profile.name().to_owned(),
            })?
            .key_id
            .clone();
        // Proves the passphrase before anything changes.
        self.profile.load_private_key(&current, passphrase)?;
        let active = self.server_active_key(&me).await?;
        let factor = self.second_factor(
            active.as_ref().map(|a| a.key_id.as_str()),
            passphrase,
            password,
            false,
        )?;
        self.generate_and_register(&me, passphrase, bits, Some(current), factor)
            .await
    }

    /// Revokes one of the account's keys (`key_id`: 64 hex). Authorized by the active key when this device
    /// holds it (unlocked with `passphrase`), else by `password`. After revoking the active key the account
    /// has none until `keys rotate` or `keys init`; the private key stays on the device so what was sealed
    /// for it stays readable.
    pub async fn keys_revoke(
        &mut self,
        key_id: &str,
        passphrase: Option<&str>,
        password: Option<&str>,
    ) -> Result<RevokeReport> {
        let me = self.me()?;
        let key_id = key_id.trim().to_ascii_lowercase();
        let parsed = KeyId::parse(&key_id).map_err(|_| {
            ClientError::Usage(format!(
                "{key_id:?} is not a key id: give the 64 hex digits `e2ee keys show` lists"
            ))
        })?;
        let active = self.server_active_key(&me).await?;
        let factor = self.second_factor(
            active.as_ref().map(|a| a.key_id.as_str()),
            passphrase.unwrap_or_default(),
            password,
            true,
        )?;
        let request =
            keyops::revoke_request(&me, parsed, factor.as_second(), now_ms().max(0) as u64)?;
        let view = match self.client.revoke_key(&request).await {
            Ok(view) => view,
            Err(ClientError::Api {
                status: 404,
                code,
                message,
            }) => {
                return Err(ClientError::Api {
                    status: 404,
                    code,
                    message: format!("you have no key {key_id} ({message})"),
                });
            }
            Err(error) => return Err(key_operation_error(error)),
        };
        let key = PublicKey::from_spki_pem(&view.public_key)
            .map_err(|e| ClientError::InvalidResponse(format!("the revoked key: {e}")))?;
        if key.key_id() != parsed || view.key_id != key_id {
            return Err(ClientError::InvalidResponse(
                "the server answered for another key than the one revoked".into(),
            ));
        }
        let revoked_at = view.revoked_at.unwrap_or_else(now_ms);
        let on_this_device = match self.profile.local_key_mut(&key_id) {
            Some(local) => {
                local.revoked_at = Some(revoked_at);
                true
            }
            None => false,
        };
        if on_this_device {
            self.profile.save()?;
        }
        Ok(RevokeReport {
            key_id,
            fingerprint: parsed.fingerprint(),
            revoked_at,
            was_active: active.is_some_and(|a| a.key_id == view.key_id),
            on_this_device,
        })
    }

    /// The account's active key on the server, if it has one.
    async fn server_active_key(&self, me: &str) -> Result<Option<PublicKeyResponse>> {
        match self.client.public_key(me, false).await {
            Ok(active) => Ok(Some(active)),
            Err(ClientError::Api { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The second factor of a key operation: a signature by the active key when it is on this device (and
    /// `passphrase` unlocks it), else `password`, else nothing for an account's very first key; when the
    /// account surely has keys (or `required`), [`ClientError::PasswordRequired`].
    fn second_factor(
        &self,
        active_key_id: Option<&str>,
        passphrase: &str,
        password: Option<&str>,
        required: bool,
    ) -> Result<Factor> {
        if let Some(active) = active_key_id
            && self.profile.local_key(active).is_some()
            && !passphrase.is_empty()
        {
            let key = self.profile.load_private_key(active, passphrase)?;
            return Ok(Factor::Key(Box::new(key)));
        }
        if let Some(password) = password.filter(|p| !p.is_empty()) {
            return Ok(Factor::Password(Zeroizing::new(password.to_owned())));
        }
        if required || active_key_id.is_some() || !self.profile.data.keys.is_empty() {
            return Err(ClientError::PasswordRequired);
        }
        Ok(Factor::None)
    }

    async fn generate_and_register(
        &mut self,
        me: &str,
        passphrase: &str,
        bits: usize,
        previous: Option<String>,
        factor: Factor,
    ) -> Result<KeyInfo> {
        if passphrase.is_empty() {
            return Err(ClientError::Usage(
                "the passphrase must not be empty".into(),
            ));
        }
        let key = PrivateKey::generate(KeySize::from_bits(bits)?)?;
        let local = self.profile.write_key(&key, passphrase, now_ms())?;
        let created_at = u64::try_from(now_ms()).unwrap_or(0);
        let registered = match keyops::register_request(me, &key, factor.as_second(), created_at) {
            Ok(request) => self.client.register_key(&request).await,
            Err(error) => Err(error),
        };
        let registered = match registered {
            Ok(view) => view,
            Err(error) => {
                self.profile.discard_key_files(&local.key_id);
                return Err(key_operation_error(error));
            }
        };
        if registered.key_id != local.key_id {
            self.profile.discard_key_files(&local.key_id);
            return Err(ClientError::InvalidResponse(
                "the server registered a different key id than the key sent".into(),
            ));
        }
        if let Some(previous) = previous
            .as_deref()
            .and_then(|id| self.profile.local_key_mut(id))
            && previous.revoked_at.is_none()
        {
            previous.retired_at = Some(registered.created_at);
        }
        self.profile.add_key(local.clone());
        self.profile.save()?;
        Ok(KeyInfo {
            key_id: local.key_id,
            fingerprint: local.fingerprint,
            bits: local.bits,
            created_at: local.created_at,
            previous_key_id: previous,
        })
    }

    /// This device's keys (no passphrase needed), with their status on the server when it can be asked.
    pub async fn keys_show(&mut self) -> KeysReport {
        let mut report = KeysReport {
            profile: self.profile.name().to_owned(),
            user_id: self.profile.data.user_id.clone(),
            username: self.profile.data.username.clone(),
            keys: self
                .profile
                .data
                .keys
                .iter()
                .rev()
                .map(|key| OwnKey {
                    current: self.profile.data.current_key_id.as_deref() == Some(&key.key_id),
                    key: key.clone(),
                    server_status: None,
                })
                .collect(),
            foreign_active_key: None,
            server_note: None,
        };
        let me = match self.me() {
            Ok(me) => me,
            Err(error) => {
                report.server_note = Some(error.to_string());
                return report;
            }
        };
        match self.client.public_key(&me, true).await {
            Ok(listing) => {
                let server_keys = listing.keys.unwrap_or_default();
                for own in &mut report.keys {
                    own.server_status = server_keys
                        .iter()
                        .find(|k| k.key_id == own.key.key_id)
                        .map(|k| k.status);
                }
                if !report.keys.iter().any(|k| k.key.key_id == listing.key_id) {
                    report.foreign_active_key = Some(listing.fingerprint);
                }
            }
            Err(ClientError::Api { status: 404, .. }) => {
                report.server_note = Some("the server has no active key for this account".into());
            }
            Err(error) => report.server_note = Some(error.to_string()),
        }
        report
    }

    // ---- contacts ---------------------------------------------------------------------------------------

    async fn lookup(&mut self, username: &str) -> Result<UserResponse> {
        self.lookup_pinned(username, false).await
    }

    /// Asks the server for `username`'s user id and checks the answer against the pinned names (trust on
    /// first use of names, both ways): a name pinned to another user id, or a pinned user id under another
    /// name, is [`ClientError::IdentityChanged`] unless `accept` (the user checked it), which re-pins.
    async fn lookup_pinned(&mut self, username: &str, accept: bool) -> Result<UserResponse> {
        let user = match self.client.lookup_user(username).await {
            Ok(user) => user,
            Err(ClientError::Api { status: 404, .. }) => {
                return Err(ClientError::UnknownUser(username.to_owned()));
            }
            Err(other) => return Err(other),
        };
        if fold_username(&user.username) != fold_username(username) {
            return Err(ClientError::InvalidResponse(format!(
                "asked for user {username:?}, the server answered for {:?}",
                crate::output::sanitize_line(&user.username)
            )));
        }
        match self.contacts.check_identity(&user.user_id, &user.username) {
            Ok(()) => {
                if self.contacts.bind_username(&user.user_id, &user.username) {
                    self.contacts_changed = true;
                }
            }
            Err(_) if accept => {
                self.contacts.accept_identity(&user.user_id, &user.username);
                self.contacts_changed = true;
            }
            Err(change) => return Err(ClientError::IdentityChanged(Box::new(change))),
        }
        self.names
            .insert(user.user_id.clone(), user.username.clone());
        Ok(user)
    }

    /// The user's active key, with its id computed from the key itself.
    async fn active_key(&self, user: &UserResponse) -> Result<(String, PublicKey)> {
        let response = match self.client.public_key(&user.user_id, false).await {
            Ok(response) => response,
            Err(ClientError::Api {
                status: 404,
                code,
                message,
            }) if code == "no_active_key" => {
                return Err(ClientError::Api {
                    status: 404,
                    code,
                    message: format!(
                        "{} has no key yet (they must run `e2ee keys init`): {message}",
                        user.username
                    ),
                });
            }
            Err(other) => return Err(other),
        };
        let key = PublicKey::from_spki_pem(&response.public_key).map_err(|e| {
            ClientError::InvalidResponse(format!("the public key of {}: {e}", user.username))
        })?;
        let key_id = key.key_id().to_string();
        if key_id != response.key_id {
            return Err(ClientError::InvalidResponse(format!(
                "the server's key id for {} does not match the key",
                user.username
            )));
        }
        Ok((key_id, key))
    }

    /// The receiver's active key, if this device trusts it: pinned on first use, refused when it changed.
    /// `repin`: the pin was made moments ago by this same operation and never shown to the user, so a newer
    /// key replaces it (still first use). Returns whether the key was pinned now.
    async fn trusted_active_key(
        &mut self,
        user: &UserResponse,
        repin: bool,
    ) -> Result<(String, PublicKey, bool)> {
        let (key_id, key) = self.active_key(user).await?;
        if repin {
            self.contacts.contacts.remove(&user.user_id);
        }
        let mut pinned_now = false;
        match self.contacts.check(&user.user_id, &key_id) {
            Trust::Unchanged => {}
            Trust::New => {
                pinned_now = true;
                self.contacts.pin_first_use(
                    &user.user_id,
                    &user.username,
                    &key_id,
                    &key.key_id().fingerprint(),
                    &[],
                    now_ms(),
                );
                self.contacts_changed = true;
            }
            Trust::Changed { pinned } => {
                return Err(ClientError::KeyChanged(Box::new(KeyChange {
                    username: user.username.clone(),
                    user_id: user.user_id.clone(),
                    old_key_id: pinned.key_id,
                    old_fingerprint: pinned.fingerprint,
                    new_key_id: key_id,
                    new_fingerprint: key.key_id().fingerprint(),
                })));
            }
        }
        Ok((key_id, key, pinned_now))
    }

    /// Shows a contact's current fingerprint against the pinned one; with `accept`, trusts a changed key.
    /// A changed username ↔ user id mapping is refused ([`ClientError::IdentityChanged`]) unless `accept`,
    /// which pins the new mapping too.
    pub async fn verify_contact(&mut self, username: &str, accept: bool) -> Result<ContactReport> {
        self.me()?;
        let user = match self.lookup_pinned(username, accept).await {
            Ok(user) => user,
            Err(error) => {
                self.save_contacts()?;
                return Err(error);
            }
        };
        let (key_id, key) = self.active_key(&user).await?;
        let fingerprint = key.key_id().fingerprint();
        let now = now_ms();
        let (status, pinned) = match self.contacts.check(&user.user_id, &key_id) {
            Trust::New => {
                self.contacts.pin_first_use(
                    &user.user_id,
                    &user.username,
                    &key_id,
                    &fingerprint,
                    &[],
                    now,
                );
                (ContactStatus::New, None)
            }
            Trust::Unchanged => (ContactStatus::Unchanged, None),
            Trust::Changed { pinned } if accept => {
                self.contacts
                    .accept(&user.user_id, &user.username, &key_id, &fingerprint, now);
                (ContactStatus::Accepted, Some(pinned))
            }
            Trust::Changed { pinned } => (ContactStatus::Changed, Some(pinned)),
        };
        if status != ContactStatus::Unchanged {
            self.contacts_changed = true;
        }
        self.save_contacts()?;
        let first_seen = self
            .contacts
            .get(&user.user_id)
            .map(|c| c.first_seen)
            .unwrap_or(now);
        Ok(ContactReport {
            user_id: user.user_id,
            username: user.username,
            status,
            key_id,
            fingerprint,
            pinned_key_id: pinned.as_ref().map(|p| p.key_id.clone()),
            pinned_fingerprint: pinned.map(|p| p.fingerprint),
            first_seen,
            my_fingerprint: self.profile.current_key().map(|k| k.fingerprint.clone()),
        })
    }

    // ---- messages ---------------------------------------------------------------------------------------

    /// Seals `plaintext` for `username` and for this device's own key, signs it, and sends it.
    ///
    /// * The receiver's active key must be the pinned one ([`ClientError::KeyChanged`] otherwise); a
    ///   contact seen for the first time is pinned now.
    /// * On `409 stale_recipient_key` the receiver's key is fetched again and the message re-sealed once,
    ///   with the same client message id. Trust on first use still applies: a key that differs from a pin
    ///   the user already relied on is refused; only a pin made moments ago by this same send is replaced.
    /// * Transport failures and 502/503/504 repeat the identical envelope (the server answers 200 if it had
    ///   already stored it), so a message is never stored twice.
    pub async fn send(
        &mut self,
        ring: &KeyRing,
        username: &str,
        plaintext: &[u8],
    ) -> Result<SendReport> {
        let me = self.me()?;
        let own_key_id = ring.current().key_id().to_string();
        if let Some(revoked) = self
            .profile
            .local_key(&own_key_id)
            .filter(|k| k.revoked_at.is_some())
        {
            return Err(ClientError::Usage(format!(
                "your key {} is revoked: run `e2ee keys rotate` to make a new one before sending",
                revoked.fingerprint
            )));
        }
        let user = self.lookup(username).await?;
        let message_id = e2ee_crypto::random_message_id();
        let created_at = u64::try_from(now_ms()).unwrap_or(0);
        let mut resealed = false;
        let mut pinned_now = false;
        let result = loop {
            let (receiver_key_id, receiver_key) =
                match self.trusted_active_key(&user, pinned_now).await {
                    Ok((key_id, key, pinned)) => {
                        pinned_now = pinned;
                        (key_id, key)
                    }
                    Err(error) => break Err(error),
                };
            let mut recipients = vec![Recipient {
                user_id: &user.user_id,
                key: &receiver_key,
            }];
            if user.user_id != me || receiver_key_id != own_key_id {
                recipients.push(Recipient {
                    user_id: &me,
                    key: ring.current().public_key(),
                });
            }
            let envelope = e2ee_crypto::seal(
                plaintext,
                &SealParams {
                    sender_id: &me,
                    message_id: &message_id,
                    created_at,
                    recipients: &recipients,
                    sign_with: Some(ring.current()),
                },
            )?;
            match self.post(&user.user_id, &envelope).await {
                Ok(sent) => {
                    break Ok(SendReport {
                        to: UserRef {
                            user_id: user.user_id.clone(),
                            username: user.username.clone(),
                        },
                        message_id: sent.response.message_id,
                        chat_id: sent.response.chat_id,
                        client_message_id: sent.response.client_message_id,
                        created_at: sent.response.created_at,
                        receiver_key_id,
                        resealed,
                        created: sent.created,
                    });
                }
                Err(error) if !resealed && error.api_code() == Some("stale_recipient_key") => {
                    resealed = true;
                }
                Err(error) => break Err(error),
            }
        };
        self.save_contacts()?;
        result
    }

    async fn post(
        &self,
        receiver_id: &str,
        envelope: &e2ee_crypto::Envelope,
    ) -> Result<crate::api::Sent> {
        let mut delays = SEND_RETRY_DELAYS.iter();
        loop {
            match self.client.send(receiver_id, envelope).await {
                Err(error) if error.is_transient() => match delays.next() {
                    Some(delay) => tokio::time::sleep(*delay).await,
                    None => return Err(error),
                },
                other => return other,
            }
        }
    }

    /// Unread messages, oldest first, decrypted and verified (at most `limit`). With `mark_read`, each one
    /// listed is marked read on the server. Pages may hold fewer messages than asked for (the server caps
    /// them by size): paging goes on while there is a next cursor, within [`MAX_PAGES`].
    pub async fn inbox(
        &mut self,
        ring: &mut KeyRing,
        limit: usize,
        mark_read: bool,
    ) -> Result<Vec<MessageReport>> {
        let me = self.me()?;
        let mut views = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = Pages::new("the inbox");
        while views.len() < limit {
            let page_size = page_size(limit - views.len());
            let page = self
                .client
                .receive(&me, Some(page_size), cursor.as_deref())
                .await?;
            views.extend(page.messages);
            match pages.next(page.next_cursor)? {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        views.truncate(limit);
        let mut reports = Vec::with_capacity(views.len());
        for view in &views {
            reports.push(self.open_view(ring, &me, view).await?);
        }
        self.save_contacts()?;
        if mark_read {
            for report in &mut reports {
                let marked = self.client.mark_read(&report.message_id).await?;
                report.read_at = Some(marked.read_at);
            }
        }
        Ok(reports)
    }

    /// Shows one received message and marks it read. The message is looked up in the inbox, then (if it was
    /// already read) in the history with each known contact.
    pub async fn read(&mut self, ring: &mut KeyRing, message_id: &str) -> Result<ReadReport> {
        let me = self.me()?;
        let mut found: Option<MessageView> = None;
        let mut cursor: Option<String> = None;
        let mut pages = Pages::new("the inbox");
        loop {
            let page = self
                .client
                .receive(&me, Some(MAX_PAGE), cursor.as_deref())
                .await?;
            if let Some(view) = page
                .messages
                .into_iter()
                .find(|m| m.message_id == message_id)
            {
                found = Some(view);
                break;
            }
            match pages.next(page.next_cursor)? {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        // Marking first also tells "unknown" (404) and "not yours" (403) apart from "already read".
        let marked = match self.client.mark_read(message_id).await {
            Ok(marked) => marked,
            Err(ClientError::Api {
                status: 404,
                code,
                message,
            }) => {
                return Err(ClientError::Api {
                    status: 404,
                    code,
                    message: format!("no message {message_id} ({message})"),
                });
            }
            Err(other) => return Err(other),
        };
        if found.is_none() {
            found = self.find_in_histories(&me, message_id).await?;
        }
        let message = match found {
            Some(mut view) => {
                view.read_at = Some(marked.read_at);
                Some(self.open_view(ring, &me, &view).await?)
            }
            None => None,
        };
        self.save_contacts()?;
        Ok(ReadReport {
            message_id: marked.message_id,
            read_at: marked.read_at,
            message,
        })
    }

    /// One page of a chat's history; a chat the server does not know (no message yet) is empty.
    async fn history_page(
        &self,
        chat_id: &str,
        limit: u32,
        cursor: Option<&str>,
        order: Order,
    ) -> Result<MessagePage> {
        match self
            .client
            .history(chat_id, Some(limit), cursor, order)
            .await
        {
            Err(ClientError::Api {
                status: 404, code, ..
            }) if code == "chat_not_found" => Ok(MessagePage {
                messages: Vec::new(),
                next_cursor: None,
            }),
            other => other,
        }
    }

    async fn find_in_histories(&self, me: &str, message_id: &str) -> Result<Option<MessageView>> {
        let peers: Vec<String> = self.contacts.contacts.keys().cloned().collect();
        for peer in peers {
            let chat = e2ee_crypto::chat_id(me, &peer);
            let mut cursor: Option<String> = None;
            let mut pages = Pages::new("a chat history");
            loop {
                let page = self
                    .history_page(&chat, MAX_PAGE, cursor.as_deref(), Order::Desc)
                    .await?;
                if let Some(view) = page
                    .messages
                    .into_iter()
                    .find(|m| m.message_id == message_id)
                {
                    return Ok(Some(view));
                }
                match pages.next(page.next_cursor)? {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        Ok(None)
    }

    /// The chat with `username`, oldest first: the latest `limit` messages, or every message with `all`.
    /// A chat without messages yet (the server answers `404 chat_not_found`) is empty.
    pub async fn history(
        &mut self,
        ring: &mut KeyRing,
        username: &str,
        limit: usize,
        all: bool,
    ) -> Result<HistoryReport> {
        let me = self.me()?;
        let user = self.lookup(username).await?;
        let chat_id = e2ee_crypto::chat_id(&me, &user.user_id);
        let mut views = Vec::new();
        let mut cursor: Option<String> = None;
        let mut truncated = false;
        let mut pages = Pages::new("the chat history");
        loop {
            let (size, order) = if all {
                (MAX_PAGE, Order::Asc)
            } else {
                (page_size(limit - views.len()), Order::Desc)
            };
            let page = self
                .history_page(&chat_id, size, cursor.as_deref(), order)
                .await?;
            views.extend(page.messages);
            let more = all || views.len() < limit;
            match page.next_cursor {
                Some(_) if !more => {
                    truncated = true;
                    break;
                }
                next => match pages.next(next)? {
                    Some(next) => cursor = Some(next),
                    None => break,
                },
            }
        }
        if !all {
            views.truncate(limit);
            views.reverse();
        }
        let mut messages = Vec::with_capacity(views.len());
        for view in &views {
            messages.push(self.open_view(ring, &me, view).await?);
        }
        self.save_contacts()?;
        Ok(HistoryReport {
            chat_id,
            with: UserRef {
                user_id: user.user_id,
                username: user.username,
            },
            messages,
            truncated,
        })
    }

    /// The keys of `user_id` (every status), fetched once per run. A user without keys (or without an active
    /// key: the server then lists none) has an empty entry.
    async fn directory(&mut self, user_id: &str) -> Result<&DirectoryEntry> {
        if !self.directory.contains_key(user_id) {
            let entry = match self.client.public_key(user_id, true).await {
                Ok(response) => {
                    let keys: Vec<DirectoryKey> = response
                        .keys
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|view| {
                            let key = PublicKey::from_spki_pem(&view.public_key).ok()?;
                            let key_id = key.key_id().to_string();
                            let revoked =
                                view.status == KeyStatus::Revoked || view.revoked_at.is_some();
                            let retired_at = match view.status {
                                KeyStatus::Retired => Some(view.retired_at.unwrap_or(i64::MIN)),
                                _ => view.retired_at,
                            };
                            // A key listed under another id is ignored, never trusted; a pending key
                            // vouches for nothing.
                            (key_id == view.key_id && view.status != KeyStatus::Pending).then_some(
                                DirectoryKey {
                                    key_id,
                                    key,
                                    status: view.status,
                                    revoked,
                                    retired_at,
                                },
                            )
                        })
                        .collect();
                    let active = keys
                        .iter()
                        .find(|k| {
                            k.key_id == response.key_id
                                && k.status == KeyStatus::Active
                                && !k.revoked
                        })
                        .map(|k| k.key_id.clone());
                    DirectoryEntry { active, keys }
                }
                Err(ClientError::Api { status: 404, .. }) => DirectoryEntry::default(),
                Err(other) => return Err(other),
            };
            self.directory.insert(user_id.to_owned(), entry);
        }
        self.directory
            .get(user_id)
            .ok_or_else(|| ClientError::Profile("key directory cache".into()))
    }

    /// Pins the keys of a sender this device has never seen (trust on first use, on receipt).
    fn pin_sender_on_first_use(&mut self, sender_id: &str) {
        if self.contacts.get(sender_id).is_some() {
            return;
        }
        let Some(entry) = self.directory.get(sender_id) else {
            return;
        };
        let Some(active) = entry.active.as_ref() else {
            return;
        };
        let Some(active_key) = entry.keys.iter().find(|k| &k.key_id == active) else {
            return;
        };
        let known: Vec<String> = entry
            .keys
            .iter()
            .filter(|k| !k.revoked)
            .map(|k| k.key_id.clone())
            .collect();
        // The username is not known from a user id alone, unless looked up (and checked) in this run;
        // otherwise it is bound on the first lookup by name.
        let username = self
            .names
            .get(sender_id)
            .filter(|name| {
                self.contacts
                    .check_identity(sender_id, name.as_str())
                    .is_ok()
            })
            .cloned()
            .unwrap_or_default();
        self.contacts.pin_first_use(
            sender_id,
            &username,
            active,
            &active_key.key.key_id().fingerprint(),
            &known,
            now_ms(),
        );
        self.contacts_changed = true;
    }

    fn display_name(&self, me: &str, user_id: &str) -> Option<String> {
        if user_id == me {
            return self.profile.data.username.clone();
        }
        self.contacts
            .username(user_id)
            .filter(|name| !name.is_empty())
            .or_else(|| self.names.get(user_id).map(String::as_str))
            .map(str::to_owned)
    }

    /// What this device knows of the key `key_id` that signed a message of `sender`: `None` if it is not a
    /// key of the sender; else (key, trusted, revoked, retired at).
    async fn signer(
        &mut self,
        ring: &KeyRing,
        me: &str,
        sender: &str,
        key_id: &str,
    ) -> Result<Option<(PublicKey, bool, bool, Option<i64>)>> {
        let listed = self
            .directory(sender)
            .await?
            .keys
            .iter()
            .find(|k| k.key_id == key_id)
            .map(|k| (k.key.clone(), k.revoked, k.retired_at));
        if sender == me {
            // Own keys on this device are trusted for what they signed, within their lifetime: the server's
            // listing and this device's own record of rotations and revocations.
            let Some(key) = ring.public(key_id).cloned() else {
                // Own keys not on this device (another device of the account) are not trusted.
                return Ok(
                    listed.map(|(key, revoked, retired_at)| (key, false, revoked, retired_at))
                );
            };
            let local = self.profile.local_key(key_id);
            let revoked = listed.as_ref().is_some_and(|l| l.1)
                || local.is_some_and(|k| k.revoked_at.is_some());
            let retired_at = listed
                .as_ref()
                .and_then(|l| l.2)
                .or_else(|| local.and_then(|k| k.retired_at));
            return Ok(Some((key, true, revoked, retired_at)));
        }
        self.pin_sender_on_first_use(sender);
        Ok(listed.map(|(key, revoked, retired_at)| {
            let trusted = self.contacts.trusts(sender, key_id).unwrap_or(false);
            (key, trusted, revoked, retired_at)
        }))
    }

    /// Verifies and decrypts one stored message. Never fails because of the message itself: a bad one is a
    /// report with status `failed`. Only a failure to reach the server is an error. A signed message seen
    /// before under another server id is flagged as a replay.
    async fn open_view(
        &mut self,
        ring: &mut KeyRing,
        me: &str,
        view: &MessageView,
    ) -> Result<MessageReport> {
        let envelope = match messages::parse_envelope(view) {
            Ok(envelope) => envelope,
            Err(reason) => {
                return Ok(self.make_report(view, me, None, messages::failed(reason)));
            }
        };
        let signer_key_id = envelope.signature.as_ref().map(|s| s.key_id.clone());
        let sender = view.sender_id.clone();
        let signer = match &signer_key_id {
            None => None,
            Some(key_id) => Some(self.signer(ring, me, &sender, key_id).await?),
        };
        let sender_name = self
            .display_name(me, &sender)
            .unwrap_or_else(|| sender.clone());
        let signer_ref = match &signer {
            None => Signer::NotSigned,
            Some(None) => Signer::Unknown,
            Some(Some((key, trusted, revoked, retired_at))) => Signer::Key {
                key,
                trusted: *trusted,
                revoked: *revoked,
                retired_at: *retired_at,
            },
        };
        let opening = messages::open_envelope(
            &envelope,
            me,
            ring,
            Some(&self.profile),
            signer_ref,
            &sender_name,
        );
        let mut report = self.make_report(view, me, signer_key_id, opening);
        if report.status != Verification::Failed {
            match self.seen.first_seen(&sender, &envelope.message_id) {
                Some(first) if first != view.message_id => {
                    let first = first.to_owned();
                    report.mark_replay(&first);
                }
                Some(_) => {}
                None if report.status == Verification::Verified => {
                    self.seen
                        .record(&sender, &envelope.message_id, &view.message_id);
                    self.seen_changed = true;
                }
                None => {}
            }
        }
        Ok(report)
    }

    fn make_report(
        &self,
        view: &MessageView,
        me: &str,
        signer_key_id: Option<String>,
        opening: messages::Opening,
    ) -> MessageReport {
        let names = |id: &str| self.display_name(me, id);
        messages::report(view, me, &names, signer_key_id, opening)
    }
}

fn page_size(remaining: usize) -> u32 {
    u32::try_from(remaining.clamp(1, MAX_PAGE as usize)).unwrap_or(MAX_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_needs_a_server_url() {
        let root = tempfile::tempdir().unwrap();
        let profile = Profile::open(root.path(), "p").unwrap();
        let error = Device::open(profile, None).unwrap_err();
        assert!(matches!(error, ClientError::Usage(_)), "{error}");
        assert!(error.to_string().contains("E2EE_SERVER"));
        let profile = Profile::open(root.path(), "p").unwrap();
        assert!(Device::open(profile, Some("http://127.0.0.1:9")).is_ok());
    }

    #[tokio::test]
    async fn commands_that_need_a_session_say_so() {
        let root = tempfile::tempdir().unwrap();
        let mut profile = Profile::open(root.path(), "p").unwrap();
        profile.data.user_id = Some("u_me".into());
        profile.data.username = Some("me".into());
        profile.save().unwrap();
        let mut device = Device::open(profile, Some("http://127.0.0.1:9")).unwrap();
        let error = device.verify_contact("bob", false).await.unwrap_err();
        assert!(matches!(error, ClientError::NotLoggedIn { .. }), "{error}");
        assert_eq!(error.exit_code(), crate::error::exit::AUTH);

        device
            .profile
            .save_session(&SessionData {
                token: Zeroizing::new("t".into()),
                expires_at: 1,
            })
            .unwrap();
        let profile = Profile::open(root.path(), "p").unwrap();
        let mut device = Device::open(profile, Some("http://127.0.0.1:9")).unwrap();
        let error = device
            .keys_init("pass", 2048, false, None)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ClientError::SessionExpired { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("e2ee login me"));

        // keys show works offline and explains why the server's view is missing.
        let report = device.keys_show().await;
        assert!(report.keys.is_empty());
        assert!(report.server_note.unwrap().contains("expired"));
    }

    #[test]
    fn paging_stops_on_a_repeated_cursor_or_too_many_pages() {
        let mut pages = Pages::new("x");
        assert_eq!(pages.next(Some("a".into())).unwrap().as_deref(), Some("a"));
        assert_eq!(pages.next(Some("b".into())).unwrap().as_deref(), Some("b"));
        let error = pages.next(Some("a".into())).unwrap_err();
        assert!(error.to_string().contains("same cursor"), "{error}");
        assert_eq!(Pages::new("x").next(None).unwrap(), None);

        let mut pages = Pages::new("x");
        for i in 1..MAX_PAGES {
            assert!(pages.next(Some(i.to_string())).unwrap().is_some());
        }
        let error = pages.next(Some("last".into())).unwrap_err();
        assert!(error.to_string().contains("pages"), "{error}");
        assert!(Pages::new("x").next(Some("c".repeat(5000))).is_err());
    }

    #[test]
    fn the_token_is_not_sent_to_another_server() {
        let root = tempfile::tempdir().unwrap();
        let mut profile = Profile::open(root.path(), "p").unwrap();
        profile.data.server = Some("http://127.0.0.1:9000/".into());
        profile.data.user_id = Some("u_me".into());
        profile.save().unwrap();
        profile
            .save_session(&SessionData {
                token: Zeroizing::new("t".into()),
                expires_at: i64::MAX,
            })
            .unwrap();
        let device = Device::open(
            Profile::open(root.path(), "p").unwrap(),
            Some("http://127.0.0.1:9000"),
        )
        .unwrap();
        assert!(device.client().has_token(), "same server, normalized");
        let device = Device::open(Profile::open(root.path(), "p").unwrap(), None).unwrap();
        assert!(device.client().has_token());
        let device = Device::open(
            Profile::open(root.path(), "p").unwrap(),
            Some("http://127.0.0.1:9001"),
        )
        .unwrap();
        assert!(!device.client().has_token(), "another server");
    }

    #[test]
    fn page_sizes_stay_in_the_api_range() {
        assert_eq!(page_size(0), 1);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(1000), MAX_PAGE);
    }
}
