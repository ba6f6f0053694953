//! Reading a group's log: every row after this device's position processed in order — commits checked
//! (each leaf they bring in must be certified) and merged, messages decrypted — and the removals members
//! asked for in `leave` messages committed.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::commits::{Resolution, external_rejoin, must_rejoin};
use e2ee_client_core::group::{self, MessageStatus, RowOutcome};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{CommitBundleRequest, GroupLogEntryView};
use openmls::prelude::*;

use super::commit::Intent;
use super::{devices_of, is_listed, message_bytes, mls};
use crate::device::Device;
use crate::error::{ClientError, Result};
use crate::mls::{GroupMessage, MlsState, join_config};

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
                let (provider, _, meta) = state.parts(group_id)?;
                let settled = group::settle_pending_row(provider, &mut group, meta, entry)?;
                let message = if settled {
                    None
                } else {
                    self.read_entry(state, &mut group, entry).await?
                };
                let failed = message
                    .as_ref()
                    .is_some_and(|m| m.status == MessageStatus::Failed);
                stuck |= group::is_stuck(entry, epoch_before, group.epoch().as_u64(), failed);
                let me = state.meta.user_id.clone();
                if let Some(meta) = state.meta.groups.get_mut(group_id) {
                    meta.row_done(entry.seq, message.as_ref(), &me);
                }
                fresh.extend(message);
            }
            state.save(&self.profile)?;
            let complete = page.next_after.is_none();
            // A pending commit no row settled: once the whole log is read, it was never stored.
            if let Some(pending) = state
                .meta
                .groups
                .get(group_id)
                .and_then(|meta| meta.pending_commit.as_ref())
                && pending.at_end_of_log(complete) == Resolution::Drop
            {
                self.drop_pending_commit(state, group_id)?;
            }
            if complete {
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

    /// One log row read by the core (`e2ee_client_core::group::read_row`): a message is shown; a commit is
    /// merged only if every leaf it brings in is certified.
    async fn read_entry(
        &mut self,
        state: &MlsState,
        group: &mut MlsGroup,
        entry: &GroupLogEntryView,
    ) -> Result<Option<GroupMessage>> {
        let sender = self
            .username_of(&entry.sender_user_id)
            .unwrap_or_else(|| entry.sender_user_id.clone());
        match group::read_row(state.provider(), group, &state.identity(), entry, &sender) {
            RowOutcome::Skipped => Ok(None),
            RowOutcome::Message(message) => Ok(Some(message)),
            RowOutcome::Commit(check) => {
                for (identity, key) in check.leaves() {
                    if !self.is_certified(identity, key).await? {
                        let identity = identity.clone();
                        return Ok(Some(check.refuse(&identity)));
                    }
                }
                check.merge(state.provider(), group)?;
                Ok(None)
            }
        }
    }
}
