//! MLS groups on this device (docs/mls.md, "Clients"): the `group` commands here; commits and their retry
//! in `commit`, reading the log in `log`, joining from Welcomes and `sync` in `join`.
//!
//! Every device a group takes in must be certified by its user's identity key as this device trusts it
//! ([`Device::certified_devices`]): a key package, a Welcome's member or a commit's added leaf that is not is
//! refused and nothing changes. Commits go through `commit_intent`: on an epoch conflict (409) the device
//! reads the winning commits, re-applies its intent and commits again, so the user sees one success.

mod commit;
mod join;
mod log;

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{CreateGroupRequest, GroupLogEntryView, GroupMessageRequest};
use openmls::prelude::*;
use serde::Serialize;

use e2ee_client_core::group::{devices_of, member_devices};
use e2ee_client_core::welcome::identity_of;

use self::commit::Intent;
use super::Device;
use crate::clock::now_ms;
use crate::content::Content;
use crate::error::{ClientError, Result};
pub use crate::mls::GroupMessage;
use crate::mls::{MessageStatus, MlsState};

/// Commit attempts before an epoch conflict is reported (each loss means another member committed).
const COMMIT_ATTEMPTS: usize = 8;
/// A device updates its leaf after this many sent messages, or when its last update is older than
/// [`UPDATE_AFTER_MS`] (post-compromise security: a stolen leaf key stops working).
pub const UPDATE_AFTER_MESSAGES: u32 = 50;
pub const UPDATE_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// A member device of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub device_id: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupReport {
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub epoch: u64,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupReadReport {
    pub group_id: String,
    pub epoch: u64,
    pub messages: Vec<GroupMessage>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Groups joined from Welcomes in this run.
    pub joined: Vec<String>,
    /// Welcomes refused (a member this device does not trust), with the reason; they stay in the inbox.
    pub refused: Vec<String>,
    pub groups: Vec<GroupReadReport>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaveReport {
    pub group_id: String,
    /// This user's other devices, removed from the group by this device's commit.
    pub removed_devices: Vec<String>,
    /// Whether other users remain: one of their devices commits this device's removal on its next read.
    pub removal_pending: bool,
}

fn mls(context: &str, error: impl std::fmt::Debug) -> ClientError {
    ClientError::Mls(format!("{context}: {error:?}"))
}

fn message_bytes(message: &MlsMessageOut) -> Result<String> {
    Ok(STANDARD.encode(
        message
            .to_bytes()
            .map_err(|e| mls("cannot encode a message", e))?,
    ))
}

/// Whether `identity` with `signature_key` is among the certified devices of its user in `certified` (the core's
/// rule, `e2ee_client_core::devices::is_listed`).
fn is_listed(
    certified: &std::collections::HashMap<String, Vec<crate::device::CertifiedDevice>>,
    identity: &DeviceIdentity,
    signature_key: &[u8],
) -> bool {
    certified.get(&identity.user_id).is_some_and(|devices| {
        e2ee_client_core::devices::is_listed(devices, identity, signature_key)
    })
}

fn is_epoch_conflict(error: &ClientError) -> bool {
    matches!(
        error.api_code(),
        Some(e2ee_protocol::ErrorCode::EpochTaken | e2ee_protocol::ErrorCode::WrongEpoch)
    )
}

impl Device {
    fn member_views(&self, group: &MlsGroup) -> Vec<MemberView> {
        member_devices::<Vec<_>>(group)
            .into_iter()
            .map(|identity| MemberView {
                username: self.username_of(&identity.user_id),
                user_id: identity.user_id,
                device_id: identity.device_id,
            })
            .collect()
    }

    /// A looked-up name of this run, else the core's choice from the pinned contacts and the key listing.
    fn username_of(&self, user_id: &str) -> Option<String> {
        self.names
            .get(user_id)
            .cloned()
            .filter(|name| !name.is_empty())
            .or_else(|| {
                self.contacts
                    .shown_username(user_id, self.directory.get(user_id))
            })
            .or_else(|| {
                (self.profile.data.user_id.as_deref() == Some(user_id))
                    .then(|| self.profile.username().to_owned())
            })
    }

    fn group_report(&self, state: &MlsState, group_id: &str) -> Result<GroupReport> {
        let group = state.group(group_id)?;
        Ok(GroupReport {
            group_id: group_id.to_owned(),
            name: state
                .meta
                .groups
                .get(group_id)
                .and_then(|meta| meta.name.clone()),
            epoch: group.epoch().as_u64(),
            members: self.member_views(&group),
        })
    }

    /// The user ids of `usernames`, each looked up (and pinned on first use).
    async fn user_ids(&mut self, usernames: &[String]) -> Result<Vec<String>> {
        let mut users = Vec::new();
        for username in usernames {
            users.push(self.lookup(username).await?.user_id);
        }
        Ok(users)
    }

    /// Whether `(user, device, signature key)` is a device this device trusts (certified, active).
    async fn is_certified(
        &mut self,
        identity: &DeviceIdentity,
        signature_key: &[u8],
    ) -> Result<bool> {
        if !self.certified.contains_key(&identity.user_id) {
            let devices = self.certified_devices(&identity.user_id).await?;
            self.certified.insert(identity.user_id.clone(), devices);
        }
        Ok(is_listed(&self.certified, identity, signature_key))
    }

    /// A group this device does not hold yet is joined first if a Welcome to it is pending (as `sync` would),
    /// so reading a group right after being added to it works.
    async fn join_if_welcomed(&mut self, state: &mut MlsState, group_id: &str) -> Result<()> {
        if !state.meta.groups.contains_key(group_id) {
            self.join_pending(state).await?;
        }
        Ok(())
    }

    /// `e2ee group create`: a new group of this device, then every other device of this user and of
    /// `usernames` added with one commit.
    pub async fn group_create(
        &mut self,
        state: &mut MlsState,
        name: Option<&str>,
        usernames: &[String],
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        let created = state.create_group(name.map(str::to_owned), now_ms())?;
        let group_id = created.group_id;
        state.save(&self.profile)?;
        self.client
            .create_group(&CreateGroupRequest {
                group_info: STANDARD.encode(&created.group_info),
                ratchet_tree: STANDARD.encode(&created.ratchet_tree),
            })
            .await?;
        let mut users = vec![self.me()?];
        users.extend(self.user_ids(usernames).await?);
        self.add_user_devices(state, &group_id, &users).await?;
        self.group_report(state, &group_id)
    }

    /// `e2ee group add GROUP USER...`: every certified device of each user that is not a member yet.
    pub async fn group_add(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        usernames: &[String],
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        let users = self.user_ids(usernames).await?;
        self.add_user_devices(state, group_id, &users).await?;
        self.group_report(state, group_id)
    }
    /// `e2ee group remove GROUP USER...`: every device of each user leaves the group.
    pub async fn group_remove(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        usernames: &[String],
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        let users: BTreeSet<String> = self.user_ids(usernames).await?.into_iter().collect();
        self.catch_up(state, group_id).await?;
        let removed = devices_of(&state.group(group_id)?, &users);
        if removed.is_empty() {
            return Err(ClientError::Usage(
                "none of these users is a member of the group".into(),
            ));
        }
        self.commit_intent(state, group_id, Intent::Remove(removed))
            .await?;
        self.group_report(state, group_id)
    }

    /// `e2ee group send GROUP MESSAGE`: a text message of the current epoch (updating this device's leaf
    /// first when it is due).
    pub async fn group_send(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        text: &str,
    ) -> Result<GroupLogEntryView> {
        self.use_device_token(state).await?;
        self.settle(state, group_id).await?;
        let due = state.meta.groups.get(group_id).is_some_and(|meta| {
            meta.sent_since_update >= UPDATE_AFTER_MESSAGES
                || now_ms().saturating_sub(meta.updated_at) > UPDATE_AFTER_MS
        });
        if due {
            self.commit_intent(state, group_id, Intent::Update).await?;
        }
        let content = Content::Text {
            text: text.to_owned(),
        };
        let entry = self.post_content(state, group_id, &content).await?;
        let me = state.identity();
        state.record(
            group_id,
            GroupMessage {
                seq: entry.seq,
                sender: self
                    .username_of(&me.user_id)
                    .unwrap_or_else(|| me.user_id.clone()),
                sender_user_id: me.user_id,
                sender_device: me.device_id,
                text: Some(text.to_owned()),
                epoch: entry.epoch,
                status: MessageStatus::Ok,
                reason: None,
            },
        );
        state.save(&self.profile)?;
        Ok(entry)
    }

    /// Encrypts `content` in the group's current epoch and posts it (a transient failure is retried under
    /// the same client message id, so it is stored once).
    async fn post_content(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        content: &Content,
    ) -> Result<GroupLogEntryView> {
        let mut group = state.group(group_id)?;
        let message = group
            .create_message(state.provider(), state.signer(), &content.encode()?)
            .map_err(|e| mls("cannot encrypt the message", e))?;
        // The sending ratchet moved: saved before the message leaves, so a key is never used twice.
        if let Some(meta) = state.meta.groups.get_mut(group_id) {
            meta.sent_since_update += 1;
        }
        state.save(&self.profile)?;
        let request = GroupMessageRequest {
            client_message_id: e2ee_crypto::random_message_id(),
            message: message_bytes(&message)?,
        };
        let mut attempt = 0;
        loop {
            match self.client.post_group_message(group_id, &request).await {
                Err(error) if error.is_transient() && attempt < 2 => attempt += 1,
                other => return other,
            }
        }
    }

    /// `e2ee group leave GROUP`: this user leaves the group, on all its devices. A member cannot commit its
    /// own removal (RFC 9420 §12.2): this device commits the removal of the user's other devices, asks the
    /// remaining members in a `leave` message (encrypted and signed like any message, so neither the server
    /// nor anyone else can forge it) to remove it, and forgets the group at once — its secrets are gone with
    /// the next save, so it reads nothing more even before a member's device commits the removal.
    pub async fn group_leave(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<LeaveReport> {
        self.use_device_token(state).await?;
        self.catch_up(state, group_id).await?;
        let me = state.identity();
        let members: Vec<DeviceIdentity> = member_devices(&state.group(group_id)?);
        let own_others: Vec<DeviceIdentity> = members
            .iter()
            .filter(|member| member.user_id == me.user_id && **member != me)
            .cloned()
            .collect();
        if !own_others.is_empty() {
            self.commit_intent(state, group_id, Intent::Remove(own_others.clone()))
                .await?;
        }
        let removal_pending = members.iter().any(|member| member.user_id != me.user_id);
        if removal_pending {
            self.post_content(state, group_id, &Content::Leave).await?;
        }
        state.forget_group(group_id)?;
        state.save(&self.profile)?;
        Ok(LeaveReport {
            group_id: group_id.to_owned(),
            removed_devices: own_others.into_iter().map(|d| d.device_id).collect(),
            removal_pending,
        })
    }

    /// `e2ee group read GROUP [--all]`: processes the group's new log rows in order (commits and messages)
    /// and returns the new messages (with `all`, every message this device has read in the group).
    pub async fn group_read(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        all: bool,
    ) -> Result<GroupReadReport> {
        self.use_device_token(state).await?;
        self.join_if_welcomed(state, group_id).await?;
        let fresh = self.settle(state, group_id).await?;
        let messages = if all { state.history(group_id) } else { fresh };
        Ok(GroupReadReport {
            group_id: group_id.to_owned(),
            epoch: state.group(group_id)?.epoch().as_u64(),
            messages,
        })
    }

    /// `e2ee group members GROUP`.
    pub async fn group_members(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        self.join_if_welcomed(state, group_id).await?;
        self.settle(state, group_id).await?;
        self.group_report(state, group_id)
    }

    /// `e2ee group list`: the groups this device is in.
    pub fn group_list(&self, state: &MlsState) -> Result<Vec<GroupReport>> {
        state
            .meta
            .groups
            .keys()
            .map(|group_id| self.group_report(state, group_id))
            .collect()
    }
}
