//! The group log's rules: one insert per decision, the winner of a refused insert read back afterwards.

use async_trait::async_trait;

use sha2::{Digest, Sha256};

use super::{
    GroupRecords, Groups, KeyPackageRecords, KeyPackageUse, LogRecord, WelcomeEntry, Written,
    bounded,
};
use crate::error::{StoreError, StoreResult};
use crate::groups::{
    GroupDevice, GroupEpoch, GroupHead, GroupStore, GroupsPage, LogEntry, LogKind,
    MAX_GROUP_ID_CHARS, MAX_GROUP_INFO_BYTES, MAX_GROUP_MEMBERS, MAX_GROUP_MESSAGE_BYTES,
    MAX_LOG_PAGE_BYTES, MAX_PAST_EPOCHS, MAX_PUBLIC_STATE_BYTES, MAX_WELCOME_PAGE_BYTES,
    MAX_WELCOMES_PER_READ, NewCommit, NewGroup, NewGroupMessage, PendingWelcome, Posted,
    WelcomePosition, WelcomesPage,
};
use crate::ids::now_millis;
use crate::validate;

/// Sequence numbers lost to concurrent writers before giving up with `Unavailable` (each loss means another
/// row was appended, so this only ends a write under extreme contention).
const MAX_SEQ_ATTEMPTS: usize = 64;

/// A stored commit clears the states of this many epochs before its own (one normally; the rest were left by
/// crashes between a commit's insert and its clearing, up to this many in a row).
const STATES_DROPPED_PER_COMMIT: i64 = 8;

fn check_group_id(group_id: &str) -> StoreResult<()> {
    if crate::groups::is_group_id(group_id) {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "group_id",
            format!("group_id must be 1 to {MAX_GROUP_ID_CHARS} lowercase hex characters"),
        ))
    }
}

fn check_bytes(field: &'static str, bytes: &[u8], max: usize) -> StoreResult<()> {
    if bytes.is_empty() || bytes.len() > max {
        return Err(StoreError::invalid(
            field,
            format!("{field} must be 1 to {max} bytes"),
        ));
    }
    Ok(())
}

fn check_members(members: &[GroupDevice]) -> StoreResult<()> {
    if members.is_empty() || members.len() > MAX_GROUP_MEMBERS {
        return Err(StoreError::invalid(
            "members",
            format!("a group has 1 to {MAX_GROUP_MEMBERS} members"),
        ));
    }
    members.iter().try_for_each(check_device)
}

fn check_device(device: &GroupDevice) -> StoreResult<()> {
    validate::device_ref(&device.user_id, &device.device_id)
}

fn to_i64(value: u64) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| StoreError::invalid("epoch", "epoch is out of range"))
}

fn to_u64(value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| StoreError::Internal(format!("negative stored value {value}")))
}

/// The client message id of a creation or commit row: starts with a control character, which the id rule
/// forbids, so it never meets a client's.
fn epoch_marker(epoch: i64) -> String {
    format!("\u{1}epoch-{epoch}")
}

fn entry(record: LogRecord) -> StoreResult<LogEntry> {
    let client_message_id =
        (record.kind == LogKind::Application).then_some(record.client_message_id);
    Ok(LogEntry {
        group_id: record.group_id,
        seq: to_u64(record.seq)?,
        kind: record.kind,
        epoch: to_u64(record.epoch)?,
        sender: record.sender,
        message: record.message,
        client_message_id,
        created_at: record.created_at,
    })
}

fn epoch_of(record: LogRecord) -> StoreResult<GroupEpoch> {
    let missing = || StoreError::Internal("an epoch row lacks its state".to_owned());
    Ok(GroupEpoch {
        epoch: to_u64(record.epoch)?,
        seq: to_u64(record.seq)?,
        public_state: record.public_state.ok_or_else(missing)?,
        group_info: record.group_info.ok_or_else(missing)?,
        members: record.members.ok_or_else(missing)?,
        group_id: record.group_id,
        created_at: record.created_at,
    })
}

impl<R: GroupRecords + KeyPackageRecords> Groups<R> {
    async fn head_of(&self, group_id: &str) -> StoreResult<Option<GroupHead>> {
        let Some((epoch, seq, members)) = self.0.newest_members(group_id).await? else {
            return Ok(None);
        };
        Ok(Some(GroupHead {
            group_id: group_id.to_owned(),
            epoch: to_u64(epoch)?,
            seq: to_u64(seq)?,
            members,
        }))
    }

    /// `(epoch, seq)` of the newest epoch row, read without its state (writers only need where the group is).
    async fn newest(&self, group_id: &str) -> StoreResult<(i64, i64)> {
        self.0
            .newest_position(group_id)
            .await?
            .ok_or(StoreError::GroupNotFound)
    }

    async fn next_seq(&self, group_id: &str) -> StoreResult<i64> {
        Ok(self.0.last_seq(group_id).await?.map_or(0, |seq| seq + 1))
    }

    fn epoch_taken((epoch, seq): (i64, i64)) -> StoreResult<StoreError> {
        Ok(StoreError::EpochTaken {
            current_epoch: to_u64(epoch)?,
            seq: to_u64(seq)?,
        })
    }
}

#[async_trait]
impl<R: GroupRecords + KeyPackageRecords> GroupStore for Groups<R> {
    async fn create(&self, group: NewGroup) -> StoreResult<GroupEpoch> {
        bounded(async {
            check_group_id(&group.group_id)?;
            check_device(&group.creator)?;
            check_bytes("group_info", &group.group_info, MAX_GROUP_INFO_BYTES)?;
            check_bytes("public_state", &group.public_state, MAX_PUBLIC_STATE_BYTES)?;
            check_members(&group.members)?;
            // Write-ahead, as for commits: the creator's listing entry exists before the group can.
            self.0
                .insert_device_group(&group.creator, &group.group_id, 0)
                .await?;
            let record = LogRecord {
                group_id: group.group_id,
                seq: 0,
                kind: LogKind::Create,
                epoch: 0,
                commit_epoch: 0,
                sender: group.creator,
                client_message_id: epoch_marker(0),
                message: Vec::new(),
                welcome: None,
                group_info: Some(group.group_info),
                public_state: Some(group.public_state),
                members: Some(group.members),
                created_at: now_millis(),
            };
            if self.0.insert_log_record(&record).await? == Written::Duplicate {
                let stored = self
                    .0
                    .epoch_record(&record.group_id, 0)
                    .await?
                    .ok_or(StoreError::GroupExists)?;
                // Row 0's GroupInfo is dropped once the group has moved on: then the creation is recognised by
                // its creator, and a retry gets the group as it is now.
                let same = stored.sender == record.sender
                    && stored
                        .group_info
                        .as_ref()
                        .is_none_or(|stored| Some(stored) == record.group_info.as_ref());
                if !same {
                    return Err(StoreError::GroupExists);
                }
                if stored.public_state.is_some() {
                    return epoch_of(stored);
                }
                return self
                    .0
                    .newest_epoch(&record.group_id)
                    .await?
                    .ok_or(StoreError::GroupNotFound)
                    .and_then(epoch_of);
            }
            epoch_of(record)
        })
        .await
    }

    async fn current(&self, group_id: &str) -> StoreResult<Option<GroupEpoch>> {
        bounded(async {
            check_group_id(group_id)?;
            self.0
                .newest_epoch(group_id)
                .await?
                .map(epoch_of)
                .transpose()
        })
        .await
    }

    async fn head(&self, group_id: &str) -> StoreResult<Option<GroupHead>> {
        bounded(async {
            check_group_id(group_id)?;
            self.head_of(group_id).await
        })
        .await
    }

    async fn groups_of(
        &self,
        device: &GroupDevice,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<GroupsPage> {
        bounded(async {
            check_device(device)?;
            if let Some(after) = after {
                check_group_id(after)?;
            }
            let limit = validate::page_limit(Some(limit))?;
            let candidates = self
                .0
                .device_groups(device, after.unwrap_or(""), i64::from(limit))
                .await?;
            let full = candidates.len() == usize::try_from(limit).unwrap_or(usize::MAX);
            let next_after = candidates
                .last()
                .filter(|_| full)
                .map(|(group_id, _)| group_id.clone());
            let mut groups = Vec::with_capacity(candidates.len());
            for (group_id, newest_entry) in candidates {
                // No head yet: the creation is on its way in (or crashed); the entry waits.
                let Some(head) = self.head_of(&group_id).await? else {
                    continue;
                };
                if head.members.contains(device) {
                    groups.push(head);
                } else if newest_entry <= to_i64(head.epoch)? {
                    // Removed since, or added by a commit that lost: stale. An entry of a newer epoch (a commit
                    // adding the device again, not stored yet) is newer than this bound and stays.
                    self.0
                        .delete_device_groups(device, &group_id, to_i64(head.epoch)?)
                        .await?;
                }
            }
            Ok(GroupsPage { groups, next_after })
        })
        .await
    }

    async fn commit(&self, commit: NewCommit) -> StoreResult<LogEntry> {
        bounded(async {
            check_group_id(&commit.group_id)?;
            check_device(&commit.committer)?;
            check_bytes("commit", &commit.commit, MAX_GROUP_MESSAGE_BYTES)?;
            if let Some(welcome) = &commit.welcome {
                check_bytes("welcome", welcome, MAX_GROUP_INFO_BYTES)?;
            }
            check_bytes("group_info", &commit.group_info, MAX_GROUP_INFO_BYTES)?;
            check_bytes("public_state", &commit.public_state, MAX_PUBLIC_STATE_BYTES)?;
            check_members(&commit.members)?;
            commit.welcome_for.iter().try_for_each(check_device)?;
            for key_package_ref in &commit.key_packages {
                check_bytes(
                    "key_packages",
                    key_package_ref,
                    crate::devices::MAX_KEY_PACKAGE_REF_BYTES,
                )?;
            }
            if commit.welcome.is_none() != commit.welcome_for.is_empty() {
                return Err(StoreError::invalid(
                    "welcome",
                    "a Welcome goes with its recipients, and recipients with a Welcome",
                ));
            }
            let epoch = to_i64(commit.epoch)?;
            let commit_hash = Sha256::digest(&commit.commit).to_vec();
            let created_at = now_millis();
            let one_time = self
                .granted_one_time_packages(
                    &commit.committer.user_id,
                    &commit.key_packages,
                    created_at,
                )
                .await?;
            let uses: Vec<KeyPackageUse> = one_time
                .into_iter()
                .map(|key_package_ref| KeyPackageUse {
                    key_package_ref,
                    group_id: commit.group_id.clone(),
                    epoch,
                    commit_hash: commit_hash.clone(),
                    used_at: created_at,
                })
                .collect();
            // The one-time packages first: a commit refused for a used package has written nothing.
            self.reserve_key_packages(&uses).await?;
            if let Err(error) = self.write_welcomes(&commit, &commit_hash, created_at).await {
                self.release_key_packages(&uses).await;
                return Err(error);
            }
            let mut record = LogRecord {
                group_id: commit.group_id,
                seq: 0,
                kind: LogKind::Commit,
                epoch,
                commit_epoch: epoch,
                sender: commit.committer,
                client_message_id: epoch_marker(epoch),
                message: commit.commit,
                welcome: commit.welcome,
                group_info: Some(commit.group_info),
                public_state: Some(commit.public_state),
                members: Some(commit.members),
                created_at: now_millis(),
            };
            let stored = match self.insert_commit(&mut record).await {
                // Another commit has the epoch: this one is refused for good, and its packages go back. (On
                // any other error the row may exist: the reservations stay, a package is at worst burned.)
                Err(error @ StoreError::EpochTaken { .. }) => {
                    self.release_key_packages(&uses).await;
                    return Err(error);
                }
                stored => stored?,
            };
            // The previous epochs' states are no longer needed: keep one. A crash before this leaves one more,
            // which one of the next commits drops: each clears the states of the epochs just before it.
            let epoch = to_i64(stored.epoch)?;
            self.0
                .drop_states(
                    &stored.group_id,
                    (epoch - STATES_DROPPED_PER_COMMIT).max(0)..epoch,
                )
                .await?;
            Ok(stored)
        })
        .await
    }

    async fn stored_states(&self, group_id: &str) -> StoreResult<u64> {
        bounded(async {
            check_group_id(group_id)?;
            self.0.count_states(group_id).await
        })
        .await
    }

    async fn post(&self, message: NewGroupMessage) -> StoreResult<Posted> {
        bounded(async {
            check_group_id(&message.group_id)?;
            check_device(&message.sender)?;
            validate::reference("client_message_id", &message.client_message_id)?;
            check_bytes("message", &message.message, MAX_GROUP_MESSAGE_BYTES)?;
            let epoch = to_i64(message.epoch)?;
            let mut record = LogRecord {
                group_id: message.group_id,
                seq: 0,
                kind: LogKind::Application,
                epoch,
                commit_epoch: 0,
                sender: message.sender,
                client_message_id: message.client_message_id,
                message: message.message,
                welcome: None,
                group_info: None,
                public_state: None,
                members: None,
                created_at: now_millis(),
            };
            for _ in 0..MAX_SEQ_ATTEMPTS {
                if let Some(existing) = self.existing_post(&record).await? {
                    return Ok(Posted::Existing(existing));
                }
                let current = to_u64(self.newest(&record.group_id).await?.0)?;
                if message.epoch > current || message.epoch + MAX_PAST_EPOCHS < current {
                    return Err(StoreError::StaleEpoch {
                        current_epoch: current,
                    });
                }
                record.seq = self.next_seq(&record.group_id).await?;
                record.commit_epoch = -(record.seq + 1);
                if self.0.insert_log_record(&record).await? == Written::Inserted {
                    return Ok(Posted::Created(entry(record)?));
                }
            }
            Err(StoreError::Unavailable(
                "the group log is too busy; retry".to_owned(),
            ))
        })
        .await
    }

    async fn welcomes(
        &self,
        device: &GroupDevice,
        after: Option<&WelcomePosition>,
    ) -> StoreResult<WelcomesPage> {
        bounded(async {
            check_device(device)?;
            let after = match after {
                Some(position) => {
                    check_group_id(&position.group_id)?;
                    let epoch = to_i64(position.epoch)?;
                    Some((position.created_at, position.group_id.as_str(), epoch))
                }
                None => None,
            };
            let limit = i64::try_from(MAX_WELCOMES_PER_READ).unwrap_or(50);
            let entries = self.0.welcome_entries(device, after, limit).await?;
            let full = entries.len() == MAX_WELCOMES_PER_READ;
            let mut pending = Vec::new();
            let mut bytes = 0_usize;
            // The position of the last entry dealt with: where the next page starts.
            let mut last: Option<WelcomePosition> = None;
            for entry in entries {
                let position = WelcomePosition {
                    created_at: entry.created_at,
                    group_id: entry.group_id.clone(),
                    epoch: to_u64(entry.epoch)?,
                };
                let stored = self
                    .0
                    .commit_and_welcome(&entry.group_id, entry.epoch)
                    .await?;
                match stored {
                    Some((commit, Some(welcome)))
                        if Sha256::digest(&commit)[..] == entry.commit_hash[..] =>
                    {
                        bytes = bytes.saturating_add(welcome.len());
                        if !pending.is_empty() && bytes > MAX_WELCOME_PAGE_BYTES {
                            // The page is full by size: this one starts the next page.
                            return Ok(WelcomesPage {
                                welcomes: pending,
                                next_after: last,
                            });
                        }
                        pending.push(PendingWelcome {
                            group_id: entry.group_id,
                            epoch: position.epoch,
                            welcome,
                            created_at: entry.created_at,
                        });
                    }
                    // Another commit won the epoch: this entry's commit is not stored and never will be.
                    Some(_) => {
                        let hash = Some(entry.commit_hash.as_slice());
                        self.0
                            .delete_welcome_entries(device, &entry.group_id, entry.epoch, hash)
                            .await?;
                    }
                    // The commit may still be on its way in: keep the entry, do not show it.
                    None => {}
                }
                last = Some(position);
            }
            Ok(WelcomesPage {
                welcomes: pending,
                next_after: last.filter(|_| full),
            })
        })
        .await
    }

    async fn ack_welcome(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: u64,
    ) -> StoreResult<()> {
        bounded(async {
            check_device(device)?;
            check_group_id(group_id)?;
            self.0
                .delete_welcome_entries(device, group_id, to_i64(epoch)?, None)
                .await
        })
        .await
    }

    async fn epoch_at(&self, group_id: &str, seq: u64) -> StoreResult<Option<u64>> {
        bounded(async {
            check_group_id(group_id)?;
            self.0
                .epoch_at(group_id, to_i64(seq)?)
                .await?
                .map(to_u64)
                .transpose()
        })
        .await
    }

    async fn members_at(
        &self,
        group_id: &str,
        epoch: u64,
    ) -> StoreResult<Option<Vec<GroupDevice>>> {
        bounded(async {
            check_group_id(group_id)?;
            self.0.epoch_members(group_id, to_i64(epoch)?).await
        })
        .await
    }

    async fn log(
        &self,
        group_id: &str,
        after_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<LogEntry>> {
        bounded(async {
            check_group_id(group_id)?;
            let limit = validate::page_limit(Some(limit))?;
            let after = match after_seq {
                Some(seq) => to_i64(seq)?,
                None => -1,
            };
            let records = self.0.log_after(group_id, after, i64::from(limit)).await?;
            let mut page = Vec::with_capacity(records.len());
            let mut bytes = 0;
            for record in records {
                bytes += record.message.len();
                if !page.is_empty() && bytes > MAX_LOG_PAGE_BYTES {
                    break;
                }
                page.push(entry(record)?);
            }
            Ok(page)
        })
        .await
    }
}

impl<R: GroupRecords + KeyPackageRecords> Groups<R> {
    /// Inserts the commit row at the next free seq, unless another commit has the epoch: `EpochTaken`, or the
    /// stored entry when that commit is this one (a retry).
    async fn insert_commit(&self, record: &mut LogRecord) -> StoreResult<LogEntry> {
        for _ in 0..MAX_SEQ_ATTEMPTS {
            let newest = self.newest(&record.group_id).await?;
            if newest.0 + 1 != record.epoch {
                return match self.stored_commit(record).await? {
                    Some(stored) => entry(stored),
                    None => Err(Self::epoch_taken(newest)?),
                };
            }
            record.seq = self.next_seq(&record.group_id).await?;
            if self.0.insert_log_record(record).await? == Written::Inserted {
                return entry(record.clone());
            }
            // Either another commit took the epoch (the next round sees it) or a row took the seq.
        }
        Err(StoreError::Unavailable(
            "the group log is too busy; retry".to_owned(),
        ))
    }

    /// Write-ahead: the inbox and listing entries exist before the commit row can, so a stored commit never
    /// lacks them; entries of a commit that is not stored are skipped by readers.
    async fn write_welcomes(
        &self,
        commit: &NewCommit,
        commit_hash: &[u8],
        created_at: crate::model::Millis,
    ) -> StoreResult<()> {
        let epoch = to_i64(commit.epoch)?;
        for device in &commit.welcome_for {
            let entry = WelcomeEntry {
                device: device.clone(),
                group_id: commit.group_id.clone(),
                epoch,
                commit_hash: commit_hash.to_vec(),
                created_at,
            };
            self.0.insert_welcome_entry(&entry).await?;
            self.0
                .insert_device_group(device, &commit.group_id, epoch)
                .await?;
        }
        Ok(())
    }

    /// The stored commit of `record`'s epoch if it is `record` itself (a retry of the winner).
    async fn stored_commit(&self, record: &LogRecord) -> StoreResult<Option<LogRecord>> {
        let stored = self.0.epoch_record(&record.group_id, record.epoch).await?;
        Ok(stored.filter(|stored| {
            stored.kind == LogKind::Commit
                && stored.sender == record.sender
                && stored.message == record.message
        }))
    }

    /// The stored message a retry names, or `MessageIdReused` when the id carries other bytes.
    async fn existing_post(&self, record: &LogRecord) -> StoreResult<Option<LogEntry>> {
        let Some(stored) = self
            .0
            .log_record_by_client_id(&record.group_id, &record.sender, &record.client_message_id)
            .await?
        else {
            return Ok(None);
        };
        if stored.message == record.message && stored.epoch == record.epoch {
            Ok(Some(entry(stored)?))
        } else {
            Err(StoreError::MessageIdReused)
        }
    }
}
