//! A group as this device holds it, without I/O: what it tracks of the group ([`GroupMeta`]), reading the
//! log ([`read_row`]: rows become messages; commits are staged, and merged only once every leaf they bring in
//! is trusted), committing what the user wants ([`Intent`], [`stage_intent`]; saved as a pending commit before
//! it is posted, [`commit_accepted`] once the server stored it) and settling a pending commit from the log
//! ([`settle_pending_row`]).
//!
//! openmls works over the provider the driver injects (its `StorageProvider` is the driver's, sealed and saved
//! by it); the driver fetches rows, asks the trust questions the core hands back ([`CommitCheck::leaves`]) and
//! posts what the core produced.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use e2ee_protocol::{GroupLogEntryView, LogKind};
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_traits::OpenMlsProvider;
use serde::{Deserialize, Serialize};

use crate::commits::{PendingCommit, Resolution};
use crate::content::Content;
use crate::error::CoreError;
use crate::welcome::identity_of;

/// Application messages of this many epochs before the current one still decrypt (the server accepts posts
/// for the current epoch and the 2 before it).
pub const MAX_PAST_EPOCHS: usize = 2;
/// The most messages kept per group for `group read --all` (oldest dropped first).
pub const MAX_KEPT_MESSAGES: usize = 1000;

/// How this device's groups are configured: handshake messages as `PublicMessage` (the Delivery Service
/// validates them), application messages as `PrivateMessage`, the ratchet tree inside Welcomes, and the
/// past epochs the server still accepts messages for.
pub fn create_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

/// The join side of [`create_config`].
pub fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .use_ratchet_tree_extension(true)
        .max_past_epochs(MAX_PAST_EPOCHS)
        .build()
}

/// A device's credential: a basic credential `userId/deviceId` under its signature key.
pub fn credential(identity: &DeviceIdentity, signer: &SignatureKeyPair) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(identity.to_bytes()).into(),
        signature_key: signer.public().into(),
    }
}

fn mls(context: &str, error: impl std::fmt::Debug) -> CoreError {
    CoreError::Mls(format!("{context}: {error:?}"))
}

/// How a message of a group was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    /// Decrypted from a certified member device.
    Ok,
    /// A row that could not be read or was refused; `reason` says why (nothing is dropped silently).
    Failed,
    /// The sender's user left the group (a `leave` message; no text).
    Left,
}

/// One message of a group as this device read (or sent) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMessage {
    pub seq: u64,
    /// The sender's username as this device knows it, else its user id.
    pub sender: String,
    #[serde(default)]
    pub sender_user_id: String,
    pub sender_device: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub epoch: u64,
    pub status: MessageStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What this device tracks of one group besides openmls' state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The last log position processed (`None`: from the start of what this device may read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// Application messages sent since this device's last leaf update (post-compromise security).
    #[serde(default)]
    pub sent_since_update: u32,
    /// When this device last updated its leaf (or joined), ms since the epoch.
    #[serde(default)]
    pub updated_at: i64,
    /// The messages read (and sent) here, oldest first, at most [`MAX_KEPT_MESSAGES`]: MLS deletes a
    /// message's key once used, so what was read is kept (sealed with the rest of the state).
    #[serde(default)]
    pub messages: Vec<GroupMessage>,
    /// Users (ids) whose device asked in a `leave` message to be removed, until this device has seen them
    /// removed (it commits the removal itself on its next read).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub leave_requests: BTreeSet<String>,
    /// A commit saved before it was posted whose answer this device has not seen: the log decides whether it
    /// was stored (review N4, [`crate::commits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_commit: Option<PendingCommit>,
}

impl GroupMeta {
    /// Keeps a message read or sent (the oldest beyond [`MAX_KEPT_MESSAGES`] are dropped).
    pub fn record(&mut self, message: GroupMessage) {
        self.messages.push(message);
        let excess = self.messages.len().saturating_sub(MAX_KEPT_MESSAGES);
        self.messages.drain(..excess);
    }

    /// A log row is done: the read position moves past `seq`; its message, if any, is kept, and a `leave` of
    /// another user (`me`: this device's user id) is remembered until its removal is committed.
    pub fn row_done(&mut self, seq: u64, message: Option<&GroupMessage>, me: &str) {
        self.after = Some(seq);
        if let Some(message) = message {
            if message.status == MessageStatus::Left && message.sender_user_id != me {
                self.leave_requests.insert(message.sender_user_id.clone());
            }
            self.record(message.clone());
        }
    }
}

/// The devices the group's leaves name.
pub fn member_devices<C: FromIterator<DeviceIdentity>>(group: &MlsGroup) -> C {
    group
        .members()
        .filter_map(|member| identity_of(&member.credential))
        .collect()
}

/// The member devices of `users`.
pub fn devices_of(group: &MlsGroup, users: &BTreeSet<String>) -> Vec<DeviceIdentity> {
    member_devices::<Vec<_>>(group)
        .into_iter()
        .filter(|identity| users.contains(&identity.user_id))
        .collect()
}

fn is_commit(row: &GroupLogEntryView) -> bool {
    row.kind == LogKind::Commit
}

/// What one log row means for this device.
#[derive(Debug)]
pub enum RowOutcome {
    /// Nothing to show: the group's creation row, this device's own messages (recorded when sent) and its own
    /// commits (merged when accepted, or settled by [`settle_pending_row`]).
    Skipped,
    /// A message to show: decrypted, a `leave`, or a row that failed with its reason (the group unchanged).
    Message(GroupMessage),
    /// A commit, staged: merged by [`CommitCheck::merge`] only if every device it brings in is trusted.
    Commit(CommitCheck),
}

/// A staged commit of another member, waiting for the trust decision on the devices it brings in.
#[derive(Debug)]
pub struct CommitCheck {
    staged: Box<StagedCommit>,
    leaves: Vec<(DeviceIdentity, Vec<u8>)>,
    failure: GroupMessage,
}

impl CommitCheck {
    /// Every leaf the commit brings in (added key packages, the committer's new path leaf) with its signature
    /// key: each must be a certified device of its user, as this device trusts it.
    pub fn leaves(&self) -> &[(DeviceIdentity, Vec<u8>)] {
        &self.leaves
    }

    /// Merges the commit: the group moves to the next epoch.
    pub fn merge<P: OpenMlsProvider>(
        self,
        provider: &P,
        group: &mut MlsGroup,
    ) -> Result<(), CoreError> {
        group
            .merge_staged_commit(provider, *self.staged)
            .map_err(|e| mls("cannot merge the commit", e))
    }

    /// Refuses the commit because `untrusted` is not trusted: the group is not changed; the row is reported
    /// as failed with the reason.
    pub fn refuse(self, untrusted: &DeviceIdentity) -> GroupMessage {
        let mut failure = self.failure;
        failure.reason = Some(format!(
            "trust refused: the commit brings in {untrusted}, which is not certified by a key this device \
             trusts; the group is not changed"
        ));
        failure
    }
}

/// Reads one row of the group's log (after [`settle_pending_row`]): an application message is decrypted and
/// checked against the sender the server names; a commit is staged for the trust check. `sender_name` is what
/// to show for the row's sender (the driver's name for `row.sender_user_id`). Only failures of this device's
/// own storage are errors; anything the server or a member sent wrong is a failed message.
pub fn read_row<P: OpenMlsProvider>(
    provider: &P,
    group: &mut MlsGroup,
    me: &DeviceIdentity,
    row: &GroupLogEntryView,
    sender_name: &str,
) -> RowOutcome {
    let own = row.sender_user_id == me.user_id && row.sender_device_id == me.device_id;
    // This device's messages were recorded when sent and its commits merged when accepted. A commit row in its
    // name for an epoch it has not reached is not one it made: processed like any other, it fails.
    if row.kind == LogKind::Create
        || (own && (!is_commit(row) || row.epoch <= group.epoch().as_u64()))
    {
        return RowOutcome::Skipped;
    }
    let message =
        |status: MessageStatus, text: Option<String>, reason: Option<String>| GroupMessage {
            seq: row.seq,
            sender: sender_name.to_owned(),
            sender_user_id: row.sender_user_id.clone(),
            sender_device: row.sender_device_id.clone(),
            text,
            epoch: row.epoch,
            status,
            reason,
        };
    let failed = |reason: &str| {
        RowOutcome::Message(message(MessageStatus::Failed, None, Some(reason.into())))
    };
    let Ok(bytes) = STANDARD.decode(&row.message) else {
        return failed("the server sent a row that is not base64");
    };
    let Some(protocol) = MlsMessageIn::tls_deserialize_exact_bytes(&bytes)
        .ok()
        .and_then(|message| message.try_into_protocol_message().ok())
    else {
        return failed("not an MLS message of this group");
    };
    let processed = match group.process_message(provider, protocol) {
        Ok(processed) => processed,
        Err(error) => return failed(&format!("cannot be processed: {error}")),
    };
    let author = identity_of(processed.credential());
    if author.as_ref().map(|a| (&a.user_id, &a.device_id))
        != Some((&row.sender_user_id, &row.sender_device_id))
    {
        return failed("the sender's leaf is not the device the server names");
    }
    match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(application) => {
            match Content::decode(&application.into_bytes()) {
                Some(Content::Text { text }) => RowOutcome::Message(message(
                    MessageStatus::Ok,
                    Some(crate::text::sanitize(&text)),
                    None,
                )),
                Some(Content::Leave) => {
                    RowOutcome::Message(message(MessageStatus::Left, None, None))
                }
                None => failed("a kind of message this client does not know"),
            }
        }
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
            RowOutcome::Commit(CommitCheck {
                staged,
                leaves,
                failure: message(MessageStatus::Failed, None, None),
            })
        }
        // Proposals by reference are not used by this system's clients; nothing to show or merge.
        _ => RowOutcome::Skipped,
    }
}

/// Whether a row leaves this device stuck: the commit that starts the next epoch, and this device could not
/// process it. If the server accepted it (the group moved on), the device rejoins once it has read what it
/// can ([`crate::commits::must_rejoin`]).
pub fn is_stuck(
    row: &GroupLogEntryView,
    epoch_before: u64,
    epoch_after: u64,
    outcome_failed: bool,
) -> bool {
    is_commit(row) && row.epoch == epoch_before + 1 && epoch_after == epoch_before && outcome_failed
}

/// Settles this device's pending commit against a log row (review N4). Returns `true` when the row was that
/// very commit, now merged (the row is done); after another member's commit took the epoch the pending one is
/// discarded and the row is to be read as usual (`false`).
pub fn settle_pending_row<P: OpenMlsProvider>(
    provider: &P,
    group: &mut MlsGroup,
    meta: &mut GroupMeta,
    row: &GroupLogEntryView,
) -> Result<bool, CoreError> {
    let Some(pending) = &meta.pending_commit else {
        return Ok(false);
    };
    let bytes = STANDARD.decode(&row.message).unwrap_or_default();
    match pending.resolve(is_commit(row), row.epoch, &bytes) {
        Resolution::Keep => Ok(false),
        Resolution::Merge => {
            group
                .merge_pending_commit(provider)
                .map_err(|e| mls("cannot merge the commit", e))?;
            meta.pending_commit = None;
            Ok(true)
        }
        Resolution::Drop => {
            drop_pending(provider, group, meta)?;
            Ok(false)
        }
    }
}

/// Discards this device's pending commit, if any: another commit took its epoch, or the whole log was read
/// and it is not there (never stored).
pub fn drop_pending<P: OpenMlsProvider>(
    provider: &P,
    group: &mut MlsGroup,
    meta: &mut GroupMeta,
) -> Result<(), CoreError> {
    if meta.pending_commit.take().is_some() {
        group
            .clear_pending_commit(provider.storage())
            .map_err(|e| mls("cannot discard the commit", e))?;
    }
    Ok(())
}

/// What a commit is for: re-applied against the newest epoch after a conflict.
#[derive(Debug, Clone)]
pub enum Intent {
    /// Add these devices (key packages already checked: valid, and of certified devices).
    Add(Vec<KeyPackage>),
    /// Remove these devices.
    Remove(Vec<DeviceIdentity>),
    /// Update this device's leaf (post-compromise security).
    Update,
}

/// A commit to post: `POST /api/groups/{groupId}/commits` with these bytes.
#[derive(Debug, Clone)]
pub struct StagedIntent {
    pub commit: Vec<u8>,
    /// For the devices an add brings in.
    pub welcome: Option<Vec<u8>>,
    /// The GroupInfo of the epoch the commit starts (with the external public key, for rejoining).
    pub group_info: Vec<u8>,
}

/// Stages `intent` against the group's current epoch and records it as this device's pending commit
/// (`meta.pending_commit`): the driver saves the state **before** posting, so a lost answer is settled from
/// the log. `None` when nothing is left to do (the devices are already in, or already gone).
pub fn stage_intent<P: OpenMlsProvider>(
    provider: &P,
    signer: &SignatureKeyPair,
    group: &mut MlsGroup,
    meta: &mut GroupMeta,
    intent: &Intent,
) -> Result<Option<StagedIntent>, CoreError> {
    drop_pending(provider, group, meta)?;
    let present: BTreeSet<DeviceIdentity> = member_devices(group);
    let builder = match intent {
        Intent::Add(packages) => {
            let missing: Vec<KeyPackage> = packages
                .iter()
                .filter(|package| {
                    identity_of(package.leaf_node().credential())
                        .is_some_and(|identity| !present.contains(&identity))
                })
                .cloned()
                .collect();
            if missing.is_empty() {
                return Ok(None);
            }
            group.commit_builder().propose_adds(missing)
        }
        Intent::Remove(devices) => {
            let leaves: Vec<LeafNodeIndex> = group
                .members()
                .filter(|member| {
                    identity_of(&member.credential).is_some_and(|id| devices.contains(&id))
                })
                .map(|member| member.index)
                .collect();
            if leaves.is_empty() {
                return Ok(None);
            }
            group.commit_builder().propose_removals(leaves)
        }
        Intent::Update => group.commit_builder().force_self_update(true),
    };
    // The GroupInfo of the new epoch comes with the staged commit (no merge needed to export it); it carries
    // the ratchet tree extension as the group's configuration asks, and the external public key.
    let bundle = builder
        .load_psks(provider.storage())
        .map_err(|e| mls("cannot commit", e))?
        .create_group_info(true)
        .build(provider.rand(), provider.crypto(), signer, |_| true)
        .map_err(|e| mls("cannot commit", e))?
        .stage_commit(provider)
        .map_err(|e| mls("cannot commit", e))?;
    let (commit, welcome, group_info) = bundle.into_messages();
    let commit = commit
        .to_bytes()
        .map_err(|e| mls("cannot encode the commit", e))?;
    let welcome = welcome
        .map(|welcome| welcome.to_bytes())
        .transpose()
        .map_err(|e| mls("cannot encode the Welcome", e))?;
    let group_info = group_info
        .ok_or_else(|| CoreError::Mls("openmls made no GroupInfo for the commit".into()))?
        .to_bytes()
        .map_err(|e| mls("cannot encode the GroupInfo", e))?;
    // A commit row carries the epoch the commit starts.
    meta.pending_commit = Some(PendingCommit::new(group.epoch().as_u64() + 1, &commit));
    Ok(Some(StagedIntent {
        commit,
        welcome,
        group_info,
    }))
}

/// The server stored this device's staged commit: it is merged, and a leaf update resets the update schedule.
pub fn commit_accepted<P: OpenMlsProvider>(
    provider: &P,
    group: &mut MlsGroup,
    meta: &mut GroupMeta,
    intent: &Intent,
    now_ms: i64,
) -> Result<(), CoreError> {
    group
        .merge_pending_commit(provider)
        .map_err(|e| mls("cannot merge the commit", e))?;
    meta.pending_commit = None;
    if matches!(intent, Intent::Update) {
        meta.sent_since_update = 0;
        meta.updated_at = now_ms;
    }
    Ok(())
}
