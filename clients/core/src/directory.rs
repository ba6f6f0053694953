//! A user's identity keys as the server lists them (`GET /api/crypto/public-key/{userId}?all=true`), checked:
//! every key id is computed here from the key itself, never taken from the server; a key listed under another
//! id is left out, and a pending key vouches for nothing.
//!
//! The listing says what the *server* claims; how far this device trusts each key is decided by
//! [`crate::contacts`] (another user's keys) or by this device's own key records.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::{KeyId, PublicKey};
use e2ee_protocol::{KeyEndorsementView, KeyStatus, PublicKeyResponse};

/// A key's endorsement as listed (`endorsement` of docs/openapi.yaml's `KeyInfo`), parsed but not verified:
/// the claim "key `key_id` signed this key's `register` statement at `created_at`". Whether it holds is decided
/// by [`crate::contacts::rotation_chain`], which verifies the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorsement {
    /// The endorsing key's id (64 lowercase hex).
    pub key_id: String,
    /// The signed statement's `createdAt` (ms since the epoch).
    pub created_at: u64,
    pub signature: Vec<u8>,
}

impl Endorsement {
    /// `None` when the key id or the signature does not parse (the key then counts as not endorsed).
    fn parse(view: &KeyEndorsementView) -> Option<Endorsement> {
        Some(Endorsement {
            key_id: KeyId::parse(&view.key_id).ok()?.to_string(),
            created_at: view.created_at,
            signature: STANDARD.decode(&view.signature).ok()?,
        })
    }
}

/// One key of a listing.
#[derive(Debug, Clone)]
pub struct DirectoryKey {
    /// Computed from `key`.
    pub key_id: String,
    pub key: PublicKey,
    pub status: KeyStatus,
    /// Revoked (by status or time): verifies nothing.
    pub revoked: bool,
    /// Retired: verifies only what was signed before this time (`i64::MIN` when the server gave no time).
    pub retired_at: Option<i64>,
    /// The previous active key's endorsement of this key, as listed (unverified).
    pub endorsement: Option<Endorsement>,
}

/// A user's keys as listed, and which of them the server calls active.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// The key the server lists as active (if it is in the listing, unrevoked and marked active).
    pub active: Option<String>,
    pub keys: Vec<DirectoryKey>,
    /// The username the listing names, when it is one the server could have registered
    /// ([`crate::text::is_username`]); a claim of the server, pinned only under the contacts' name rules
    /// ([`crate::contacts::Contacts::listed_username`]).
    pub username: Option<String>,
}

impl Directory {
    /// A user without keys (the server answers 404 `no_active_key`): an empty listing.
    pub fn empty() -> Directory {
        Directory::default()
    }

    /// The checked listing of a `?all=true` answer.
    pub fn from_listing(response: &PublicKeyResponse) -> Directory {
        let keys: Vec<DirectoryKey> = response
            .keys
            .iter()
            .flatten()
            .filter_map(|view| {
                let key = PublicKey::from_spki_pem(&view.public_key).ok()?;
                let key_id = key.key_id().to_string();
                let revoked = view.status == KeyStatus::Revoked || view.revoked_at.is_some();
                let retired_at = match view.status {
                    KeyStatus::Retired => Some(view.retired_at.unwrap_or(i64::MIN)),
                    _ => view.retired_at,
                };
                (key_id == view.key_id && view.status != KeyStatus::Pending).then_some(
                    DirectoryKey {
                        key_id,
                        key,
                        status: view.status,
                        revoked,
                        retired_at,
                        endorsement: view.endorsement.as_ref().and_then(Endorsement::parse),
                    },
                )
            })
            .collect();
        let active = keys
            .iter()
            .find(|k| k.key_id == response.key_id && k.status == KeyStatus::Active && !k.revoked)
            .map(|k| k.key_id.clone());
        let username = response
            .username
            .clone()
            .filter(|name| crate::text::is_username(name));
        Directory {
            active,
            keys,
            username,
        }
    }

    pub fn key(&self, key_id: &str) -> Option<&DirectoryKey> {
        self.keys.iter().find(|k| k.key_id == key_id)
    }

    /// The active key, if the listing has one.
    pub fn active_key(&self) -> Option<&DirectoryKey> {
        self.active.as_deref().and_then(|id| self.key(id))
    }
}
