//! Commits: what a commit is for ([`Intent`]), committed against the newest epoch and re-applied after losing
//! an epoch to another member (409), and the trust check on every key package a commit would add.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::group;
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{CommitBundleRequest, GroupLogEntryView};
use openmls::prelude::*;

use super::{COMMIT_ATTEMPTS, is_epoch_conflict, member_devices};
use crate::clock::now_ms;
use crate::device::Device;
use crate::error::{ClientError, Result};
use crate::mls::MlsState;

pub(super) use e2ee_client_core::group::Intent;

impl Device {
    /// Claims a key package of every device of `user_ids` not in the group yet, checks each against the
    /// certified devices (a package of a device the user never certified — a ghost — refuses the whole
    /// add), and commits the add.
    pub(super) async fn add_user_devices(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        user_ids: &[String],
    ) -> Result<()> {
        let group = state.group(group_id)?;
        let members: BTreeSet<DeviceIdentity> = member_devices(&group);
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
        let package =
            e2ee_client_core::key_packages::claimed_key_package(state.provider(), identity, &bytes)
                .map_err(invalid)?;
        let leaf = package.leaf_node();
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

    /// Commits `intent` against the newest epoch: reads the log first, and after losing an epoch (409)
    /// reads the winner and tries again, up to [`COMMIT_ATTEMPTS`] times. `None` when there is nothing left
    /// to commit (the winner already added or removed the same devices).
    pub(super) async fn commit_intent(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
        intent: Intent,
    ) -> Result<Option<GroupLogEntryView>> {
        let mut last_conflict = None;
        for _ in 0..COMMIT_ATTEMPTS {
            self.catch_up(state, group_id).await?;
            // A pending commit the log did not show was never stored: it is discarded before a new one.
            self.drop_pending_commit(state, group_id)?;
            let mut group = state.group(group_id)?;
            let (provider, signer, meta) = state.parts(group_id)?;
            let Some(staged) = group::stage_intent(provider, signer, &mut group, meta, &intent)?
            else {
                return Ok(None);
            };
            // Saved before posting (review N4): if the answer is lost, the log says whether it was stored.
            state.save(&self.profile)?;
            let request = CommitBundleRequest {
                commit: STANDARD.encode(&staged.commit),
                welcome: staged.welcome.as_ref().map(|bytes| STANDARD.encode(bytes)),
                group_info: STANDARD.encode(&staged.group_info),
            };
            match self.client.post_commit(group_id, &request).await {
                Ok(entry) => {
                    // The read position stays: rows other members appended between the catch-up above and
                    // this commit (messages of the old epoch) are still read; the commit's own row is skipped.
                    let (provider, _, meta) = state.parts(group_id)?;
                    group::commit_accepted(provider, &mut group, meta, &intent, now_ms())?;
                    state.save(&self.profile)?;
                    return Ok(Some(entry));
                }
                Err(error) if is_epoch_conflict(&error) => {
                    self.drop_pending_commit(state, group_id)?;
                    last_conflict = Some(error);
                }
                // The commit may have been stored (a lost answer): it stays pending; the next read of the log
                // merges it or drops it.
                Err(error) => return Err(error),
            }
        }
        Err(last_conflict.unwrap_or_else(|| ClientError::Mls("commit failed".into())))
    }

    /// Discards this device's pending commit of the group, if any (another commit took its epoch, or it was
    /// never stored), and saves.
    pub(super) fn drop_pending_commit(
        &mut self,
        state: &mut MlsState,
        group_id: &str,
    ) -> Result<()> {
        let mut group = state.group(group_id)?;
        let (provider, _, meta) = state.parts(group_id)?;
        if meta.pending_commit.is_some() {
            group::drop_pending(provider, &mut group, meta)?;
            state.save(&self.profile)?;
        }
        Ok(())
    }
}
