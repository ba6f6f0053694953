//! Creating groups, changing them (staged commits: the driver saves, posts, then reports the answer), rejoining
//! and sending.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::commits::{RejoinRefusal, external_rejoin, must_rejoin};
use e2ee_client_core::content::Content;
use e2ee_client_core::group::{
    self, GroupMessage, Intent, MessageStatus, StagedIntent, join_config,
};
use e2ee_client_core::key_packages::claimed_key_package;
use e2ee_client_core::state::DeviceState;
use e2ee_protocol::GroupView;
use openmls::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use super::{DeviceRef, MlsDevice, bytes_of, message_base64, mls};
use crate::trust::{Trust, identity};
use crate::{ErrorCode, Result, fail, json, millis, parse};

/// A key package the server handed out (`POST /api/key-packages/claim/{userId}`), for the device it names.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Claimed {
    user_id: String,
    device_id: String,
    /// Base64 `MLSMessage`, as claimed.
    key_package: String,
}

/// A commit to post (`POST /api/groups/{groupId}/commits`): base64, as the request's fields.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommitBundle {
    commit: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    welcome: Option<String>,
    group_info: String,
}

impl From<StagedIntent> for CommitBundle {
    fn from(staged: StagedIntent) -> Self {
        CommitBundle {
            commit: STANDARD.encode(&staged.commit),
            welcome: staged.welcome.map(|bytes| STANDARD.encode(bytes)),
            group_info: STANDARD.encode(&staged.group_info),
        }
    }
}

impl MlsDevice {
    fn stage(&mut self, group_id: &str, intent: Intent) -> Result<Option<String>> {
        let mut group = self.state.group(group_id)?;
        let (provider, signer, meta) = self.state.parts(group_id)?;
        let staged = group::stage_intent(provider, signer, &mut group, meta, &intent)?;
        let Some(staged) = staged else {
            return Ok(None);
        };
        self.intents.insert(group_id.to_owned(), intent);
        Ok(Some(json(&CommitBundle::from(staged))?))
    }

    fn encrypt(&mut self, group_id: &str, content: &Content) -> Result<String> {
        let mut group = self.state.group(group_id)?;
        let bytes = content.encode()?;
        let (provider, signer, meta) = self.state.parts(group_id)?;
        let message = group
            .create_message(provider, signer, &bytes)
            .map_err(|e| mls("cannot encrypt the message", e))?;
        meta.sent_since_update += 1;
        message_base64(&message)
    }
}

#[wasm_bindgen]
impl MlsDevice {
    /// A new group of this device alone (`name` is kept on this device only): JSON `{groupId, groupInfo,
    /// ratchetTree}` (base64) for `POST /api/groups`.
    #[wasm_bindgen(js_name = createGroup)]
    pub fn create_group(&mut self, name: Option<String>, now_ms: f64) -> Result<String> {
        let created = self.state.create_group(name, millis(now_ms)?)?;
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Created {
            group_id: String,
            group_info: String,
            ratchet_tree: String,
        }
        json(&Created {
            group_id: created.group_id,
            group_info: STANDARD.encode(&created.group_info),
            ratchet_tree: STANDARD.encode(&created.ratchet_tree),
        })
    }

    /// Stages a commit adding the devices of claimed key packages (JSON `[{userId, deviceId, keyPackage}]`);
    /// each must validate, name its device, and be of a device `trust` trusts, else nothing is staged
    /// (`untrusted`). JSON `{commit, welcome, groupInfo}` to post, or `undefined` if every device is in already.
    #[wasm_bindgen(js_name = stageAdd)]
    pub fn stage_add(
        &mut self,
        group_id: &str,
        claimed: &str,
        trust: &Trust,
    ) -> Result<Option<String>> {
        let claimed: Vec<Claimed> = parse("claimed key packages", claimed)?;
        let mut packages = Vec::new();
        for offered in &claimed {
            let device = identity(&offered.user_id, &offered.device_id)?;
            let bytes = bytes_of("a key package", &offered.key_package)?;
            let package =
                claimed_key_package(self.state.provider(), &device, &bytes).or_else(|why| {
                    fail(
                        ErrorCode::Untrusted,
                        format!("the key package offered for {device}: {why}"),
                    )
                })?;
            if !trust.trusts(&device, package.leaf_node().signature_key().as_slice()) {
                return fail(
                    ErrorCode::Untrusted,
                    format!(
                        "the server offered a key package for {device}, a device {} never certified with a key \
                         this device trusts; nothing was changed",
                        trust.name_of(&device.user_id)
                    ),
                );
            }
            packages.push(package);
        }
        self.stage(group_id, Intent::Add(packages))
    }

    /// Stages a commit removing these devices (JSON `[{userId, deviceId}]`); `undefined` if none is a member.
    #[wasm_bindgen(js_name = stageRemove)]
    pub fn stage_remove(&mut self, group_id: &str, devices: &str) -> Result<Option<String>> {
        let devices: Vec<DeviceRef> = parse("devices", devices)?;
        let devices = devices
            .iter()
            .map(|d| identity(&d.user_id, &d.device_id))
            .collect::<Result<Vec<_>>>()?;
        self.stage(group_id, Intent::Remove(devices))
    }

    /// Stages a commit removing every device of these users.
    #[wasm_bindgen(js_name = stageRemoveUsers)]
    pub fn stage_remove_users(
        &mut self,
        group_id: &str,
        user_ids: Vec<String>,
    ) -> Result<Option<String>> {
        let users: BTreeSet<String> = user_ids.into_iter().collect();
        let devices = group::devices_of(&self.state.group(group_id)?, &users);
        self.stage(group_id, Intent::Remove(devices))
    }

    /// Stages a commit updating this device's leaf (post-compromise security).
    #[wasm_bindgen(js_name = stageUpdate)]
    pub fn stage_update(&mut self, group_id: &str) -> Result<Option<String>> {
        self.stage(group_id, Intent::Update)
    }

    /// The server stored the staged commit: it is merged.
    #[wasm_bindgen(js_name = commitAccepted)]
    pub fn commit_accepted(&mut self, group_id: &str, now_ms: f64) -> Result<()> {
        let now = millis(now_ms)?;
        // Without the intent (not expected) the commit is merged all the same; only an update's schedule waits.
        let intent = self
            .intents
            .remove(group_id)
            .unwrap_or(Intent::Remove(Vec::new()));
        let mut group = self.state.group(group_id)?;
        let (provider, _, meta) = self.state.parts(group_id)?;
        group::commit_accepted(provider, &mut group, meta, &intent, now)?;
        Ok(())
    }

    /// Discards this device's pending commit (the server refused it, e.g. another commit took the epoch).
    #[wasm_bindgen(js_name = dropPendingCommit)]
    pub fn drop_pending_commit(&mut self, group_id: &str) -> Result<()> {
        self.intents.remove(group_id);
        let mut group = self.state.group(group_id)?;
        let (provider, _, meta) = self.state.parts(group_id)?;
        group::drop_pending(provider, &mut group, meta)?;
        Ok(())
    }

    /// Encrypts a text message in the group's current epoch: base64 `MLSMessage` for
    /// `POST /api/groups/{groupId}/messages`. Save before posting (the sending ratchet moved).
    #[wasm_bindgen(js_name = encryptText)]
    pub fn encrypt_text(&mut self, group_id: &str, text: &str) -> Result<String> {
        self.encrypt(
            group_id,
            &Content::Text {
                text: text.to_owned(),
            },
        )
    }

    /// Encrypts a `leave` message: the other members commit this user's removal.
    #[wasm_bindgen(js_name = encryptLeave)]
    pub fn encrypt_leave(&mut self, group_id: &str) -> Result<String> {
        self.encrypt(group_id, &Content::Leave)
    }

    /// A device that could not process an accepted commit ([`MlsDevice::end_of_page`] said so) rejoins from the
    /// group as the server has it now (`GET /api/groups/{groupId}`, JSON) by external commit, replacing its old
    /// leaf: JSON `{commit, groupInfo}` for `POST /api/groups/{groupId}/commits`, or `undefined` when the server's
    /// epoch is not past this device's (nothing to do). Every member but this device must be one `trust` trusts
    /// (fetch the listings of the view's members first), else `untrusted` (or `mls`: the GroupInfo or tree cannot
    /// be used), and the state is as before. The rejoin is held in memory only: once the server accepts the commit,
    /// [`MlsDevice::rejoin_accepted`], then save; if it refuses, load the saved state again (this device's state of
    /// the group was replaced).
    pub fn rejoin(&mut self, group_id: &str, view: &str, trust: &Trust) -> Result<Option<String>> {
        let view: GroupView = parse("group view", view)?;
        if view.group_id != group_id {
            return fail(ErrorCode::InvalidInput, "the view is of another group");
        }
        if !must_rejoin(self.state.group(group_id)?.epoch().as_u64(), view.epoch) {
            return Ok(None);
        }
        let group_info = bytes_of("the GroupInfo", &view.group_info)?;
        let tree = bytes_of("the ratchet tree", &view.ratchet_tree)?;
        // The attempt replaces the group's state in storage: a refused one puts the state back as it was.
        let before = self.state.to_bytes()?;
        let rejoined = external_rejoin(
            self.state.provider(),
            self.state.signer(),
            self.state.credential(),
            join_config(),
            &group_info,
            &tree,
            |identity, key| trust.trusts(identity, key),
        );
        let (group, commit) = match rejoined {
            Ok(rejoined) => rejoined,
            Err(refusal) => {
                self.state = DeviceState::from_bytes(&before)?;
                let code = match refusal {
                    RejoinRefusal::UntrustedMember { .. } => ErrorCode::Untrusted,
                    RejoinRefusal::Unusable(_) => ErrorCode::Mls,
                };
                return fail(code, refusal.to_string());
            }
        };
        let info = group
            .export_group_info(self.state.provider().crypto(), self.state.signer(), false)
            .map_err(|e| mls("cannot export the GroupInfo", e))?;
        self.reading.remove(group_id);
        self.intents.remove(group_id);
        Ok(Some(json(&CommitBundle {
            commit: STANDARD.encode(&commit),
            welcome: None,
            group_info: message_base64(&info)?,
        })?))
    }

    /// The server stored the rejoin commit at log position `seq`: reading goes on after it.
    #[wasm_bindgen(js_name = rejoinAccepted)]
    pub fn rejoin_accepted(&mut self, group_id: &str, seq: f64, now_ms: f64) -> Result<()> {
        let Ok(seq) = u64::try_from(millis(seq)?) else {
            return fail(ErrorCode::InvalidInput, "a negative seq");
        };
        let now = millis(now_ms)?;
        let Some(meta) = self.state.meta.groups.get_mut(group_id) else {
            return fail(
                ErrorCode::NotInGroup,
                format!("this device is not in group {group_id}"),
            );
        };
        meta.after = Some(seq);
        meta.pending_commit = None;
        meta.updated_at = now;
        self.stuck.remove(group_id);
        Ok(())
    }

    /// Keeps a message this device sent and the server stored (log position `seq`, `epoch`).
    #[wasm_bindgen(js_name = recordSent)]
    pub fn record_sent(
        &mut self,
        group_id: &str,
        seq: f64,
        epoch: f64,
        text: &str,
        trust: &Trust,
    ) -> Result<()> {
        let (seq, epoch) = (millis(seq)?, millis(epoch)?);
        let (Ok(seq), Ok(epoch)) = (u64::try_from(seq), u64::try_from(epoch)) else {
            return fail(ErrorCode::InvalidInput, "a negative seq or epoch");
        };
        let me = self.state.identity();
        let message = GroupMessage {
            seq,
            sender: trust.name_of(&me.user_id),
            sender_user_id: me.user_id,
            sender_device: me.device_id,
            text: Some(text.to_owned()),
            epoch,
            status: MessageStatus::Ok,
            reason: None,
        };
        self.state.record(group_id, message);
        Ok(())
    }
}
