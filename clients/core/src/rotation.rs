//! Rotation chains (review finding N2): a contact's new active key is followed without a key change only if
//! the pinned key signed it — each key's listed endorsement (the previous active key's signature over its
//! `register` statement, as `e2ee keys rotate` makes it) verified here under the endorsing key, back to the
//! pinned key, which must have signed before this device saw it stop being current. [`rotation_chain`]
//! decides, [`Contacts::follow_rotation`] applies; anything else stays a key change the user must accept.

use e2ee_crypto::{KeyOperation, KeyStatement};

use crate::contacts::{Contact, Contacts, PreviousKey};
use crate::directory::{Directory, DirectoryKey};

/// The longest rotation chain [`rotation_chain`] follows (rotations since this device last saw the contact).
pub const MAX_ROTATION_CHAIN: usize = 16;

/// Whether `endorser` signed `key`'s registration (`key`'s listed endorsement names it and verifies under its
/// public key, over `register(user_id, key, createdAt)`); the endorsement's time if so.
fn endorsed_at(user_id: &str, key: &DirectoryKey, endorser: &DirectoryKey) -> Option<i64> {
    let endorsement = key.endorsement.as_ref()?;
    if endorsement.key_id != endorser.key_id {
        return None;
    }
    let statement = KeyStatement {
        operation: KeyOperation::Register,
        user_id,
        key_id: key.key.key_id(),
        created_at: endorsement.created_at,
    };
    statement
        .verify(&endorser.key, &endorsement.signature)
        .ok()?;
    i64::try_from(endorsement.created_at).ok()
}

/// The rotation chain from `contact`'s pinned key to `listing`'s active key, if there is one: the keys it
/// replaces, oldest (the pinned key) first, each with `replaced_at` = the time it signed the next key. Walking
/// back from the active key, every key must carry an endorsement by a key of the listing that is not revoked,
/// verified here over `KeyStatement { Register, contact's user id, the endorsed key, createdAt }` under the
/// endorsing key's public key; the walk must reach the pinned key within [`MAX_ROTATION_CHAIN`] links, and
/// the pinned key's endorsement must be dated before the moment this device recorded it as no longer current
/// (`Contact::pinned_retired_at`, when set). `None` otherwise, and when the active key is the pinned one or
/// the listing has none. Pure: it decides, [`Contacts::follow_rotation`] applies.
pub fn rotation_chain(contact: &Contact, listing: &Directory) -> Option<Vec<PreviousKey>> {
    let mut current = listing.active_key()?;
    let mut replaced = Vec::new();
    while current.key_id != contact.key_id && replaced.len() < MAX_ROTATION_CHAIN {
        let endorsement = current.endorsement.as_ref()?;
        let endorser = listing
            .key(&endorsement.key_id)
            .filter(|key| !key.revoked)?;
        let at = endorsed_at(&contact.user_id, current, endorser)?;
        let fingerprint = if endorser.key_id == contact.key_id {
            contact.fingerprint.clone()
        } else {
            endorser.key.key_id().fingerprint()
        };
        replaced.push(PreviousKey {
            key_id: endorser.key_id.clone(),
            fingerprint,
            replaced_at: at,
        });
        current = endorser;
    }
    let pinned = replaced.last()?;
    let before_retirement = contact
        .pinned_retired_at
        .is_none_or(|retired_at| pinned.replaced_at < retired_at);
    if current.key_id != contact.key_id || !before_retirement {
        return None;
    }
    replaced.reverse();
    Some(replaced)
}

impl Contacts {
    /// Follows a rotation chain ([`rotation_chain`]) from the contact's pinned key to `listing`'s active key:
    /// the active key becomes the pinned key (as if accepted at `now_ms`), and every key the chain replaces
    /// stays trusted for what it signed before it signed the next one. Returns whether the pin moved; without
    /// such a chain nothing changes and a different active key stays a key change.
    pub fn follow_rotation(&mut self, user_id: &str, listing: &Directory, now_ms: i64) -> bool {
        let Some(contact) = self.contacts.get_mut(user_id) else {
            return false;
        };
        let (Some(replaced), Some(active)) =
            (rotation_chain(contact, listing), listing.active_key())
        else {
            return false;
        };
        for previous in replaced {
            if !contact
                .previous_keys
                .iter()
                .any(|k| k.key_id == previous.key_id)
            {
                contact.previous_keys.push(previous);
            }
        }
        contact.key_id = active.key_id.clone();
        contact.fingerprint = active.key.key_id().fingerprint();
        contact.previous_keys.retain(|k| k.key_id != active.key_id);
        contact.known_key_ids.retain(|k| *k != active.key_id);
        contact.pinned_retired_at = None;
        contact.accepted_at = now_ms;
        true
    }
}
