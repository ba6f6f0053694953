//! Contacts and trust on first use (TOFU), like Signal's safety numbers.
//!
//! The first time this device sees a contact's key (sending to them, or reading a message from them) it pins
//! the contact's active key. Afterwards, a different active key is a **key change**: sending refuses, showing
//! the pinned and the new fingerprint, until the user has compared the new fingerprint with the contact and
//! accepted it (`e2ee keys verify USER --accept`). Keys accepted earlier stay known, so old messages signed
//! with them still verify.
//!
//! Names are pinned too, both ways: a contact's username ↔ user id. The server answers "which user id is
//! `bob`?" on every lookup; if it later maps `bob` to another user id (with a key of its own), or reports a
//! pinned user id under another name, that is refused like a key change ([`Contacts::check_identity`])
//! instead of silently pinning a new contact or renaming an old one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::IdentityChange;

/// The form on which the server compares usernames: the lowercase of the NFC form, normalized again.
pub fn fold_username(name: &str) -> String {
    let nfc: String = name.nfc().collect();
    nfc.to_lowercase().nfc().collect()
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
    /// Every other key id of the contact this device trusts (earlier pins, keys known at first use).
    #[serde(default)]
    pub known_key_ids: Vec<String>,
}

impl Contact {
    /// Whether a signature by `key_id` counts as the contact's.
    pub fn trusts(&self, key_id: &str) -> bool {
        self.key_id == key_id || self.known_key_ids.iter().any(|k| k == key_id)
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
            version: 1,
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

    /// First use: pins `key_id` for a contact not seen before; `also_known` are further key ids of the contact
    /// the server listed at the same time (retired keys that signed older messages). Returns false (and
    /// changes nothing) if the contact already exists.
    pub fn pin_first_use(
        &mut self,
        user_id: &str,
        username: &str,
        key_id: &str,
        fingerprint: &str,
        also_known: &[String],
        now_ms: i64,
    ) -> bool {
        if self.contacts.contains_key(user_id) {
            return false;
        }
        let known_key_ids = also_known
            .iter()
            .filter(|k| k.as_str() != key_id)
            .cloned()
            .collect();
        self.contacts.insert(
            user_id.to_owned(),
            Contact {
                user_id: user_id.to_owned(),
                username: username.to_owned(),
                key_id: key_id.to_owned(),
                fingerprint: fingerprint.to_owned(),
                first_seen: now_ms,
                accepted_at: now_ms,
                known_key_ids,
            },
        );
        true
    }

    /// The user accepted `key_id` as the contact's key (after comparing fingerprints): it becomes the pinned
    /// key; the previous pin stays trusted for old messages. Creates the contact if needed.
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
                    let previous = std::mem::replace(&mut contact.key_id, key_id.to_owned());
                    if !contact.known_key_ids.contains(&previous) {
                        contact.known_key_ids.push(previous);
                    }
                    contact.known_key_ids.retain(|k| k != key_id);
                    contact.fingerprint = fingerprint.to_owned();
                    contact.accepted_at = now_ms;
                }
                contact.username = username.to_owned();
            }
            None => {
                self.pin_first_use(user_id, username, key_id, fingerprint, &[], now_ms);
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
        assert!(contacts.pin_first_use("u_bob", "bob", K1, "F1", &[K1.into(), K3.into()], 10));
        assert_eq!(contacts.check("u_bob", K1), Trust::Unchanged);
        // Pinning again does not move the pin.
        assert!(!contacts.pin_first_use("u_bob", "bob", K2, "F2", &[], 11));
        assert_eq!(contacts.get("u_bob").unwrap().key_id, K1);

        match contacts.check("u_bob", K2) {
            Trust::Changed { pinned } => {
                assert_eq!(pinned.key_id, K1);
                assert_eq!(pinned.fingerprint, "F1");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(contacts.trusts("u_bob", K2), Some(false));
        assert_eq!(contacts.trusts("u_bob", K3), Some(true));
        assert_eq!(contacts.trusts("u_eve", K1), None);

        contacts.accept("u_bob", "bob", K2, "F2", 20);
        assert_eq!(contacts.check("u_bob", K2), Trust::Unchanged);
        let bob = contacts.get("u_bob").unwrap();
        assert_eq!(bob.fingerprint, "F2");
        assert_eq!(bob.first_seen, 10);
        assert_eq!(bob.accepted_at, 20);
        // The old key still verifies old messages.
        assert!(bob.trusts(K1) && bob.trusts(K2) && bob.trusts(K3));
        assert_eq!(bob.known_key_ids.len(), 2);

        // Accepting the same key again changes nothing.
        contacts.accept("u_bob", "bob", K2, "F2", 30);
        assert_eq!(contacts.get("u_bob").unwrap().accepted_at, 20);
    }

    #[test]
    fn names_are_pinned_both_ways() {
        let mut contacts = Contacts::default();
        contacts.pin_first_use("u_bob", "bob", K1, "F1", &[], 1);
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
        contacts.pin_first_use("u_dave", "", K2, "F2", &[], 2);
        assert_eq!(contacts.check_identity("u_dave", "dave"), Ok(()));
        assert!(contacts.bind_username("u_dave", "dave"));
        assert!(!contacts.bind_username("u_dave", "david"));
        assert!(contacts.check_identity("u_dave", "david").is_err());
        // An unnamed contact cannot take a name pinned to someone else.
        contacts.pin_first_use("u_x", "", K3, "F3", &[], 3);
        assert!(contacts.check_identity("u_x", "bob").is_err());

        // Accepting moves the name; the old contact keeps its keys, without the name.
        contacts.pin_first_use("u_bob2", "", K3, "F3", &[], 4);
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
        contacts.pin_first_use("u_bob", "bob", K1, "F1", &[], 1);
        let json = serde_json::to_string(&contacts).unwrap();
        assert!(json.contains("\"knownKeyIds\""), "{json}");
        let back: Contacts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, contacts);
    }
}
