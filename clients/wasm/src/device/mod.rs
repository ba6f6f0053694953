//! [`MlsDevice`]: this device's MLS state and its group operations, driven from JavaScript. The driver fetches
//! and posts; every decision (what a row means, whether a commit or a Welcome may be taken, what to commit) is
//! the core's. After every call that changes the state the driver saves [`MlsDevice::save`] (encrypted) before
//! it posts anything the call produced.
//!
//! Split by what the driver is doing: [`commit`] (creating groups, changing them, sending), [`log`] (reading the
//! group's log), [`welcome`] (joining) and [`link`] (linking to its user).

mod commit;
mod link;
mod log;
mod welcome;

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::devices::revoked_members;
use e2ee_client_core::group::{CommitCheck, Intent, member_devices};
use e2ee_client_core::state::DeviceState;
use e2ee_client_core::welcome::{WelcomeJoin, identity_of};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{DeviceView, GroupLogEntryView};
use openmls::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::{ErrorCode, Result, fail, json, millis, parse};

/// This device's MLS state, unlocked, and the operations in progress.
#[wasm_bindgen]
pub struct MlsDevice {
    state: DeviceState,
    /// Commits of other members read and staged, waiting for [`MlsDevice::finish_commit`], by group.
    reading: BTreeMap<String, ReadCommit>,
    /// Groups where this device read a commit it could not process (it may have to rejoin).
    stuck: BTreeSet<String>,
    /// The intent of each commit staged and not answered yet (an accepted update resets the update schedule).
    intents: BTreeMap<String, Intent>,
    /// A Welcome decrypted by [`MlsDevice::open_welcome`], waiting for [`MlsDevice::finish_welcome`].
    welcome: Option<OpenedWelcome>,
}

struct ReadCommit {
    group: MlsGroup,
    check: CommitCheck,
    row: GroupLogEntryView,
    epoch_before: u64,
}

struct OpenedWelcome {
    join: WelcomeJoin,
    stored_at: i64,
}

/// A device, as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceRef {
    user_id: String,
    device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signature_key: Option<String>,
}

fn mls(context: &str, error: impl std::fmt::Debug) -> crate::Error {
    crate::Error(ErrorCode::Mls, format!("{context}: {error:?}"))
}

fn bytes_of(what: &str, base64: &str) -> Result<Vec<u8>> {
    STANDARD
        .decode(base64)
        .or_else(|_| fail(ErrorCode::InvalidInput, format!("{what} is not base64")))
}

fn message_base64(message: &MlsMessageOut) -> Result<String> {
    Ok(STANDARD.encode(
        message
            .to_bytes()
            .map_err(|e| mls("cannot encode a message", e))?,
    ))
}

impl MlsDevice {
    fn with_state(state: DeviceState) -> MlsDevice {
        MlsDevice {
            state,
            reading: BTreeMap::new(),
            stuck: BTreeSet::new(),
            intents: BTreeMap::new(),
            welcome: None,
        }
    }
}

#[wasm_bindgen]
impl MlsDevice {
    /// A new device `userId/deviceId` with a fresh Ed25519 signature key and no groups.
    pub fn create(user_id: &str, device_id: &str) -> Result<MlsDevice> {
        Ok(MlsDevice::with_state(DeviceState::create(
            user_id, device_id,
        )?))
    }

    /// The device a blob of [`MlsDevice::save`] holds (the same blob format as the Rust SDK's, docs/mls.md).
    /// (The copy of the blob in WebAssembly memory is zeroed once read.)
    pub fn load(state: Vec<u8>) -> Result<MlsDevice> {
        let state = zeroize::Zeroizing::new(state);
        Ok(MlsDevice::with_state(DeviceState::from_bytes(&state)?))
    }

    /// The whole state as one blob, to encrypt and save: it holds the device's private keys and group secrets.
    /// (Copied straight into a JavaScript array; the copy in WebAssembly memory is zeroed.)
    pub fn save(&self) -> Result<js_sys::Uint8Array> {
        let bytes = self.state.to_bytes()?;
        Ok(js_sys::Uint8Array::from(bytes.as_slice()))
    }

    #[wasm_bindgen(getter, js_name = userId)]
    pub fn user_id(&self) -> String {
        self.state.meta.user_id.clone()
    }

    #[wasm_bindgen(getter, js_name = deviceId)]
    pub fn device_id(&self) -> String {
        self.state.meta.device_id.clone()
    }

    /// Base64 of the device's Ed25519 signature public key (what its device certificate covers).
    #[wasm_bindgen(getter, js_name = signatureKey)]
    pub fn signature_key(&self) -> String {
        self.state.meta.signature_key.clone()
    }

    /// The proof for `POST /api/devices/session` at `createdAtMs`: base64 of the device's Ed25519 signature
    /// over the session statement (the body's `signature`).
    #[wasm_bindgen(js_name = sessionProof)]
    pub fn session_proof(&self, created_at_ms: f64) -> Result<String> {
        let created_at = u64::try_from(millis(created_at_ms)?)
            .or_else(|_| fail(ErrorCode::InvalidInput, "a negative time"))?;
        Ok(STANDARD.encode(self.state.session_proof(created_at)?))
    }

    /// The statement the user's identity key signs (RSA-PSS, in the driver: the private key never leaves
    /// WebCrypto) to certify this device at `issuedAtMs` (docs/mls.md, "Device certificates").
    #[wasm_bindgen(js_name = certificateInput)]
    pub fn certificate_input(&self, issuer_key_id: &str, issued_at_ms: f64) -> Result<Vec<u8>> {
        let issuer_key_id = e2ee_crypto::KeyId::parse(issuer_key_id).or_else(|_| {
            fail(
                ErrorCode::InvalidInput,
                "the issuer key id is not 64 hex digits",
            )
        })?;
        let created_at = u64::try_from(millis(issued_at_ms)?)
            .or_else(|_| fail(ErrorCode::InvalidInput, "a negative time"))?;
        let signature_key = STANDARD
            .decode(&self.state.meta.signature_key)
            .or_else(|_| fail(ErrorCode::Damaged, "the signature key"))?;
        Ok(e2ee_crypto::DeviceStatement {
            user_id: &self.state.meta.user_id,
            device_id: &self.state.meta.device_id,
            signature_key: &signature_key,
            issuer_key_id,
            created_at,
        }
        .signing_input())
    }

    /// `count` key packages to upload (base64 `MLSMessage`s), one-time or last-resort.
    #[wasm_bindgen(js_name = keyPackages)]
    pub fn key_packages(&mut self, count: usize, last_resort: bool) -> Result<Vec<String>> {
        if count == 0 || count > 100 {
            return fail(ErrorCode::InvalidInput, "between 1 and 100 key packages");
        }
        Ok(self.state.key_packages(count, last_resort)?)
    }

    /// Deletes the private keys of this device's key packages that expired by `nowMs` (before a top-up; save
    /// after). Returns how many.
    #[wasm_bindgen(js_name = pruneKeyPackages)]
    pub fn prune_key_packages(&mut self, now_ms: f64) -> Result<u32> {
        let pruned = self.state.prune_key_packages(millis(now_ms)?)?;
        Ok(u32::try_from(pruned).unwrap_or(u32::MAX))
    }

    /// The groups this device holds (hex ids).
    #[wasm_bindgen(js_name = groupIds)]
    pub fn group_ids(&self) -> Vec<String> {
        self.state.meta.groups.keys().cloned().collect()
    }

    /// What this device tracks of the group (JSON `GroupMeta`: name, read position, kept messages, …).
    #[wasm_bindgen(js_name = groupMeta)]
    pub fn group_meta(&self, group_id: &str) -> Result<String> {
        let Some(meta) = self.state.meta.groups.get(group_id) else {
            return fail(
                ErrorCode::NotInGroup,
                format!("this device is not in group {group_id}"),
            );
        };
        json(meta)
    }

    /// The group's epoch as this device holds it.
    pub fn epoch(&self, group_id: &str) -> Result<f64> {
        // Epochs stay far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        Ok(self.state.group(group_id)?.epoch().as_u64() as f64)
    }

    /// The member devices (JSON `[{userId, deviceId, signatureKey}]`, tree order).
    pub fn members(&self, group_id: &str) -> Result<String> {
        let group = self.state.group(group_id)?;
        let members: Vec<DeviceRef> = group
            .members()
            .filter_map(|member| {
                let identity = identity_of(&member.credential)?;
                Some(DeviceRef {
                    user_id: identity.user_id,
                    device_id: identity.device_id,
                    signature_key: Some(STANDARD.encode(&member.signature_key)),
                })
            })
            .collect();
        json(&members)
    }

    /// The devices of this group's members the core would show as its members (JSON `[{userId, deviceId}]`).
    #[wasm_bindgen(js_name = memberDevices)]
    pub fn member_devices(&self, group_id: &str) -> Result<String> {
        let group = self.state.group(group_id)?;
        let devices: Vec<DeviceRef> = member_devices::<Vec<DeviceIdentity>>(&group)
            .into_iter()
            .map(|d| DeviceRef {
                user_id: d.user_id,
                device_id: d.device_id,
                signature_key: None,
            })
            .collect();
        json(&devices)
    }

    /// The group's members (other than this device) that their users' device listings no longer list, or list
    /// as revoked: `listings` is JSON `{userId: [device view…]}` (the `devices` of `GET /api/devices/{userId}` for
    /// each member's user). JSON `[{userId, deviceId}]`, to remove with [`MlsDevice::stage_remove`] (review N13).
    #[wasm_bindgen(js_name = revokedMembers)]
    pub fn revoked_members(&self, group_id: &str, listings: &str) -> Result<String> {
        let listings: BTreeMap<String, Vec<DeviceView>> = parse("device listings", listings)?;
        let members: Vec<DeviceIdentity> = member_devices(&self.state.group(group_id)?);
        let revoked = revoked_members(&members, &self.state.identity(), &listings);
        json(
            &revoked
                .into_iter()
                .map(|d| DeviceRef {
                    user_id: d.user_id,
                    device_id: d.device_id,
                    signature_key: None,
                })
                .collect::<Vec<_>>(),
        )
    }

    /// Whether this device is still a member of the group (a commit it read may have removed it: then the
    /// driver forgets the group).
    #[wasm_bindgen(js_name = isMember)]
    pub fn is_member(&self, group_id: &str) -> Result<bool> {
        Ok(self.state.group(group_id)?.is_active())
    }

    /// The removals of these users (asked for by their `leave` messages) are done: they are no longer
    /// remembered.
    #[wasm_bindgen(js_name = forgetLeaveRequests)]
    pub fn forget_leave_requests(&mut self, group_id: &str, user_ids: Vec<String>) -> Result<()> {
        let Some(meta) = self.state.meta.groups.get_mut(group_id) else {
            return fail(
                ErrorCode::NotInGroup,
                format!("this device is not in group {group_id}"),
            );
        };
        meta.leave_requests
            .retain(|user| !user_ids.iter().any(|done| done == user));
        Ok(())
    }

    /// Deletes the group's secrets and what this device kept of it.
    pub fn forget(&mut self, group_id: &str) -> Result<()> {
        self.reading.remove(group_id);
        self.intents.remove(group_id);
        self.stuck.remove(group_id);
        Ok(self.state.forget_group(group_id)?)
    }
}
