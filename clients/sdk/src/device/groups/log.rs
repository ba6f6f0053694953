//! Reading a group's log: every row after this device's position processed in order — commits checked
//! (each leaf they bring in must be certified) and merged, messages decrypted — and the removals members
//! asked for in `leave` messages committed.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::GroupLogEntryView;
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;

use super::commit::Intent;
use super::{devices_of, identity_of, mls};
use crate::content::Content;
use crate::device::Device;
use crate::error::{ClientError, Result};
use crate::mls::{GroupMessage, MlsState, STATUS_FAILED, STATUS_LEFT, STATUS_OK};

impl Device {
    /// Reads and processes the group's log after this device's position; returns the new messages.
    pub(super) async fn catch_up(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<Vec<GroupMessage>> {
        let mut fresh = Vec::new();
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
                let message = self.process_entry(state, &mut group, entry).await?;
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
                break;
            }
        }
        Ok(fresh)
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
        if entry.kind == "create"
            || (own && (entry.kind != "commit" || entry.epoch <= group.epoch().as_u64()))
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
