//! MLS groups on this device (docs/mls.md, "Clients"): create, add, remove, send, read, join from Welcomes.
//!
//! Every device a group takes in must be certified by its user's identity key as this device trusts it
//! ([`Device::certified_devices`]): a key package, a Welcome's member or a commit's added leaf that is not is
//! refused and nothing changes. Commits go through [`Device::commit_intent`]: on an epoch conflict (409) the
//! device reads the winning commits, re-applies its intent and commits again, so the user sees one success.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{
    CommitBundleRequest, CreateGroupRequest, GroupLogEntryView, GroupMessageRequest,
};
use openmls::prelude::tls_codec::{DeserializeBytes as _, Serialize as _};
use openmls::prelude::*;
use serde::Serialize;

use super::Device;
use crate::clock::now_ms;
use crate::error::{ClientError, Result};
pub use crate::mls::GroupMessage;
use crate::mls::{GroupMeta, MlsState, create_config, join_config};

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

/// What a commit is for: re-applied against the newest epoch after a conflict.
enum Intent {
    Add(Vec<KeyPackage>),
    Remove(Vec<DeviceIdentity>),
    Update,
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

fn identity_of(credential: &Credential) -> Option<DeviceIdentity> {
    let basic = BasicCredential::try_from(credential.clone()).ok()?;
    DeviceIdentity::parse(basic.identity()).ok()
}

fn is_epoch_conflict(error: &ClientError) -> bool {
    matches!(error.api_code(), Some("epoch_taken" | "wrong_epoch"))
}

impl Device {
    fn member_views(&self, group: &MlsGroup) -> Vec<MemberView> {
        group
            .members()
            .filter_map(|member| identity_of(&member.credential))
            .map(|identity| MemberView {
                username: self.username_of(&identity.user_id),
                user_id: identity.user_id,
                device_id: identity.device_id,
            })
            .collect()
    }

    fn username_of(&self, user_id: &str) -> Option<String> {
        self.names
            .get(user_id)
            .cloned()
            .or_else(|| self.contacts.username(user_id).map(str::to_owned))
            .filter(|name| !name.is_empty())
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
        Ok(self
            .certified
            .get(&identity.user_id)
            .is_some_and(|devices| {
                devices.iter().any(|device| {
                    device.device_id == identity.device_id && device.signature_key == signature_key
                })
            }))
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
        let group = MlsGroup::new(
            state.provider(),
            state.signer(),
            &create_config(),
            state.credential(),
        )
        .map_err(|e| mls("cannot create the group", e))?;
        let group_id = hex::encode(group.group_id().as_slice());
        let info = group
            .export_group_info(state.provider().crypto(), state.signer(), false)
            .map_err(|e| mls("cannot export the GroupInfo", e))?;
        let tree = group
            .export_ratchet_tree()
            .tls_serialize_detached()
            .map_err(|e| mls("cannot encode the ratchet tree", e))?;
        state.meta.groups.insert(
            group_id.clone(),
            GroupMeta {
                name: name.map(str::to_owned),
                after: Some(0),
                sent_since_update: 0,
                updated_at: now_ms(),
                messages: Vec::new(),
            },
        );
        state.save(&self.profile)?;
        self.client
            .create_group(&CreateGroupRequest {
                group_info: message_bytes(&info)?,
                ratchet_tree: STANDARD.encode(tree),
            })
            .await?;
        let me = self.me()?;
        let mut users = vec![me];
        for username in usernames {
            users.push(self.lookup(username).await?.user_id);
        }
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
        let mut users = Vec::new();
        for username in usernames {
            users.push(self.lookup(username).await?.user_id);
        }
        self.add_user_devices(state, group_id, &users).await?;
        self.group_report(state, group_id)
    }

    /// Claims a key package of every device of `user_ids` not in the group yet, checks each against the
    /// certified devices (a package of a device the user never certified — a ghost — refuses the whole
    /// add), and commits the add.
    async fn add_user_devices(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        user_ids: &[String],
    ) -> Result<()> {
        let group = state.group(group_id)?;
        let members: BTreeSet<DeviceIdentity> = group
            .members()
            .filter_map(|member| identity_of(&member.credential))
            .collect();
        let mut packages = Vec::new();
        for user_id in user_ids {
            let claimed = self.client.claim_key_packages(user_id).await?;
            for offered in claimed.key_packages {
                let identity = DeviceIdentity {
                    user_id: user_id.clone(),
                    device_id: offered.device_id.clone(),
                };
                if members.contains(&identity) {
                    continue;
                }
                let package = self
                    .checked_key_package(state, &identity, &offered.key_package)
                    .await?;
                packages.push(package);
            }
        }
        if packages.is_empty() {
            return Ok(());
        }
        self.commit_intent(state, group_id, Intent::Add(packages))
            .await
            .map(|_| ())
    }

    /// A claimed key package, if it is valid and belongs to a certified device of its user.
    async fn checked_key_package(
        &mut self,
        state: &MlsState,
        identity: &DeviceIdentity,
        encoded: &str,
    ) -> Result<KeyPackage> {
        let invalid = |why: &str| {
            ClientError::Untrusted(format!("the key package offered for {identity}: {why}"))
        };
        let bytes = STANDARD
            .decode(encoded)
            .map_err(|_| invalid("not base64"))?;
        let message =
            MlsMessageIn::tls_deserialize_exact_bytes(&bytes).map_err(|_| invalid("malformed"))?;
        let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
            return Err(invalid("not a key package"));
        };
        let package = package
            .validate(state.provider().crypto(), ProtocolVersion::Mls10)
            .map_err(|_| invalid("it does not validate"))?;
        let leaf = package.leaf_node();
        if identity_of(leaf.credential()).as_ref() != Some(identity) {
            return Err(invalid("its credential names another device"));
        }
        if !self
            .is_certified(identity, leaf.signature_key().as_slice())
            .await?
        {
            return Err(ClientError::Untrusted(format!(
                "the server offered a key package for {identity}, a device {} never certified with a key \
                 this device trusts; nothing was changed",
                self.username_of(&identity.user_id)
                    .unwrap_or_else(|| identity.user_id.clone())
            )));
        }
        Ok(package)
    }

    /// `e2ee group remove GROUP USER...`: every device of each user leaves the group.
    pub async fn group_remove(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        usernames: &[String],
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        let mut users = BTreeSet::new();
        for username in usernames {
            users.insert(self.lookup(username).await?.user_id);
        }
        self.catch_up(state, group_id).await?;
        let removed: Vec<DeviceIdentity> = state
            .group(group_id)?
            .members()
            .filter_map(|member| identity_of(&member.credential))
            .filter(|identity| users.contains(&identity.user_id))
            .collect();
        if removed.is_empty() {
            return Err(ClientError::Usage(
                "none of these users is a member of the group".into(),
            ));
        }
        self.commit_intent(state, group_id, Intent::Remove(removed))
            .await?;
        self.group_report(state, group_id)
    }

    /// Commits `intent` against the newest epoch: reads the log first, and after losing an epoch (409)
    /// reads the winner and tries again, up to [`COMMIT_ATTEMPTS`] times.
    async fn commit_intent(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        intent: Intent,
    ) -> Result<GroupLogEntryView> {
        let mut last_conflict = None;
        for _ in 0..COMMIT_ATTEMPTS {
            self.catch_up(state, group_id).await?;
            let mut group = state.group(group_id)?;
            let (commit, welcome) = match &intent {
                Intent::Add(packages) => {
                    let present: BTreeSet<DeviceIdentity> = group
                        .members()
                        .filter_map(|member| identity_of(&member.credential))
                        .collect();
                    let missing: Vec<KeyPackage> = packages
                        .iter()
                        .filter(|package| {
                            identity_of(package.leaf_node().credential())
                                .is_some_and(|identity| !present.contains(&identity))
                        })
                        .cloned()
                        .collect();
                    if missing.is_empty() {
                        return Err(ClientError::Usage("everyone is a member already".into()));
                    }
                    let (commit, welcome, _) = group
                        .add_members(state.provider(), state.signer(), &missing)
                        .map_err(|e| mls("cannot add the members", e))?;
                    (commit, Some(welcome))
                }
                Intent::Remove(devices) => {
                    let leaves: Vec<LeafNodeIndex> = group
                        .members()
                        .filter(|member| {
                            identity_of(&member.credential).is_some_and(|id| devices.contains(&id))
                        })
                        .map(|member| member.index)
                        .collect();
                    let (commit, _, _) = group
                        .remove_members(state.provider(), state.signer(), &leaves)
                        .map_err(|e| mls("cannot remove the members", e))?;
                    (commit, None)
                }
                Intent::Update => {
                    let bundle = group
                        .self_update(
                            state.provider(),
                            state.signer(),
                            LeafNodeParameters::default(),
                        )
                        .map_err(|e| mls("cannot update the leaf", e))?;
                    (bundle.into_commit(), None)
                }
            };
            let info = {
                // The GroupInfo of the epoch the commit produces: merged into a copy of the state only once
                // the server accepted it, so it is exported from the staged group below.
                group
                    .merge_pending_commit(state.provider())
                    .map_err(|e| mls("cannot merge the commit", e))?;
                group
                    .export_group_info(state.provider().crypto(), state.signer(), false)
                    .map_err(|e| mls("cannot export the GroupInfo", e))?
            };
            let request = CommitBundleRequest {
                commit: message_bytes(&commit)?,
                welcome: welcome.as_ref().map(message_bytes).transpose()?,
                group_info: message_bytes(&info)?,
            };
            match self.client.post_commit(group_id, &request).await {
                Ok(entry) => {
                    if let Some(meta) = state.meta.groups.get_mut(group_id) {
                        meta.after = Some(entry.seq);
                        if matches!(intent, Intent::Update) {
                            meta.sent_since_update = 0;
                            meta.updated_at = now_ms();
                        }
                    }
                    state.save(&self.profile)?;
                    return Ok(entry);
                }
                Err(error) if is_epoch_conflict(&error) => {
                    // The merge above lives only in memory: reload the saved state of the old epoch.
                    state.reload(&self.profile)?;
                    last_conflict = Some(error);
                }
                Err(error) => {
                    state.reload(&self.profile)?;
                    return Err(error);
                }
            }
        }
        Err(last_conflict.unwrap_or_else(|| ClientError::Mls("commit failed".into())))
    }

    /// `e2ee group send GROUP MESSAGE`: an application message of the current epoch (updating this
    /// device's leaf first when it is due).
    pub async fn group_send(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        text: &[u8],
    ) -> Result<GroupLogEntryView> {
        self.use_device_token(state).await?;
        self.catch_up(state, group_id).await?;
        let due = state.meta.groups.get(group_id).is_some_and(|meta| {
            meta.sent_since_update >= UPDATE_AFTER_MESSAGES
                || now_ms().saturating_sub(meta.updated_at) > UPDATE_AFTER_MS
        });
        if due {
            self.commit_intent(state, group_id, Intent::Update).await?;
        }
        let mut group = state.group(group_id)?;
        let message = group
            .create_message(state.provider(), state.signer(), text)
            .map_err(|e| mls("cannot encrypt the message", e))?;
        // The sending ratchet moved: saved before the message leaves, so a key is never used twice.
        let me = state.identity();
        let epoch = group.epoch().as_u64();
        if let Some(meta) = state.meta.groups.get_mut(group_id) {
            meta.sent_since_update += 1;
        }
        state.save(&self.profile)?;
        let request = GroupMessageRequest {
            client_message_id: e2ee_crypto::random_message_id(),
            message: message_bytes(&message)?,
        };
        let mut attempt = 0;
        let entry = loop {
            match self.client.post_group_message(group_id, &request).await {
                Err(error) if error.is_transient() && attempt < 2 => attempt += 1,
                other => break other?,
            }
        };
        state.record(
            group_id,
            GroupMessage {
                seq: entry.seq,
                sender: self
                    .username_of(&me.user_id)
                    .unwrap_or_else(|| me.user_id.clone()),
                sender_user_id: me.user_id,
                sender_device: me.device_id,
                text: Some(String::from_utf8_lossy(text).into_owned()),
                epoch,
                status: "ok".into(),
                reason: None,
            },
        );
        state.save(&self.profile)?;
        Ok(entry)
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
        let fresh = self.catch_up(state, group_id).await?;
        let messages = if all { state.history(group_id) } else { fresh };
        Ok(GroupReadReport {
            group_id: group_id.to_owned(),
            epoch: state.group(group_id)?.epoch().as_u64(),
            messages,
        })
    }

    /// Reads and processes the group's log after this device's position; returns the new messages.
    async fn catch_up(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<Vec<GroupMessage>> {
        let mut fresh = Vec::new();
        loop {
            let after = state
                .meta
                .groups
                .get(group_id)
                .ok_or_else(|| {
                    ClientError::Usage(format!("this device is not in group {group_id}"))
                })?
                .after;
            let page = self.client.group_log(group_id, after).await?;
            if page.entries.is_empty() {
                break;
            }
            let mut group = state.group(group_id)?;
            for entry in &page.entries {
                if let Some(message) = self.process_entry(state, &mut group, entry).await? {
                    state.record(group_id, message.clone());
                    fresh.push(message);
                }
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.after = Some(entry.seq);
                }
            }
            state.save(&self.profile)?;
            if page.next_after.is_none() {
                break;
            }
        }
        Ok(fresh)
    }

    /// One log row: a commit is checked (every leaf it brings in must be certified) and merged; an
    /// application message is decrypted. This device's own rows are skipped (its commits were merged when
    /// accepted, its messages recorded when sent).
    async fn process_entry(
        &mut self,
        state: &MlsState,
        group: &mut MlsGroup,
        entry: &GroupLogEntryView,
    ) -> Result<Option<GroupMessage>> {
        let me = state.identity();
        if entry.kind == "create"
            || (entry.sender_user_id == me.user_id && entry.sender_device_id == me.device_id)
        {
            return Ok(None);
        }
        let sender = self
            .username_of(&entry.sender_user_id)
            .unwrap_or_else(|| entry.sender_user_id.clone());
        let failed = |reason: String| {
            Some(GroupMessage {
                seq: entry.seq,
                sender: sender.clone(),
                sender_user_id: entry.sender_user_id.clone(),
                sender_device: entry.sender_device_id.clone(),
                text: None,
                epoch: entry.epoch,
                status: "failed".into(),
                reason: Some(reason),
            })
        };
        let Ok(bytes) = STANDARD.decode(&entry.message) else {
            return Ok(failed("the server sent a row that is not base64".into()));
        };
        let protocol = match MlsMessageIn::tls_deserialize_exact_bytes(&bytes)
            .ok()
            .and_then(|message| message.try_into_protocol_message().ok())
        {
            Some(protocol) => protocol,
            None => return Ok(failed("not an MLS message of this group".into())),
        };
        let processed = match group.process_message(state.provider(), protocol) {
            Ok(processed) => processed,
            Err(error) => return Ok(failed(format!("cannot be processed: {error}"))),
        };
        let author = identity_of(processed.credential());
        if author.as_ref().map(|a| (&a.user_id, &a.device_id))
            != Some((&entry.sender_user_id, &entry.sender_device_id))
        {
            return Ok(failed(
                "the sender's leaf is not the device the server names".into(),
            ));
        }
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(message) => Ok(Some(GroupMessage {
                seq: entry.seq,
                sender,
                sender_user_id: entry.sender_user_id.clone(),
                sender_device: entry.sender_device_id.clone(),
                text: Some(crate::text::sanitize(&String::from_utf8_lossy(
                    &message.into_bytes(),
                ))),
                epoch: entry.epoch,
                status: "ok".into(),
                reason: None,
            })),
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let mut leaves: Vec<(DeviceIdentity, Vec<u8>)> = staged
                    .add_proposals()
                    .filter_map(|add| {
                        let leaf = add.add_proposal().key_package().leaf_node();
                        Some((
                            identity_of(leaf.credential())?,
                            leaf.signature_key().as_slice().to_vec(),
                        ))
                    })
                    .collect();
                if let Some(leaf) = staged.update_path_leaf_node()
                    && let Some(identity) = identity_of(leaf.credential())
                {
                    leaves.push((identity, leaf.signature_key().as_slice().to_vec()));
                }
                for (identity, key) in &leaves {
                    if !self.is_certified(identity, key).await? {
                        group
                            .clear_pending_commit(state.provider().storage())
                            .map_err(|e| mls("cannot discard the commit", e))?;
                        return Ok(failed(format!(
                            "trust refused: the commit brings in {identity}, which is not certified by a key \
                             this device trusts; the group is not changed"
                        )));
                    }
                }
                group
                    .merge_staged_commit(state.provider(), *staged)
                    .map_err(|e| mls("cannot merge the commit", e))?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// `e2ee sync`: joins the groups of pending Welcomes (each member certified, else refused and kept in
    /// the inbox), acknowledges them, then reads every group.
    pub async fn sync(&mut self, state: &mut MlsState) -> Result<SyncReport> {
        self.use_device_token(state).await?;
        let mut joined = Vec::new();
        let mut refused = Vec::new();
        for pending in self.client.welcomes().await?.welcomes {
            if state.meta.groups.contains_key(&pending.group_id) {
                self.client
                    .ack_welcome(&pending.group_id, pending.epoch)
                    .await?;
                continue;
            }
            match self.join(state, &pending.welcome).await {
                Ok(group_id) => {
                    self.client
                        .ack_welcome(&pending.group_id, pending.epoch)
                        .await?;
                    joined.push(group_id);
                }
                Err(ClientError::Untrusted(reason)) => refused.push(reason),
                Err(error) => return Err(error),
            }
        }
        let _ = self.top_up_key_packages(state).await?;
        let mut groups = Vec::new();
        let ids: Vec<String> = state.meta.groups.keys().cloned().collect();
        for group_id in ids {
            let messages = self.catch_up(state, &group_id).await?;
            self.add_own_devices(state, &group_id).await?;
            groups.push(GroupReadReport {
                epoch: state.group(&group_id)?.epoch().as_u64(),
                group_id,
                messages,
            });
        }
        Ok(SyncReport {
            joined,
            refused,
            groups,
        })
    }

    /// Joins a group from a Welcome if every member is a certified device.
    async fn join(&mut self, state: &mut MlsState, welcome: &str) -> Result<String> {
        let bytes = STANDARD
            .decode(welcome)
            .map_err(|_| ClientError::InvalidResponse("a Welcome that is not base64".into()))?;
        let message = MlsMessageIn::tls_deserialize_exact_bytes(&bytes)
            .map_err(|e| ClientError::InvalidResponse(format!("a malformed Welcome: {e}")))?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(ClientError::InvalidResponse("not a Welcome".into()));
        };
        let staged =
            StagedWelcome::new_from_welcome(state.provider(), &join_config(), welcome, None)
                .map_err(|e| mls("cannot process the Welcome", e))?;
        let me = state.identity();
        let members: Vec<(DeviceIdentity, Vec<u8>)> = staged
            .members()
            .filter_map(|member| {
                Some((
                    identity_of(&member.credential)?,
                    member.signature_key.clone(),
                ))
            })
            .collect();
        for (identity, key) in &members {
            if *identity == me {
                continue;
            }
            if !self.is_certified(identity, key).await? {
                return Err(ClientError::Untrusted(format!(
                    "a Welcome to a group with {identity}, which is not certified by a key this device \
                     trusts: not joined"
                )));
            }
        }
        let group = staged
            .into_group(state.provider())
            .map_err(|e| mls("cannot join the group", e))?;
        let group_id = hex::encode(group.group_id().as_slice());
        state.meta.groups.insert(
            group_id.clone(),
            GroupMeta {
                name: None,
                after: None,
                sent_since_update: 0,
                updated_at: now_ms(),
                messages: Vec::new(),
            },
        );
        state.save(&self.profile)?;
        Ok(group_id)
    }

    /// Adds this user's certified devices that are missing from the group (a device approved since), if the
    /// server has key packages for them.
    async fn add_own_devices(&mut self, state: &mut MlsState, group_id: &str) -> Result<bool> {
        let me = self.me()?;
        let present: BTreeSet<DeviceIdentity> = state
            .group(group_id)?
            .members()
            .filter_map(|member| identity_of(&member.credential))
            .collect();
        if !self.certified.contains_key(&me) {
            let devices = self.certified_devices(&me).await?;
            self.certified.insert(me.clone(), devices);
        }
        let missing = self.certified.get(&me).is_some_and(|devices| {
            devices.iter().any(|device| {
                !present.contains(&DeviceIdentity {
                    user_id: me.clone(),
                    device_id: device.device_id.clone(),
                })
            })
        });
        if !missing {
            return Ok(false);
        }
        match self.add_user_devices(state, group_id, &[me]).await {
            Ok(()) => Ok(true),
            // No key package yet (the new device has not synced since its approval): next time.
            Err(ClientError::Api { status: 404, .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Removes `device` from every group of this device that has it (a commit per group).
    pub(super) async fn remove_device_everywhere(
        &mut self,
        state: &mut MlsState,
        device: &DeviceIdentity,
    ) -> Result<()> {
        let ids: Vec<String> = state.meta.groups.keys().cloned().collect();
        for group_id in ids {
            self.catch_up(state, &group_id).await?;
            let member = state
                .group(&group_id)?
                .members()
                .any(|m| identity_of(&m.credential).as_ref() == Some(device));
            if member {
                self.commit_intent(state, &group_id, Intent::Remove(vec![device.clone()]))
                    .await?;
            }
        }
        Ok(())
    }

    /// `e2ee group members GROUP`.
    pub async fn group_members(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<GroupReport> {
        self.use_device_token(state).await?;
        self.catch_up(state, group_id).await?;
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
