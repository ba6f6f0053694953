//! Joining: groups joined from Welcomes (every member certified), `sync` over every group, and this user's
//! devices added to or removed from every group.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_client_core::devices::revoked_members;
use e2ee_client_core::welcome::{WelcomeJoin, WelcomeRefusal};
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{WelcomeList, WelcomeView};

use super::commit::Intent;
use super::{GroupReadReport, SyncReport, identity_of, is_listed, member_devices};
use crate::clock::now_ms;
use crate::device::Device;
use crate::error::{ClientError, Result};
use crate::mls::{GroupMeta, MlsState, join_config};

/// Most pages of the Welcome inbox one sync reads (50 Welcomes a page at most).
const MAX_WELCOME_PAGES: usize = 20;

impl Device {
    /// `e2ee sync`: joins the groups of pending Welcomes, then reads every group.
    pub async fn sync(&mut self, state: &mut MlsState) -> Result<SyncReport> {
        self.use_device_token(state).await?;
        let (joined, refused) = self.join_pending(state).await?;
        let _ = self.top_up_key_packages(state).await?;
        let mut groups = Vec::new();
        let ids: Vec<String> = state.meta.groups.keys().cloned().collect();
        for group_id in ids {
            let messages = self.settle(state, &group_id).await?;
            self.add_own_devices(state, &group_id).await?;
            self.remove_revoked_members(state, &group_id).await?;
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

    /// Joins the groups of the pending Welcomes (each member certified) and acknowledges them. A Welcome that
    /// cannot be joined never stops the sync (review N1): it is reported, and acknowledged once the refusal is
    /// final (`WelcomeRefusal::is_final`); its key package is kept. Returns the joined groups and the refusals.
    pub(super) async fn join_pending(
        &mut self,
        state: &mut MlsState,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut joined = Vec::new();
        let mut refused = Vec::new();
        for pending in self.pending_welcomes().await? {
            if state.meta.groups.contains_key(&pending.group_id) {
                self.client
                    .ack_welcome(&pending.group_id, pending.epoch)
                    .await?;
                continue;
            }
            match self.join(state, &pending).await? {
                Ok(group_id) => {
                    self.client
                        .ack_welcome(&pending.group_id, pending.epoch)
                        .await?;
                    joined.push(group_id);
                }
                Err(refusal) => {
                    if refusal.is_final(pending.created_at, now_ms()) {
                        self.client
                            .ack_welcome(&pending.group_id, pending.epoch)
                            .await?;
                    }
                    refused.push(refusal.to_string());
                }
            }
        }
        Ok((joined, refused))
    }

    /// Every page of the Welcome inbox, at most [`MAX_WELCOME_PAGES`] of them (the rest waits for the next sync).
    async fn pending_welcomes(&self) -> Result<Vec<WelcomeView>> {
        follow_pages(MAX_WELCOME_PAGES, |after| async move {
            self.client.welcomes(after.as_deref()).await
        })
        .await
    }

    /// Joins a group from a Welcome if every member is a certified device (the decisions are the core's,
    /// `e2ee_client_core::welcome`). The outer error is a failure to reach the server; the inner one, why the
    /// Welcome was refused.
    async fn join(
        &mut self,
        state: &mut MlsState,
        pending: &WelcomeView,
    ) -> Result<std::result::Result<String, WelcomeRefusal>> {
        let Ok(bytes) = STANDARD.decode(&pending.welcome) else {
            return Ok(Err(WelcomeRefusal::Unreadable("not base64".into())));
        };
        let held = |group_id: &str| state.meta.groups.contains_key(group_id);
        let welcome = match WelcomeJoin::open(
            state.provider(),
            &join_config(),
            &bytes,
            &pending.group_id,
            held,
        ) {
            Ok(welcome) => welcome,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let me = state.identity();
        for user in welcome.other_users(&me) {
            if self.certified.contains_key(&user) {
                continue;
            }
            match self.certified_devices(&user).await {
                Ok(devices) => {
                    self.certified.insert(user, devices);
                }
                Err(error) => {
                    welcome.abandon(state.provider());
                    return Err(error);
                }
            }
        }
        let certified = &self.certified;
        let trusted = |identity: &DeviceIdentity, key: &[u8]| is_listed(certified, identity, key);
        let group = match welcome.finish(state.provider(), &me, trusted) {
            Ok(group) => group,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let group_id = hex::encode(group.group_id().as_slice());
        state.meta.groups.insert(
            group_id.clone(),
            GroupMeta {
                updated_at: now_ms(),
                ..GroupMeta::default()
            },
        );
        state.save(&self.profile)?;
        Ok(Ok(group_id))
    }

    /// Adds this user's certified devices that are missing from the group (a device approved since), if the
    /// server has key packages for them.
    async fn add_own_devices(&mut self, state: &mut MlsState, group_id: &str) -> Result<bool> {
        let me = self.me()?;
        let present: BTreeSet<DeviceIdentity> = member_devices(&state.group(group_id)?);
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

    /// Commits the removal of the group's devices that their users' directories no longer list (revoked):
    /// one commit for all of them, re-applied after a conflict (review N13). The listings are fetched once per
    /// run.
    async fn remove_revoked_members(&mut self, state: &mut MlsState, group_id: &str) -> Result<()> {
        let members: Vec<DeviceIdentity> = member_devices(&state.group(group_id)?);
        let users: BTreeSet<String> = members.iter().map(|m| m.user_id.clone()).collect();
        for user in users {
            if !self.listed.contains_key(&user) {
                let listed = self.client.list_devices(&user).await?.devices;
                self.listed.insert(user, listed);
            }
        }
        let revoked = revoked_members(&members, &state.identity(), &self.listed);
        if !revoked.is_empty() {
            self.commit_intent(state, group_id, Intent::Remove(revoked))
                .await?;
        }
        Ok(())
    }

    /// Removes `device` from every group of this device that has it (a commit per group).
    pub(in crate::device) async fn remove_device_everywhere(
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
}

/// The Welcomes of the pages `page(after)` answers, starting without `after` and following `nextAfter`, at most
/// `max_pages` pages; a page that repeats the position it was asked with ends the walk (no endless loop).
async fn follow_pages<F, Fut>(max_pages: usize, mut page: F) -> Result<Vec<WelcomeView>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<WelcomeList>>,
{
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..max_pages {
        let list = page(after.clone()).await?;
        all.extend(list.welcomes);
        match list.next_after {
            Some(next) if after.as_deref() != Some(next.as_str()) => after = Some(next),
            _ => break,
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn welcome(epoch: u64) -> WelcomeView {
        WelcomeView {
            group_id: "ab".into(),
            epoch,
            welcome: String::new(),
            created_at: 0,
        }
    }

    /// A server whose inbox holds Welcomes of epochs 0..total, `per_page` a page, `nextAfter` = the last epoch.
    async fn pages(total: u64, per_page: u64, max_pages: usize, stuck: bool) -> (Vec<u64>, usize) {
        let calls = std::cell::Cell::new(0);
        let read = follow_pages(max_pages, |after| {
            calls.set(calls.get() + 1);
            let from = match (&after, stuck) {
                (Some(_), true) => 0,
                (Some(after), false) => after.parse::<u64>().unwrap_or(0) + 1,
                (None, _) => 0,
            };
            let to = (from + per_page).min(total);
            let list = WelcomeList {
                welcomes: (from..to).map(welcome).collect(),
                next_after: match stuck {
                    true => Some("0".into()),
                    false => (to < total).then(|| (to - 1).to_string()),
                },
            };
            async move { Ok(list) }
        })
        .await
        .unwrap_or_default();
        (read.iter().map(|w| w.epoch).collect(), calls.get())
    }

    #[tokio::test]
    async fn every_page_is_followed_up_to_the_bound() {
        assert_eq!(pages(5, 2, 20, false).await, (vec![0, 1, 2, 3, 4], 3));
        assert_eq!(pages(0, 2, 20, false).await, (vec![], 1));
        // Bounded: 3 pages of 2 at most.
        assert_eq!(pages(100, 2, 3, false).await.1, 3);
        // A server repeating its position is not asked again and again.
        assert_eq!(pages(10, 2, 20, true).await.1, 2);
    }
}
