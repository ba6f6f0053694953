//! Reading a group's log: every row after this device's position processed in order — commits checked
//! (each leaf they bring in must be certified) and merged, messages decrypted — and the removals members
//! asked for in `leave` messages committed.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::commits::{Resolution, external_rejoin, must_rejoin};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{CommitBundleRequest, GroupLogEntryView};
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;

use super::commit::Intent;
use super::{devices_of, identity_of, is_listed, message_bytes, mls};
use crate::content::Content;
use crate::device::Device;
use crate::error::{ClientError, Result};
use crate::mls::{GroupMessage, MlsState, STATUS_FAILED, STATUS_LEFT, STATUS_OK, join_config};

impl Device {
    /// Reads and processes the group's log after this device's position; returns the new messages.
    pub(super) async fn catch_up(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<Vec<GroupMessage>> {
        let mut fresh = Vec::new();
        let mut stuck = false;
        // Bounded (review N12): the rest of a longer log is read on the next call.
        for _ in 0..crate::device::MAX_PAGES {
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
                let epoch_before = group.epoch().as_u64();
                if self.resolve_pending_commit(state, &mut group, group_id, entry)? {
                    if let Some(meta) = state.meta.groups.get_mut(group_id) {
                        meta.after = Some(entry.seq);
                    }
                    continue;
                }
                let message = self.process_entry(state, &mut group, entry).await?;
                // The commit that starts the next epoch, and this device could not process it: if the server
                // accepted it (the group moved on), this device rejoins once it has read what it can.
                if entry.kind == e2ee_protocol::LogKind::Commit
                    && entry.epoch == epoch_before + 1
                    && group.epoch().as_u64() == epoch_before
                    && message.as_ref().is_some_and(|m| m.status == STATUS_FAILED)
                {
                    stuck = true;
                }
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.after = Some(entry.seq);
                    if let Some(message) = &message
                        && message.status == STATUS_LEFT
                        && message.sender_user_id != state.meta.user_id
                    {
                        meta.leave_requests.insert(message.sender_user_id.clone());
                    }
                }
                if let Some(message) = message {
                    state.record(group_id, message.clone());
                    fresh.push(message);
                }
            }
            state.save(&self.profile)?;
            if page.next_after.is_none() {
                // The whole log is read: a pending commit it does not hold was never stored.
                self.drop_pending_commit(state, group_id)?;
                if stuck {
                    self.rejoin_if_behind(state, group_id).await?;
                }
                break;
            }
        }
        Ok(fresh)
    }

    /// Rejoins by external commit from `GET /api/groups/{groupId}` if the group is past this device's epoch
    /// (it could not process an accepted commit, docs/mls.md "recovery"). Every member must be certified, as for
    /// a Welcome; the rejoin counts only once the server accepts it, else the saved state stays. Returns whether
    /// this device rejoined.
    pub(super) async fn rejoin_if_behind(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<bool> {
        let view = self.client.group(group_id).await?;
        if !must_rejoin(state.group(group_id)?.epoch().as_u64(), view.epoch) {
            return Ok(false);
        }
        for member in &view.members {
            if !self.certified.contains_key(&member.user_id) {
                let devices = self.certified_devices(&member.user_id).await?;
                self.certified.insert(member.user_id.clone(), devices);
            }
        }
        let (Ok(info), Ok(tree)) = (
            STANDARD.decode(&view.group_info),
            STANDARD.decode(&view.ratchet_tree),
        ) else {
            return Err(ClientError::InvalidResponse(
                "a group whose GroupInfo or ratchet tree is not base64".into(),
            ));
        };
        let certified = &self.certified;
        let trusted = |identity: &DeviceIdentity, key: &[u8]| is_listed(certified, identity, key);
        let rejoined = external_rejoin(
            state.provider(),
            state.signer(),
            state.credential(),
            join_config(),
            &info,
            &tree,
            trusted,
        );
        let (group, commit) = match rejoined {
            Ok(rejoined) => rejoined,
            Err(refusal) => {
                state.reload(&self.profile)?;
                return Err(ClientError::Untrusted(refusal.to_string()));
            }
        };
        let info = group
            .export_group_info(state.provider().crypto(), state.signer(), false)
            .map_err(|e| mls("cannot export the GroupInfo", e))?;
        let request = CommitBundleRequest {
            commit: STANDARD.encode(&commit),
            welcome: None,
            group_info: message_bytes(&info)?,
        };
        match self.client.post_commit(group_id, &request).await {
            Ok(entry) => {
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.after = Some(entry.seq);
                    meta.pending_commit = None;
                    meta.updated_at = crate::clock::now_ms();
                }
                state.save(&self.profile)?;
                Ok(true)
            }
            Err(error) => {
                state.reload(&self.profile)?;
                Err(error)
            }
        }
    }

    /// Settles this device's pending commit against a log row (review N4): merged when the row is that commit
    /// (returns true: the row is done), discarded when another commit took the epoch (the row is then
    /// processed as usual).
    fn resolve_pending_commit(
        &mut self,
        state: &mut MlsState,
        group: &mut MlsGroup,
        group_id: &str,
        entry: &GroupLogEntryView,
    ) -> Result<bool> {
        let Some(pending) = state
            .meta
            .groups
            .get(group_id)
            .and_then(|meta| meta.pending_commit.clone())
        else {
            return Ok(false);
        };
        let bytes = STANDARD.decode(&entry.message).unwrap_or_default();
        match pending.resolve(
            entry.kind == e2ee_protocol::LogKind::Commit,
            entry.epoch,
            &bytes,
        ) {
            Resolution::Keep => Ok(false),
            Resolution::Merge => {
                group
                    .merge_pending_commit(state.provider())
                    .map_err(|e| mls("cannot merge the commit", e))?;
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.pending_commit = None;
                }
                Ok(true)
            }
            Resolution::Drop => {
                group
                    .clear_pending_commit(state.provider().storage())
                    .map_err(|e| mls("cannot discard the commit", e))?;
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.pending_commit = None;
                }
                Ok(false)
            }
        }
    }

    /// Catches up, then commits the removal of every user whose device asked to leave and is still a
    /// member (every member's device does this on its next read; those that lose the epoch find the
    /// removal done and commit nothing).
    pub(super) async fn settle(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<Vec<GroupMessage>> {
        let fresh = self.catch_up(state, group_id).await?;
        let requests: BTreeSet<String> = state
            .meta
            .groups
            .get(group_id)
            .map(|meta| meta.leave_requests.clone())
            .unwrap_or_default();
        if requests.is_empty() {
            return Ok(fresh);
        }
        let leaving = devices_of(&state.group(group_id)?, &requests);
        if !leaving.is_empty() {
            self.commit_intent(state, group_id, Intent::Remove(leaving))
                .await?;
        }
        if let Some(meta) = state.meta.groups.get_mut(group_id) {
            meta.leave_requests.retain(|user| !requests.contains(user));
        }
        state.save(&self.profile)?;
        Ok(fresh)
    }

    /// One log row: a commit is checked (every leaf it brings in must be certified) and merged; an
    /// application message is decrypted.
    async fn process_entry(
        &mut self,
        state: &MlsState,
        group: &mut MlsGroup,
        entry: &GroupLogEntryView,
    ) -> Result<Option<GroupMessage>> {
        let me = state.identity();
        let own = entry.sender_user_id == me.user_id && entry.sender_device_id == me.device_id;
        // This device's messages were recorded when sent and its commits merged when accepted. A commit row
        // in its name for an epoch it has not reached is not one it made: processed like any other, it fails.
        if entry.kind == e2ee_protocol::LogKind::Create
            || (own
                && (entry.kind != e2ee_protocol::LogKind::Commit
                    || entry.epoch <= group.epoch().as_u64()))
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
                status: STATUS_FAILED.into(),
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
            ProcessedMessageContent::ApplicationMessage(message) => {
                let (text, status) = match Content::decode(&message.into_bytes()) {
                    Some(Content::Text { text }) => (Some(crate::text::sanitize(&text)), STATUS_OK),
                    Some(Content::Leave) => (None, STATUS_LEFT),
                    None => {
                        return Ok(failed("a kind of message this client does not know".into()));
                    }
                };
                Ok(Some(GroupMessage {
                    seq: entry.seq,
                    sender,
                    sender_user_id: entry.sender_user_id.clone(),
                    sender_device: entry.sender_device_id.clone(),
                    text,
                    epoch: entry.epoch,
                    status: status.into(),
                    reason: None,
                }))
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
}
