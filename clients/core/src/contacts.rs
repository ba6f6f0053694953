//! Contacts and trust on first use (TOFU), like Signal's safety numbers.
//!
//! The first time this device sees a contact (sending to them, reading a message from them, checking their
//! devices) it pins the contact's **active** key, and only that one: keys the server lists beside it (retired
//! ones) are not trusted, because a server could list a key of its own as "retired" and certify devices with
//! it (review finding N2). Afterwards, a new active key is followed without a warning only if the pinned key
//! signed it: a **rotation chain** ([`crate::rotation`]) — each key's listed
//! endorsement (the previous active key's signature over its `register` statement, as `e2ee keys rotate`
//! makes it) verified here under the endorsing key, back to the pinned key, which must have signed before
//! this device saw it stop being current. Any other new active key is a **key change**: sending refuses,
//! showing the pinned and the new fingerprint, until the user has compared the new fingerprint with the contact
//! and accepted it (`e2ee keys verify USER --accept`). Keys pinned earlier stay trusted for what they signed
//! before they were replaced ([`KeyLifetime`]).
//!
//! The safety number ([`Contact::safety_number`]) covers every key this device trusts for the contact, so
//! comparing it out of band covers the whole set, not only the current key.
//!
//! Names are pinned too, both ways: a contact's username ↔ user id. The server answers "which user id is
//! `bob`?" on every lookup; if it later maps `bob` to another user id (with a key of its own), or reports a
//! pinned user id under another name, that is refused like a key change ([`Contacts::check_identity`])
//! instead of silently pinning a new contact or renaming an old one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::directory::Directory;
use crate::error::IdentityChange;
// The rotation chain lives in its own module; these paths stay as they were.
pub use crate::rotation::{MAX_ROTATION_CHAIN, rotation_chain};

/// The form on which the server compares usernames: the lowercase of the NFC form, normalized again.
pub fn fold_username(name: &str) -> String {
    let nfc: String = name.nfc().collect();
    nfc.to_lowercase().nfc().collect()
}

/// How long an identity key vouches for what it certifies, as this device recorded it: until it was replaced
/// or retired (only what it signed before then counts), and nothing once revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyLifetime {
    pub retired_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl KeyLifetime {
    /// Whether a statement the key signed at `signed_at` (ms since the epoch) counts.
    pub fn vouches_at(&self, signed_at: u64) -> bool {
        if self.revoked_at.is_some() {
            return false;
        }
        match self.retired_at {
            None => true,
            Some(retired_at) => i64::try_from(signed_at).is_ok_and(|at| at < retired_at),
        }
    }
}

/// A key of a contact that this device pinned once and later saw replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousKey {
    pub key_id: String,
    pub fingerprint: String,
    /// When it was replaced: when this device accepted a newer key or first saw it listed as no longer active,
    /// or, for a followed rotation, the time of its signature over the next key.
    pub replaced_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    pub user_id: String,
    pub username: String,
    /// The pinned key: the contact's active key when it was first seen or last accepted.
    pub key_id: String,
    pub fingerprint: String,
    /// When this device first saw the contact (ms since the epoch).
    pub first_seen: i64,
    /// When the pinned key was pinned or accepted.
    pub accepted_at: i64,
    /// When this device first saw the pinned key listed as no longer the active one (retired, or replaced by a
    /// key not accepted yet): it vouches only for what it signed before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_retired_at: Option<i64>,
    /// Keys pinned before the current one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_keys: Vec<PreviousKey>,
    /// Contacts saved by earlier versions: further key ids, pinned at first use from the server's listing or by
    /// earlier accepts, with no record of when they were replaced. They keep verifying the signatures of 1:1
    /// messages as before, and vouch for no device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known_key_ids: Vec<String>,
}

impl Contact {
    fn new(user_id: &str, username: &str, key_id: &str, fingerprint: &str, now_ms: i64) -> Self {
        Contact {
            user_id: user_id.to_owned(),
            username: username.to_owned(),
            key_id: key_id.to_owned(),
            fingerprint: fingerprint.to_owned(),
            first_seen: now_ms,
            accepted_at: now_ms,
            pinned_retired_at: None,
            previous_keys: Vec::new(),
            known_key_ids: Vec::new(),
        }
    }

    /// Whether a signature by `key_id` on a 1:1 message counts as the contact's (the message's own time is
    /// checked against the key's listing by the caller).
    pub fn trusts(&self, key_id: &str) -> bool {
        self.key_id == key_id
            || self.previous_keys.iter().any(|k| k.key_id == key_id)
            || self.known_key_ids.iter().any(|k| k == key_id)
    }

    /// How long `key_id` vouches for the contact's devices, if this device trusts it for that at all.
    pub fn lifetime(&self, key_id: &str) -> Option<KeyLifetime> {
        if self.key_id == key_id {
            return Some(KeyLifetime {
                retired_at: self.pinned_retired_at,
                revoked_at: None,
            });
        }
        self.previous_keys
            .iter()
            .find(|k| k.key_id == key_id)
            .map(|k| KeyLifetime {
                retired_at: Some(k.replaced_at),
                revoked_at: None,
            })
    }

    /// Every key id this device trusts for the contact, sorted: the pinned key and the previous ones.
    pub fn trusted_key_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = std::iter::once(self.key_id.as_str())
            .chain(self.previous_keys.iter().map(|k| k.key_id.as_str()))
            .chain(self.known_key_ids.iter().map(String::as_str))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The safety number: SHA-256 over `e2ee.contact-keys.v1` and every trusted key id (sorted, each
    /// newline-terminated), as 16 groups of 4 hex digits. Two devices that trust the same keys for a user show
    /// the same number; one that trusts an extra key shows another.
    pub fn safety_number(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"e2ee.contact-keys.v1\n");
        for id in self.trusted_key_ids() {
            hash.update(id.as_bytes());
            hash.update(b"\n");
        }
        let hex = hex::encode_upper(hash.finalize());
        hex.as_bytes()
            .chunks(4)
            .map(|group| String::from_utf8_lossy(group).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What [`Contacts::check`] found for a contact's current key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Never seen: pin it (trust on first use).
    New,
    /// The pinned key.
    Unchanged,
    /// A different key than the pinned one: refuse to send until accepted.
    Changed { pinned: Contact },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contacts {
    pub version: u32,
    /// By user id.
    pub contacts: BTreeMap<String, Contact>,
}

impl Default for Contacts {
    fn default() -> Self {
        Contacts {
            version: 2,
            contacts: BTreeMap::new(),
        }
    }
}

impl Contacts {
    pub fn get(&self, user_id: &str) -> Option<&Contact> {
        self.contacts.get(user_id)
    }

    /// The username of a contact, for display.
    pub fn username(&self, user_id: &str) -> Option<&str> {
        self.contacts.get(user_id).map(|c| c.username.as_str())
    }

    /// Compares a contact's current key with the pinned one.
    pub fn check(&self, user_id: &str, key_id: &str) -> Trust {
        match self.contacts.get(user_id) {
            None => Trust::New,
            Some(contact) if contact.key_id == key_id => Trust::Unchanged,
            Some(contact) => Trust::Changed {
                pinned: contact.clone(),
            },
        }
    }

    /// First use: pins `key_id`, the contact's active key, for a contact not seen before. Returns false (and
    /// changes nothing) if the contact already exists.
    pub fn pin_first_use(
        &mut self,
        user_id: &str,
        username: &str,
        key_id: &str,
        fingerprint: &str,
        now_ms: i64,
    ) -> bool {
        if self.contacts.contains_key(user_id) {
            return false;
        }
        self.contacts.insert(
            user_id.to_owned(),
            Contact::new(user_id, username, key_id, fingerprint, now_ms),
        );
        true
    }

    /// First use from a listing: pins the listing's active key (none: nothing is pinned). Returns whether a
    /// contact was pinned now.
    pub fn pin_active_on_first_use(
        &mut self,
        user_id: &str,
        username: &str,
        listing: &Directory,
        now_ms: i64,
    ) -> bool {
        match listing.active_key() {
            Some(active) => self.pin_first_use(
                user_id,
                username,
                &active.key_id,
                &active.key.key_id().fingerprint(),
                now_ms,
            ),
            None => false,
        }
    }

    /// The listing's username for `user_id` (a user met by id: a group member, a sender), when this device may
    /// pin or show it: the listing names one ([`Directory::username`], registrable syntax), no other contact is
    /// pinned under it, and `user_id` is pinned under no other name ([`Contacts::check_identity`]). Otherwise
    /// `None`: a server cannot rename a contact nor give a second user a pinned name this way.
    pub fn listed_username<'a>(&self, user_id: &str, listing: &'a Directory) -> Option<&'a str> {
        let name = listing.username.as_deref()?;
        self.check_identity(user_id, name).is_ok().then_some(name)
    }

    /// Which username to show for `user_id`: the one pinned for it here; else, for a user this device has not
    /// named yet, the listing's under the rules of [`Contacts::listed_username`] (what pinning it would record).
    /// `None`: show the user id.
    pub fn shown_username(&self, user_id: &str, listing: Option<&Directory>) -> Option<String> {
        match self.contacts.get(user_id) {
            Some(contact) if !contact.username.is_empty() => Some(contact.username.clone()),
            _ => listing
                .and_then(|listing| self.listed_username(user_id, listing))
                .map(str::to_owned),
        }
    }

    /// First use from a listing with its name: pins the listing's active key for a user not seen before
    /// ([`Contacts::pin_active_on_first_use`]) under `looked_up` (a name looked up and checked in this run) or
    /// else the listing's username ([`Contacts::listed_username`]); a contact pinned earlier without a name
    /// (seen by user id only) is bound to that name ([`Contacts::bind_username`]). A pinned name is never
    /// changed. Returns whether anything changed.
    pub fn pin_from_listing(
        &mut self,
        user_id: &str,
        looked_up: Option<&str>,
        listing: &Directory,
        now_ms: i64,
    ) -> bool {
        let name = looked_up
            .filter(|name| self.check_identity(user_id, name).is_ok())
            .or_else(|| self.listed_username(user_id, listing))
            .unwrap_or_default()
            .to_owned();
        if self.contacts.contains_key(user_id) {
            return !name.is_empty() && self.bind_username(user_id, &name);
        }
        self.pin_active_on_first_use(user_id, &name, listing, now_ms)
    }

    /// Records what a fresh listing says of a known contact's pinned key: once the server no longer lists it as
    /// the active key (retired, revoked, replaced or gone), it vouches only for what it signed before this
    /// moment, whatever time the server gives. Returns whether anything changed.
    pub fn observe_listing(&mut self, user_id: &str, listing: &Directory, now_ms: i64) -> bool {
        match self.contacts.get_mut(user_id) {
            Some(contact)
                if contact.pinned_retired_at.is_none()
                    && listing.active.as_deref() != Some(contact.key_id.as_str()) =>
            {
                contact.pinned_retired_at = Some(now_ms);
                true
            }
            _ => false,
        }
    }

    /// The user accepted `key_id` as the contact's key (after comparing fingerprints): it becomes the pinned
    /// key; the previous pin stays trusted for what it signed before now. Creates the contact if needed.
    pub fn accept(
        &mut self,
        user_id: &str,
        username: &str,
        key_id: &str,
        fingerprint: &str,
        now_ms: i64,
    ) {
        match self.contacts.get_mut(user_id) {
            Some(contact) => {
                if contact.key_id != key_id {
                    let replaced_at = contact.pinned_retired_at.unwrap_or(now_ms).min(now_ms);
                    let previous = PreviousKey {
                        key_id: std::mem::replace(&mut contact.key_id, key_id.to_owned()),
                        fingerprint: std::mem::replace(
                            &mut contact.fingerprint,
                            fingerprint.to_owned(),
                        ),
                        replaced_at,
                    };
                    if !contact
                        .previous_keys
                        .iter()
                        .any(|k| k.key_id == previous.key_id)
                    {
                        contact.previous_keys.push(previous);
                    }
                    contact.previous_keys.retain(|k| k.key_id != key_id);
                    contact.known_key_ids.retain(|k| k != key_id);
                    contact.pinned_retired_at = None;
                    contact.accepted_at = now_ms;
                }
                contact.username = username.to_owned();
            }
            None => {
                self.pin_first_use(user_id, username, key_id, fingerprint, now_ms);
            }
        }
    }

    /// The contact pinned under `username` (compared as the server does, case-folded).
    pub fn by_username(&self, username: &str) -> Option<&Contact> {
        let folded = fold_username(username);
        self.contacts
            .values()
            .find(|c| !c.username.is_empty() && fold_username(&c.username) == folded)
    }

    /// Checks the server's answer "`username` is `user_id`" against the pinned names: the name must not be
    /// pinned to another user id, and the user id must not be pinned under another name.
    pub fn check_identity(&self, user_id: &str, username: &str) -> Result<(), IdentityChange> {
        if let Some(pinned) = self.by_username(username)
            && pinned.user_id != user_id
        {
            return Err(IdentityChange::Remapped {
                username: username.to_owned(),
                pinned_user_id: pinned.user_id.clone(),
                new_user_id: user_id.to_owned(),
            });
        }
        if let Some(contact) = self.contacts.get(user_id)
            && !contact.username.is_empty()
            && fold_username(&contact.username) != fold_username(username)
        {
            return Err(IdentityChange::Renamed {
                user_id: user_id.to_owned(),
                pinned_username: contact.username.clone(),
                new_username: username.to_owned(),
            });
        }
        Ok(())
    }

    /// First use of a name for a contact pinned without one (seen on receipt, by user id only). Call after
    /// [`Contacts::check_identity`]. Returns whether anything changed.
    pub fn bind_username(&mut self, user_id: &str, username: &str) -> bool {
        match self.contacts.get_mut(user_id) {
            Some(contact) if contact.username.is_empty() => {
                contact.username = username.to_owned();
                true
            }
            _ => false,
        }
    }

    /// The user accepted "`username` is `user_id`" after checking it: any other contact pinned under that
    /// name loses it (it stays, with its keys, for its old messages), and `user_id`'s contact takes it.
    pub fn accept_identity(&mut self, user_id: &str, username: &str) {
        let folded = fold_username(username);
        for contact in self.contacts.values_mut() {
            if contact.user_id != user_id && fold_username(&contact.username) == folded {
                contact.username.clear();
            }
        }
        if let Some(contact) = self.contacts.get_mut(user_id) {
            contact.username = username.to_owned();
        }
    }

    /// Whether `key_id` is trusted for `user_id`: `None` when the contact is unknown.
    pub fn trusts(&self, user_id: &str, key_id: &str) -> Option<bool> {
        self.contacts.get(user_id).map(|c| c.trusts(key_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const K3: &str = "3333333333333333333333333333333333333333333333333333333333333333";

    #[test]
    fn first_use_pins_then_a_new_key_is_a_change_until_accepted() {
        let mut contacts = Contacts::default();
        assert_eq!(contacts.check("u_bob", K1), Trust::New);
        assert!(contacts.pin_first_use("u_bob", "bob", K1, "F1", 10));
        assert_eq!(contacts.check("u_bob", K1), Trust::Unchanged);
        // Pinning again does not move the pin.
        assert!(!contacts.pin_first_use("u_bob", "bob", K2, "F2", 11));
        assert_eq!(contacts.get("u_bob").unwrap().key_id, K1);

        match contacts.check("u_bob", K2) {
            Trust::Changed { pinned } => {
                assert_eq!(pinned.key_id, K1);
                assert_eq!(pinned.fingerprint, "F1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(contacts.trusts("u_bob", K2), Some(false));
        assert_eq!(contacts.trusts("u_eve", K1), None);
        let before = contacts.get("u_bob").unwrap().safety_number();

        contacts.accept("u_bob", "bob", K2, "F2", 20);
        assert_eq!(contacts.check("u_bob", K2), Trust::Unchanged);
        let bob = contacts.get("u_bob").unwrap();
        assert_eq!(bob.fingerprint, "F2");
        assert_eq!(bob.first_seen, 10);
        assert_eq!(bob.accepted_at, 20);
        // The old key still verifies old messages, and vouches for what it signed before it was replaced.
        assert!(bob.trusts(K1) && bob.trusts(K2) && !bob.trusts(K3));
        assert_eq!(
            bob.previous_keys,
            vec![PreviousKey {
                key_id: K1.into(),
                fingerprint: "F1".into(),
                replaced_at: 20
            }]
        );
        assert!(bob.lifetime(K1).unwrap().vouches_at(19));
        assert!(!bob.lifetime(K1).unwrap().vouches_at(20));
        assert!(bob.lifetime(K2).unwrap().vouches_at(u64::MAX));
        assert_eq!(bob.lifetime(K3), None);
        assert_eq!(bob.trusted_key_ids(), vec![K1, K2]);
        assert_ne!(
            bob.safety_number(),
            before,
            "the safety number covers every trusted key"
        );

        // Accepting the same key again changes nothing.
        contacts.accept("u_bob", "bob", K2, "F2", 30);
        assert_eq!(contacts.get("u_bob").unwrap().accepted_at, 20);
    }

    #[test]
    fn a_pinned_key_the_listing_no_longer_calls_active_vouches_only_for_the_past() {
        let mut contacts = Contacts::default();
        contacts.pin_first_use("u_bob", "bob", K1, "F1", 10);
        let listing = Directory::empty();
        assert!(contacts.observe_listing("u_bob", &listing, 50));
        // Seen once: the first observation stays, whatever the server says later.
        assert!(!contacts.observe_listing("u_bob", &listing, 90));
        let bob = contacts.get("u_bob").unwrap();
        assert_eq!(bob.pinned_retired_at, Some(50));
        assert!(bob.lifetime(K1).unwrap().vouches_at(49));
        assert!(!bob.lifetime(K1).unwrap().vouches_at(50));
        // Accepting the new key moves the pin; the old one keeps the time it was first seen replaced.
        contacts.accept("u_bob", "bob", K2, "F2", 100);
        let bob = contacts.get("u_bob").unwrap();
        assert_eq!(bob.previous_keys[0].replaced_at, 50);
        assert_eq!(bob.pinned_retired_at, None);
        assert!(
            !contacts.observe_listing("u_carol", &listing, 1),
            "unknown contact"
        );
    }

    #[test]
    fn contacts_saved_by_earlier_versions_keep_their_extra_keys_for_messages_only() {
        let json = format!(
            r#"{{"version":1,"contacts":{{"u_bob":{{"userId":"u_bob","username":"bob","keyId":"{K1}","fingerprint":"F1","firstSeen":1,"acceptedAt":1,"knownKeyIds":["{K3}"]}}}}}}"#
        );
        let contacts: Contacts = serde_json::from_str(&json).unwrap();
        let bob = contacts.get("u_bob").unwrap();
        assert!(bob.trusts(K3), "old 1:1 messages still verify");
        assert_eq!(bob.lifetime(K3), None, "but the key vouches for no device");
        assert_eq!(bob.trusted_key_ids(), vec![K1, K3]);
    }

    #[test]
    fn key_lifetimes() {
        let open = KeyLifetime::default();
        assert!(open.vouches_at(0) && open.vouches_at(u64::MAX));
        let retired = KeyLifetime {
            retired_at: Some(100),
            revoked_at: None,
        };
        assert!(
            retired.vouches_at(99) && !retired.vouches_at(100) && !retired.vouches_at(u64::MAX)
        );
        let revoked = KeyLifetime {
            retired_at: None,
            revoked_at: Some(5),
        };
        assert!(!revoked.vouches_at(0));
    }

    #[test]
    fn names_are_pinned_both_ways() {
        let mut contacts = Contacts::default();
        contacts.pin_first_use("u_bob", "bob", K1, "F1", 1);
        assert_eq!(contacts.check_identity("u_bob", "bob"), Ok(()));
        assert_eq!(contacts.check_identity("u_bob", "BOB"), Ok(()));
        assert_eq!(contacts.check_identity("u_carol", "carol"), Ok(()));
        // The server maps bob to another account.
        assert_eq!(
            contacts.check_identity("u_mallory", "Bob"),
            Err(IdentityChange::Remapped {
                username: "Bob".into(),
                pinned_user_id: "u_bob".into(),
                new_user_id: "u_mallory".into(),
            })
        );
        // The server reports bob's user id under another name.
        assert_eq!(
            contacts.check_identity("u_bob", "robert"),
            Err(IdentityChange::Renamed {
                user_id: "u_bob".into(),
                pinned_username: "bob".into(),
                new_username: "robert".into(),
            })
        );
        assert_eq!(
            contacts.username("u_bob"),
            Some("bob"),
            "never renamed silently"
        );

        // A contact first seen on receipt has no name yet: its first lookup binds one.
        contacts.pin_first_use("u_dave", "", K2, "F2", 2);
        assert_eq!(contacts.check_identity("u_dave", "dave"), Ok(()));
        assert!(contacts.bind_username("u_dave", "dave"));
        assert!(!contacts.bind_username("u_dave", "david"));
        assert!(contacts.check_identity("u_dave", "david").is_err());
        // An unnamed contact cannot take a name pinned to someone else.
        contacts.pin_first_use("u_x", "", K3, "F3", 3);
        assert!(contacts.check_identity("u_x", "bob").is_err());

        // Accepting moves the name; the old contact keeps its keys, without the name.
        contacts.pin_first_use("u_bob2", "", K3, "F3", 4);
        contacts.accept_identity("u_bob2", "bob");
        assert_eq!(contacts.username("u_bob2"), Some("bob"));
        assert_eq!(contacts.username("u_bob"), Some(""));
        assert_eq!(contacts.trusts("u_bob", K1), Some(true));
        assert_eq!(contacts.check_identity("u_bob2", "bob"), Ok(()));
        assert_eq!(fold_username("Ünï"), fold_username("u\u{308}NI\u{308}"));
    }

    #[test]
    fn accepting_an_unknown_contact_pins_it() {
        let mut contacts = Contacts::default();
        contacts.accept("u_carol", "carol", K1, "F1", 5);
        assert_eq!(contacts.check("u_carol", K1), Trust::Unchanged);
        assert_eq!(contacts.username("u_carol"), Some("carol"));
    }

    #[test]
    fn contacts_round_trip_as_json() {
        let mut contacts = Contacts::default();
        contacts.pin_first_use("u_bob", "bob", K1, "F1", 1);
        contacts.accept("u_bob", "bob", K2, "F2", 2);
        let json = serde_json::to_string(&contacts).unwrap();
        assert!(json.contains("\"previousKeys\""), "{json}");
        assert!(!json.contains("\"knownKeyIds\""), "{json}");
        let back: Contacts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, contacts);
    }
}
