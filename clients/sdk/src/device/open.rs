//! Opening one stored message on this device: the signer's key from the sender's key directory (fetched
//! once per run, checked here), how far it is trusted, the opening itself ([`crate::messages`]) and the
//! replay check.

use e2ee_client_core::directory::Directory;
use e2ee_crypto::PublicKey;
use e2ee_protocol::MessageView;

use super::Device;
use crate::clock::now_ms;
use crate::error::{ClientError, Result};
use crate::keyring::KeyRing;
use crate::messages::{self, MessageReport, Signer, Verification};

impl Device {
    /// The keys of `user_id` (every status), fetched once per run (see [`Device::refresh_directory`]). A user
    /// without keys (or without an active key: the server then lists none) has an empty entry.
    pub(super) async fn directory(&mut self, user_id: &str) -> Result<&Directory> {
        if !self.directory.contains_key(user_id) {
            self.refresh_directory(user_id).await?;
        }
        self.directory
            .get(user_id)
            .ok_or_else(|| ClientError::Profile("key directory cache".into()))
    }

    /// Fetches the keys of `user_id` (every status) again and applies the core's rules to a contact: a
    /// rotation chain from the pinned key to the active key is followed (the pin moves without a key change),
    /// then a pinned key the listing no longer calls active is recorded as no longer current. Returns whether a
    /// rotation was followed.
    pub(super) async fn refresh_directory(&mut self, user_id: &str) -> Result<bool> {
        let entry = match self.client.public_key(user_id, true).await {
            Ok(response) => Directory::from_listing(&response),
            Err(ClientError::Api { status: 404, .. }) => Directory::empty(),
            Err(other) => return Err(other),
        };
        let now = now_ms();
        let followed = self.contacts.follow_rotation(user_id, &entry, now);
        if self.contacts.observe_listing(user_id, &entry, now) || followed {
            self.contacts_changed = true;
        }
        self.directory.insert(user_id.to_owned(), entry);
        Ok(followed)
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
    pub(super) async fn open_view(
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
        let signer_key_id = envelope.signature().map(|s| s.key_id.clone());
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
            match self.seen.first_seen(&sender, envelope.message_id()) {
                Some(first) if first != view.message_id => {
                    let first = first.to_owned();
                    report.mark_replay(&first);
                }
                Some(_) => {}
                None if report.status == Verification::Verified => {
                    self.seen
                        .record(&sender, envelope.message_id(), &view.message_id);
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
