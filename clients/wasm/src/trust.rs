//! [`Trust`]: the contacts of this device and the devices it trusts, and the decision functions of the client
//! vectors (`tests/vectors/client/README.md`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::commits::{PendingCommit, Resolution};
use e2ee_client_core::contacts::{Contacts, KeyLifetime};
use e2ee_client_core::devices::{CertifiedDevice, check_device, is_listed};
use e2ee_client_core::directory::Directory;
use e2ee_client_core::welcome::{WelcomeRefusal, check_opened};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{DeviceView, PublicKeyResponse};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, Result, fail, json, millis, parse};

/// This device's contacts and, for this session, each user's last key listing and the devices of that user it
/// trusts. Only the contacts are saved ([`Trust::to_json`]); listings are fetched again.
#[wasm_bindgen]
#[derive(Default)]
pub struct Trust {
    contacts: Contacts,
    listings: BTreeMap<String, Directory>,
    certified: BTreeMap<String, Vec<CertifiedDevice>>,
    /// Identity keys the driver vouches for from its own records ([`Trust::trust_keys`]), by user: they decide
    /// instead of the user's contact.
    vouched: BTreeMap<String, BTreeMap<String, KeyLifetime>>,
    /// Names the driver gives users ([`Trust::set_name`]), shown before a contact's.
    names: BTreeMap<String, String>,
}

/// One key of [`Trust::trust_keys`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VouchedKey {
    key_id: String,
    #[serde(default)]
    retired_at: Option<i64>,
    #[serde(default)]
    revoked_at: Option<i64>,
}

/// What the driver shows of a contact.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactView<'a> {
    user_id: &'a str,
    username: &'a str,
    pinned_key_id: &'a str,
    fingerprint: &'a str,
    trusted_key_ids: Vec<&'a str>,
    safety_number: String,
}

/// The decisions on a user's device listing.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceDecisions {
    trusted: Vec<String>,
    refused: BTreeMap<String, &'static str>,
}

/// A member of a Welcome's (or a group's) tree.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TreeMember {
    user_id: String,
    device_id: String,
    /// Base64 of the leaf's signature key.
    signature_key: String,
}

/// The decision on a Welcome, as the client vectors write it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WelcomeOutcome {
    pub joined: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(rename = "final", skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    /// Why, for the user (refusals only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl WelcomeOutcome {
    pub(crate) fn of(
        decision: &std::result::Result<(), WelcomeRefusal>,
        stored_at: i64,
        now: i64,
    ) -> Self {
        match decision {
            Ok(()) => WelcomeOutcome {
                joined: true,
                refused: None,
                member: None,
                is_final: None,
                reason: None,
            },
            Err(refusal) => WelcomeOutcome {
                joined: false,
                refused: Some(refusal.code()),
                member: match refusal {
                    WelcomeRefusal::UntrustedMember { member } => Some(member.clone()),
                    _ => None,
                },
                is_final: Some(refusal.is_final(stored_at, now)),
                reason: Some(refusal.to_string()),
            },
        }
    }
}

impl Trust {
    /// Whether `identity` with `signature_key` is a device trusted at its user's last device listing.
    pub(crate) fn trusts(&self, identity: &DeviceIdentity, signature_key: &[u8]) -> bool {
        self.certified
            .get(&identity.user_id)
            .is_some_and(|devices| is_listed(devices, identity, signature_key))
    }

    /// The name to show for a user: the one the driver gave, else the pinned one, else the user id.
    pub(crate) fn name_of(&self, user_id: &str) -> String {
        self.names
            .get(user_id)
            .cloned()
            .or_else(|| {
                self.contacts
                    .shown_username(user_id, self.listings.get(user_id))
            })
            .unwrap_or_else(|| user_id.to_owned())
    }

    /// The lifetime of `issuer` as a key of `user_id` this device trusts: from the driver's records when it
    /// gave some for the user, else from the contact.
    fn vouching(&self, user_id: &str, issuer: &str) -> Option<KeyLifetime> {
        match self.vouched.get(user_id) {
            Some(keys) => keys.get(issuer).copied(),
            None => self.contacts.get(user_id)?.lifetime(issuer),
        }
    }
}

#[wasm_bindgen]
impl Trust {
    /// No contacts yet.
    #[wasm_bindgen(constructor)]
    pub fn new() -> Trust {
        Trust::default()
    }

    /// The contacts saved by [`Trust::to_json`].
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(saved: &str) -> Result<Trust> {
        Ok(Trust {
            contacts: parse("saved contacts", saved)?,
            ..Trust::default()
        })
    }

    /// The contacts, to save (no secrets: pinned public key ids and fingerprints).
    #[wasm_bindgen(js_name = toJson)]
    pub fn to_json(&self) -> Result<String> {
        json(&self.contacts)
    }

    /// Records the server's answer to `GET /api/crypto/public-key/{userId}?all=true` (JSON) at `nowMs`: follows
    /// a rotation chain from the pinned key, records when the pinned key stopped being active, and pins the
    /// active key on first contact (`username`: the name the user asked for, or "" for a user met by id).
    /// Returns whether the contact changed (to save).
    #[wasm_bindgen(js_name = observeKeys)]
    pub fn observe_keys(
        &mut self,
        user_id: &str,
        username: &str,
        answer: &str,
        now_ms: f64,
    ) -> Result<bool> {
        let answer: PublicKeyResponse = parse("key listing", answer)?;
        let now = millis(now_ms)?;
        let listing = Directory::from_listing(&answer);
        let followed = self.contacts.follow_rotation(user_id, &listing, now);
        let observed = self.contacts.observe_listing(user_id, &listing, now);
        let pinned = self
            .contacts
            .pin_active_on_first_use(user_id, username, &listing, now);
        self.listings.insert(user_id.to_owned(), listing);
        Ok(followed || observed || pinned)
    }

    /// The user compared fingerprints and accepted `keyId` (a key of the user's last listing) as the contact's key.
    pub fn accept(
        &mut self,
        user_id: &str,
        username: &str,
        key_id: &str,
        now_ms: f64,
    ) -> Result<()> {
        let now = millis(now_ms)?;
        let Some(key) = self
            .listings
            .get(user_id)
            .and_then(|listing| listing.key(key_id))
        else {
            return fail(
                ErrorCode::InvalidInput,
                format!("key {key_id} is not in the last listing of {user_id}"),
            );
        };
        let fingerprint = key.key.key_id().fingerprint();
        self.contacts
            .accept(user_id, username, key_id, &fingerprint, now);
        Ok(())
    }

    /// The identity keys of `userId` this device trusts by the driver's own records — for its own user the keys
    /// it holds, for a contact the keys the user pinned or accepted (the browser's pins, shared with 1:1 chat) —
    /// as JSON `[{keyId, retiredAt?, revokedAt?}]` (ms: a retired key vouches for what it signed before; a
    /// revoked one for nothing). From now on they, not the contact, decide which of the user's devices
    /// [`Trust::check_devices`] certifies.
    #[wasm_bindgen(js_name = trustKeys)]
    pub fn trust_keys(&mut self, user_id: &str, keys: &str) -> Result<()> {
        let keys: Vec<VouchedKey> = parse("trusted keys", keys)?;
        let mut vouched = BTreeMap::new();
        for key in keys {
            if e2ee_crypto::KeyId::parse(&key.key_id).is_err() {
                return fail(
                    ErrorCode::InvalidInput,
                    "a key id is 64 lowercase hex digits",
                );
            }
            vouched.insert(
                key.key_id,
                KeyLifetime {
                    retired_at: key.retired_at,
                    revoked_at: key.revoked_at,
                },
            );
        }
        self.vouched.insert(user_id.to_owned(), vouched);
        Ok(())
    }

    /// The name to show for `userId` in the messages read from now on (the driver's pinned or looked-up
    /// username), before a contact's.
    #[wasm_bindgen(js_name = setName)]
    pub fn set_name(&mut self, user_id: &str, username: &str) {
        self.names.insert(user_id.to_owned(), username.to_owned());
    }

    /// The contact (JSON `{userId, username, pinnedKeyId, fingerprint, trustedKeyIds, safetyNumber}`), or
    /// `undefined` if none is pinned.
    pub fn contact(&self, user_id: &str) -> Result<Option<String>> {
        let Some(contact) = self.contacts.get(user_id) else {
            return Ok(None);
        };
        Ok(Some(json(&ContactView {
            user_id: &contact.user_id,
            username: &contact.username,
            pinned_key_id: &contact.key_id,
            fingerprint: &contact.fingerprint,
            trusted_key_ids: contact.trusted_key_ids(),
            safety_number: contact.safety_number(),
        })?))
    }

    /// Decides on the `devices` of `GET /api/devices/{userId}` (JSON array) against the user's last key listing,
    /// and remembers the trusted ones: JSON `{trusted: [deviceId…], refused: {deviceId: reason}}`.
    #[wasm_bindgen(js_name = checkDevices)]
    pub fn check_devices(&mut self, user_id: &str, devices: &str) -> Result<String> {
        let devices: Vec<DeviceView> = parse("device listing", devices)?;
        let listing = self.listings.get(user_id).cloned().unwrap_or_default();
        let mut decisions = DeviceDecisions {
            trusted: Vec::new(),
            refused: BTreeMap::new(),
        };
        let mut certified = Vec::new();
        for device in &devices {
            let vouching = |issuer: &str| self.vouching(user_id, issuer);
            match check_device(user_id, device, &listing, vouching) {
                Ok(device) => {
                    decisions.trusted.push(device.device_id.clone());
                    certified.push(device);
                }
                Err(reason) => {
                    decisions
                        .refused
                        .insert(device.device_id.clone(), reason.as_str());
                }
            }
        }
        self.certified.insert(user_id.to_owned(), certified);
        json(&decisions)
    }

    /// Whether the device `userId/deviceId` with this signature key is trusted (at its user's last listing).
    #[wasm_bindgen(js_name = isTrustedDevice)]
    pub fn is_trusted_device(&self, user_id: &str, device_id: &str, signature_key: &[u8]) -> bool {
        DeviceIdentity::new(user_id, device_id)
            .is_ok_and(|identity| self.trusts(&identity, signature_key))
    }

    /// The users whose devices this session has checked.
    #[wasm_bindgen(js_name = checkedUsers)]
    pub fn checked_users(&self) -> Vec<String> {
        self.certified.keys().cloned().collect()
    }

    /// The decision on a Welcome from what decrypting it gave (the client vectors' `welcome` step):
    /// `opened` is JSON `{groupId, members: [{userId, deviceId, signatureKey}]}` (the group id its GroupInfo
    /// names, its tree's members in tree order) or `null` (this device cannot read it). Checks the group id
    /// against the server's label and the groups this device holds (`held`), then every member but this device
    /// against the trusted devices. JSON `{joined}` or `{joined: false, refused, final, member?, reason}`.
    /// [`crate::MlsDevice::open_welcome`] and `finishWelcome` make the same checks on a Welcome's bytes.
    #[wasm_bindgen(js_name = decideWelcome)]
    #[allow(clippy::too_many_arguments)]
    pub fn decide_welcome(
        &self,
        me_user_id: &str,
        me_device_id: &str,
        labelled_group_id: &str,
        opened: &str,
        held: Vec<String>,
        stored_at_ms: f64,
        now_ms: f64,
    ) -> Result<String> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Opened {
            group_id: String,
            members: Vec<TreeMember>,
        }
        let opened: Option<Opened> = parse("opened Welcome", opened)?;
        let me = identity(me_user_id, me_device_id)?;
        let decision = match opened {
            None => Err(WelcomeRefusal::Unreadable("not readable".into())),
            Some(opened) => {
                let members = opened
                    .members
                    .iter()
                    .map(|m| {
                        let key = STANDARD.decode(&m.signature_key).or_else(|_| {
                            fail(
                                ErrorCode::InvalidInput,
                                "a signature key that is not base64",
                            )
                        })?;
                        Ok((identity(&m.user_id, &m.device_id)?, key))
                    })
                    .collect::<Result<Vec<_>>>()?;
                check_opened(
                    labelled_group_id,
                    &opened.group_id,
                    |group| held.iter().any(|h| h == group),
                    members.iter().map(|(id, key)| (id, key.as_slice())),
                    &me,
                    |identity, key| self.trusts(identity, key),
                )
            }
        };
        json(&WelcomeOutcome::of(
            &decision,
            millis(stored_at_ms)?,
            millis(now_ms)?,
        ))
    }
}

pub(crate) fn identity(user_id: &str, device_id: &str) -> Result<DeviceIdentity> {
    DeviceIdentity::new(user_id, device_id).or_else(|e| {
        fail(
            ErrorCode::InvalidInput,
            format!("device {user_id}/{device_id}: {e}"),
        )
    })
}

/// The decision of the client vectors' `commit` step on one log row: `pending` (JSON `{epoch, commitSha256}`)
/// against a row of `kind` (`commit` or `message`), `epoch` and message SHA-256 (hex): `keep`, `merge` or `drop`.
#[wasm_bindgen(js_name = lostCommitResolution)]
pub fn lost_commit_resolution(
    pending: &str,
    kind: &str,
    epoch: f64,
    message_sha256: &str,
) -> Result<String> {
    let pending: PendingCommit = parse("pending commit", pending)?;
    let epoch = u64::try_from(millis(epoch)?)
        .or_else(|_| fail(ErrorCode::InvalidInput, "a negative epoch"))?;
    Ok(resolution(pending.resolve_digest(kind == "commit", epoch, message_sha256)).into())
}

/// When no row decided: `drop` once the whole log was read (`logComplete`), else `keep`.
#[wasm_bindgen(js_name = lostCommitAtEndOfLog)]
pub fn lost_commit_at_end_of_log(pending: &str, log_complete: bool) -> Result<String> {
    let pending: PendingCommit = parse("pending commit", pending)?;
    Ok(resolution(pending.at_end_of_log(log_complete)).into())
}

fn resolution(resolution: Resolution) -> &'static str {
    match resolution {
        Resolution::Keep => "keep",
        Resolution::Merge => "merge",
        Resolution::Drop => "drop",
    }
}
