//! Reading a group's log, row by row, with the trust step a commit may need.

use std::collections::BTreeSet;

use e2ee_client_core::group::{self, GroupMessage, MessageStatus, RowOutcome};
use e2ee_protocol::GroupLogEntryView;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::{MlsDevice, ReadCommit};
use crate::trust::Trust;
use crate::{ErrorCode, Result, fail, json, parse};

/// What reading one log row did.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RowRead {
    /// `false`: a commit waits for the trust decision on the devices of `users` (fetch their key and device
    /// listings into the `Trust`, then call `finishCommit`).
    done: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<String>,
    /// A message to show (also kept in the group's history).
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<GroupMessage>,
}

impl MlsDevice {
    /// The row is done: the read position moves past it, and its message (if any) is kept.
    fn finish_row(
        &mut self,
        group_id: &str,
        row: &GroupLogEntryView,
        message: Option<GroupMessage>,
        stuck: bool,
    ) -> Result<String> {
        if stuck {
            self.stuck.insert(group_id.to_owned());
        }
        let me = self.state.meta.user_id.clone();
        if let Some(meta) = self.state.meta.groups.get_mut(group_id) {
            meta.row_done(row.seq, message.as_ref(), &me);
        }
        json(&RowRead {
            done: true,
            users: Vec::new(),
            message,
        })
    }

    fn finish_read_commit(
        &mut self,
        group_id: &str,
        read: ReadCommit,
        trust: &Trust,
    ) -> Result<String> {
        let ReadCommit {
            mut group,
            check,
            row,
            epoch_before,
        } = read;
        let untrusted = check
            .leaves()
            .iter()
            .find(|(identity, key)| !trust.trusts(identity, key))
            .map(|(identity, _)| identity.clone());
        let message = match untrusted {
            Some(identity) => Some(check.refuse(&identity)),
            None => {
                check.merge(self.state.provider(), &mut group)?;
                None
            }
        };
        let failed = message.is_some();
        let stuck = group::is_stuck(&row, epoch_before, group.epoch().as_u64(), failed);
        self.finish_row(group_id, &row, message, stuck)
    }
}

#[wasm_bindgen]
impl MlsDevice {
    /// Reads one row of the group's log (JSON, as `GET /api/groups/{groupId}/log` lists it), in order, after
    /// this device's read position. JSON `{done, message?}`; `done: false` with `users`: a commit waits for the
    /// trust decision on those users' devices (fetch their listings into `trust`, then `finishCommit`).
    #[wasm_bindgen(js_name = readRow)]
    pub fn read_row(&mut self, group_id: &str, row: &str, trust: &Trust) -> Result<String> {
        if self.reading.contains_key(group_id) {
            return fail(
                ErrorCode::State,
                "a commit of this group waits for finishCommit",
            );
        }
        let row: GroupLogEntryView = parse("log row", row)?;
        let mut group = self.state.group(group_id)?;
        let epoch_before = group.epoch().as_u64();
        let (provider, _, meta) = self.state.parts(group_id)?;
        if group::settle_pending_row(provider, &mut group, meta, &row)? {
            self.intents.remove(group_id);
            return self.finish_row(group_id, &row, None, false);
        }
        let me = self.state.identity();
        let sender = trust.name_of(&row.sender_user_id);
        match group::read_row(self.state.provider(), &mut group, &me, &row, &sender) {
            RowOutcome::Skipped => Ok(self.finish_row(group_id, &row, None, false)?),
            RowOutcome::Message(message) => {
                let stuck = group::is_stuck(
                    &row,
                    epoch_before,
                    group.epoch().as_u64(),
                    message.status == MessageStatus::Failed,
                );
                Ok(self.finish_row(group_id, &row, Some(message), stuck)?)
            }
            RowOutcome::Commit(check) => {
                let users: BTreeSet<String> = check
                    .leaves()
                    .iter()
                    .filter(|(identity, key)| !trust.trusts(identity, key))
                    .map(|(identity, _)| identity.user_id.clone())
                    .collect();
                let read = ReadCommit {
                    group,
                    check,
                    row,
                    epoch_before,
                };
                if users.is_empty() {
                    return self.finish_read_commit(group_id, read, trust);
                }
                self.reading.insert(group_id.to_owned(), read);
                Ok(json(&RowRead {
                    done: false,
                    users: users.into_iter().collect(),
                    message: None,
                })?)
            }
        }
    }

    /// Decides the commit [`MlsDevice::read_row`] left waiting: merged if every device it brings in is trusted
    /// now, else refused (the group unchanged, the row reported as a failed message). JSON `{done: true, message?}`.
    #[wasm_bindgen(js_name = finishCommit)]
    pub fn finish_commit(&mut self, group_id: &str, trust: &Trust) -> Result<String> {
        let Some(read) = self.reading.remove(group_id) else {
            return fail(ErrorCode::State, "no commit of this group waits");
        };
        self.finish_read_commit(group_id, read, trust)
    }

    /// After a page of the log: `logComplete` (the page had no `nextAfter`) and a pending commit no row settled
    /// means it was never stored (dropped). Returns whether this device must rejoin: it could not process an
    /// accepted commit (then compare its epoch with the server's, `GET /api/groups/{groupId}`).
    #[wasm_bindgen(js_name = endOfPage)]
    pub fn end_of_page(&mut self, group_id: &str, log_complete: bool) -> Result<bool> {
        let pending = self
            .state
            .meta
            .groups
            .get(group_id)
            .and_then(|meta| meta.pending_commit.as_ref())
            .map(|pending| pending.at_end_of_log(log_complete));
        if pending == Some(e2ee_client_core::commits::Resolution::Drop) {
            self.drop_pending_commit(group_id)?;
        }
        Ok(log_complete && self.stuck.remove(group_id))
    }
}
