//! This device's own keys: the first key, rotation, revocation (each a signed key operation with a second
//! factor, see [`crate::keyops`]), and what `keys show` lists.

use e2ee_crypto::{KeyId, KeySize, PrivateKey, PublicKey};
use e2ee_protocol::{KeyStatus, PublicKeyResponse};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Device;
use crate::clock::{now_millis, now_ms};
use crate::error::{ClientError, Result};
use crate::keyops::{self, SecondFactor};
use crate::profile::LocalKey;

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
            status: 403,
            code: e2ee_protocol::ErrorCode::AuthorizationRequired,
            ..
        } => ClientError::PasswordRequired,
        other => other,
    }
}

impl Device {
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
        let factor = self.second_factor(active.as_ref(), passphrase, password, false)?;
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
        let factor = self.second_factor(active.as_ref(), passphrase, password, false)?;
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
            active.as_ref(),
            passphrase.unwrap_or_default(),
            password,
            true,
        )?;
        let request = keyops::revoke_request(&me, parsed, factor.as_second(), now_millis())?;
        let view = self.client.revoke_key(&request).await.map_err(|error| {
            key_operation_error(
                error.explain_not_found(|message| format!("you have no key {key_id} ({message})")),
            )
        })?;
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
        active: Option<&PublicKeyResponse>,
        passphrase: &str,
        password: Option<&str>,
        required: bool,
    ) -> Result<Factor> {
        let active_key_id = active.map(|a| a.key_id.as_str());
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
        let created_at = now_millis();
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
}
