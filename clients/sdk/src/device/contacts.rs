//! Contacts: looking users up (their names pinned on first use, both ways), their active keys (pinned on
//! first use; a rotation the pinned key signed is followed, any other change refused until accepted), and
//! `keys verify`.

use e2ee_crypto::PublicKey;
use e2ee_protocol::UserResponse;
use serde::Serialize;

use super::Device;
use crate::clock::now_ms;
use crate::contacts::{Trust, fold_username};
use crate::error::{ClientError, KeyChange, Result};

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
    /// Your own account, on a device that holds no identity key and has not verified yours (no link proof
    /// from the approving device, review N10): nothing is pinned until you compare and accept it.
    Unverified,
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
    /// With status `unchanged`: the key that was pinned before this check followed a rotation chain from it
    /// to the active key (the pinned key signed the new one, so it is no key change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_from_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_from_fingerprint: Option<String>,
    pub first_seen: i64,
    /// This device's own fingerprint, to compare the other way round.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_fingerprint: Option<String>,
    /// Over every key this device trusts for the contact ([`e2ee_client_core::contacts::Contact::safety_number`]).
    pub safety_number: String,
    /// Every key this device trusts for the contact: the pinned one first, then earlier ones.
    pub trusted_keys: Vec<TrustedKey>,
}

/// A key this device trusts for a contact.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedKey {
    pub key_id: String,
    /// Empty for keys saved by earlier versions without one.
    pub fingerprint: String,
    /// When this device saw it replaced; absent for the pinned key while it is active.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_at: Option<i64>,
}

fn trusted_keys(contact: &e2ee_client_core::contacts::Contact) -> Vec<TrustedKey> {
    std::iter::once(TrustedKey {
        key_id: contact.key_id.clone(),
        fingerprint: contact.fingerprint.clone(),
        replaced_at: contact.pinned_retired_at,
    })
    .chain(contact.previous_keys.iter().map(|k| TrustedKey {
        key_id: k.key_id.clone(),
        fingerprint: k.fingerprint.clone(),
        replaced_at: Some(k.replaced_at),
    }))
    .chain(contact.known_key_ids.iter().map(|id| TrustedKey {
        key_id: id.clone(),
        fingerprint: String::new(),
        replaced_at: None,
    }))
    .collect()
}

impl Device {
    pub(super) async fn lookup(&mut self, username: &str) -> Result<UserResponse> {
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
                crate::text::sanitize_line(&user.username)
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
            Err(error) if error.api_code() == Some(&e2ee_protocol::ErrorCode::NoActiveKey) => {
                return Err(error.explain_not_found(|message| {
                    format!(
                        "{} has no key yet (they must run `e2ee keys init`): {message}",
                        user.username
                    )
                }));
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

    /// A contact's active key `key_id` differs from the pinned one: follows a rotation chain from the pinned key
    /// if the user's listing (fetched afresh, with its endorsements) has one. `Ok(Some(previous pin))` when
    /// `key_id` is now the pinned key; `Ok(None)` when it stays a key change.
    async fn follow_rotation_to(
        &mut self,
        user_id: &str,
        key_id: &str,
    ) -> Result<Option<e2ee_client_core::contacts::Contact>> {
        let before = self.contacts.get(user_id).cloned();
        self.refresh_directory(user_id).await?;
        Ok(match self.contacts.check(user_id, key_id) {
            Trust::Unchanged => before,
            Trust::New | Trust::Changed { .. } => None,
        })
    }

    /// The receiver's active key, if this device trusts it: pinned on first use, followed when the pinned key
    /// signed it (a rotation chain), refused when it changed otherwise. `repin`: the pin was made moments ago
    /// by this same operation and never shown to the user, so a newer key replaces it (still first use).
    /// Returns whether the key was pinned now.
    pub(super) async fn trusted_active_key(
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
                    now_ms(),
                );
                self.contacts_changed = true;
            }
            Trust::Changed { pinned } => {
                if self
                    .follow_rotation_to(&user.user_id, &key_id)
                    .await?
                    .is_none()
                {
                    let pinned = self.contacts.get(&user.user_id).cloned().unwrap_or(pinned);
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
        let mut rotated_from = None;
        let mut trust = self.contacts.check(&user.user_id, &key_id);
        if let Trust::Changed { .. } = trust {
            rotated_from = self.follow_rotation_to(&user.user_id, &key_id).await?;
            trust = self.contacts.check(&user.user_id, &key_id);
        }
        let now = now_ms();
        let (status, pinned) = match trust {
            // One's own key, on a device without one: pinned only when the user accepts it (or from the link
            // proof, which `sync` checks), never on first use.
            Trust::New if self.is_own_keyless(&user.user_id) && !accept => {
                (ContactStatus::Unverified, None)
            }
            Trust::New if self.is_own_keyless(&user.user_id) => {
                self.contacts
                    .accept(&user.user_id, &user.username, &key_id, &fingerprint, now);
                (ContactStatus::Accepted, None)
            }
            Trust::New => {
                self.contacts.pin_first_use(
                    &user.user_id,
                    &user.username,
                    &key_id,
                    &fingerprint,
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
        let contact = self.contacts.get(&user.user_id);
        let first_seen = contact.map(|c| c.first_seen).unwrap_or(now);
        let safety_number = contact.map(|c| c.safety_number()).unwrap_or_default();
        let trusted_keys = contact.map(trusted_keys).unwrap_or_default();
        Ok(ContactReport {
            user_id: user.user_id,
            username: user.username,
            status,
            key_id,
            fingerprint,
            pinned_key_id: pinned.as_ref().map(|p| p.key_id.clone()),
            pinned_fingerprint: pinned.map(|p| p.fingerprint),
            rotated_from_key_id: rotated_from.as_ref().map(|p| p.key_id.clone()),
            rotated_from_fingerprint: rotated_from.map(|p| p.fingerprint),
            first_seen,
            my_fingerprint: self.profile.current_key().map(|k| k.fingerprint.clone()),
            safety_number,
            trusted_keys,
        })
    }

    /// Whether `user_id` is this device's own user and this device holds no identity key: its own user's key
    /// is then never pinned on first use, only from the link proof or accepted by the user (review N10).
    fn is_own_keyless(&self, user_id: &str) -> bool {
        self.profile.user_id().is_ok_and(|me| me == user_id) && self.profile.current_key().is_none()
    }

    /// Pins the active key of a user this device has never seen (trust on first use, on receipt or when
    /// checking their devices): only the active key, never the other keys the server lists (review N2).
    pub(super) fn pin_sender_on_first_use(&mut self, sender_id: &str) {
        // A linked device never pins its own user by first use (review N10): only from the link proof.
        if self.is_own_keyless(sender_id) {
            return;
        }
        let Some(listing) = self.directory.get(sender_id) else {
            return;
        };
        // The name: one looked up (and checked) in this run, else the one the key listing names, under the
        // core's both-ways name pinning (a name pinned to another user id is not taken, a pinned name is not
        // changed); a contact pinned earlier without a name takes it too.
        let looked_up = self.names.get(sender_id).map(String::as_str);
        if self
            .contacts
            .pin_from_listing(sender_id, looked_up, listing, now_ms())
        {
            self.contacts_changed = true;
        }
    }
}
