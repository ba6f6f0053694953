//! What a backend provides: primitive record operations, each one statement or one single-document operation.
//! The rules built on top of them are in the sibling modules.

use async_trait::async_trait;

use super::{
    ChatRecord, DeviceChange, KeyChange, KeyPackageGrant, KeyPackageRecord, KeyPackageUse,
    KeyPosition, LogRecord, PageCollector, WelcomeEntry, Written,
};
use crate::devices::DeviceRecord;
use crate::error::StoreResult;
use crate::groups::GroupDevice;
use crate::model::{Failures, Message, Millis, PublicKeyRecord, User};

#[async_trait]
pub(crate) trait UserRecords: Send + Sync + 'static {
    async fn insert_user(&self, user: &User, username_folded: &str) -> StoreResult<Written>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_folded_username(&self, username_folded: &str) -> StoreResult<Option<User>>;
}

#[async_trait]
pub(crate) trait KeyRecords: Send + Sync + 'static {
    async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written>;
    async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    /// All keys of the user, newest (largest `(created_at, key_id)`) first.
    async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>>;
    /// The newest key of the user (any status), or the newest active one when `active_only`.
    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>>;
    /// Sets every active key of the user older than `position` to retired at `retired_at`.
    async fn retire_active_keys_older_than(
        &self,
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()>;
    /// Whether the user of `position` has an active key newer than it.
    async fn active_key_newer_than_exists(&self, position: &KeyPosition) -> StoreResult<bool>;
    /// Changes the key `key_id` of `user_id` as `to` says, if its status allows; whether the key changed (an
    /// unknown key, or one in another status, is left alone: `false`).
    async fn change_key(&self, user_id: &str, key_id: &str, to: KeyChange<'_>)
    -> StoreResult<bool>;
}

#[async_trait]
pub(crate) trait MessageRecords: Send + Sync + 'static {
    /// Inserts the chat unless one with its id exists (`Duplicate` then, and nothing changes).
    async fn insert_chat(&self, chat: &ChatRecord) -> StoreResult<Written>;
    async fn chat(&self, chat_id: &str) -> StoreResult<Option<ChatRecord>>;
    async fn insert_message(&self, message: &Message) -> StoreResult<Written>;
    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>>;
    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>>;
    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>>;
    /// Offers the unread messages of `receiver` strictly after `page.after()`, in ascending `(created_at, id)`,
    /// to `page` (at most `page.fetch()` of them, stopping when it declines one).
    async fn unread_after(&self, receiver: &str, page: &mut PageCollector<'_>) -> StoreResult<()>;
    /// Offers the chat's messages strictly after `page.after()` in `page.order()` (for `Desc`: strictly before
    /// it) to `page` (at most `page.fetch()` of them, stopping when it declines one).
    async fn chat_after(&self, chat_id: &str, page: &mut PageCollector<'_>) -> StoreResult<()>;
    /// Sets `read_at` to `at` if the message is addressed to `receiver` and not read yet; otherwise does nothing.
    async fn set_read_at_if_unread(&self, id: &str, receiver: &str, at: Millis) -> StoreResult<()>;
}

/// Throttle counters; each method is one atomic statement.
#[async_trait]
pub(crate) trait ThrottleRecords: Send + Sync + 'static {
    /// See [`ThrottleStore::hit`](crate::ThrottleStore::hit).
    async fn hit_window(&self, key: &str, window_start: Millis) -> StoreResult<u64>;
    async fn failure_counter(&self, key: &str) -> StoreResult<Option<Failures>>;
    /// Count + 1 (1 for a new key) and `last_failure_at = now`, returning the state this statement wrote.
    async fn add_failure(&self, key: &str, now: Millis) -> StoreResult<Failures>;
    async fn delete_failures(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub(crate) trait DeviceRecords: Send + Sync + 'static {
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<Written>;
    async fn device(&self, user_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>>;
    /// Every device of the user, revoked ones included, by ascending `(created_at, device_id)`.
    async fn devices(&self, user_id: &str) -> StoreResult<Vec<DeviceRecord>>;
    /// At most `limit` pending or active devices of the user strictly after `after` (`(created_at,
    /// device_id)`; from the start when `None`), by ascending `(created_at, device_id)`.
    async fn devices_page(
        &self,
        user_id: &str,
        after: Option<(Millis, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>>;
    /// Changes the device as `to` says if its status allows; whether it changed.
    async fn change_device(
        &self,
        user_id: &str,
        device_id: &str,
        to: &DeviceChange,
    ) -> StoreResult<bool>;
}

/// Key packages; "unexpired at `now`" means `not_after > now`.
#[async_trait]
pub(crate) trait KeyPackageRecords: Send + Sync + 'static {
    /// `Duplicate` when a package with the same reference is stored.
    async fn insert_key_package(&self, package: &KeyPackageRecord) -> StoreResult<Written>;
    /// Removes one unexpired one-time package of the device and returns it, atomically: a package is returned
    /// to exactly one caller. Oldest uploads are preferred but not promised (concurrent takers spread out).
    async fn take_one_time_key_package(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>>;
    /// The device's newest unexpired last-resort package (left in place).
    async fn newest_last_resort(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>>;
    async fn count_one_time(&self, user_id: &str, device_id: &str, now: Millis)
    -> StoreResult<u64>;
    /// Deletes the device's last-resort packages other than `keep_ref`.
    async fn delete_other_last_resorts(
        &self,
        user_id: &str,
        device_id: &str,
        keep_ref: &[u8],
    ) -> StoreResult<()>;
    async fn delete_device_key_packages(&self, user_id: &str, device_id: &str) -> StoreResult<()>;
    /// `Duplicate` when the claimer already holds a grant for this package (a last-resort package claimed
    /// again), which is fine: the grant is there.
    async fn insert_key_package_grant(&self, grant: &KeyPackageGrant) -> StoreResult<Written>;
    async fn key_package_grant(
        &self,
        key_package_ref: &[u8],
        claimer_user: &str,
    ) -> StoreResult<Option<KeyPackageGrant>>;
    /// `Duplicate` when a use of this package is stored.
    async fn insert_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<Written>;
    async fn key_package_use(&self, key_package_ref: &[u8]) -> StoreResult<Option<KeyPackageUse>>;
    /// Replaces the stored use `stale` with `fresh` (same package) if it is still exactly `stale`; whether it
    /// changed.
    async fn replace_key_package_use(
        &self,
        stale: &KeyPackageUse,
        fresh: &KeyPackageUse,
    ) -> StoreResult<bool>;
    /// Deletes the stored use if it is exactly `package_use` (a refused commit releasing what it reserved).
    async fn delete_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<()>;
}

/// The group log. Unique keys: `(group_id, seq)`, `(group_id, commit_epoch)` and
/// `(group_id, sender_user, sender_device, client_message_id)`.
#[async_trait]
pub(crate) trait GroupRecords: Send + Sync + 'static {
    /// `Duplicate` when any of the unique keys is taken (the caller reads back which).
    async fn insert_log_record(&self, record: &LogRecord) -> StoreResult<Written>;
    /// The row with the highest non-negative `commit_epoch` (creation or commit), with its state.
    async fn newest_epoch(&self, group_id: &str) -> StoreResult<Option<LogRecord>>;
    /// `(commit_epoch, seq)` of that same row, without reading its state.
    async fn newest_position(&self, group_id: &str) -> StoreResult<Option<(i64, i64)>>;
    /// `(commit_epoch, seq, members)` of that same row, without the rest of its state.
    async fn newest_members(
        &self,
        group_id: &str,
    ) -> StoreResult<Option<(i64, i64, Vec<GroupDevice>)>>;
    /// The creation or commit row of `epoch`, with its state.
    async fn epoch_record(&self, group_id: &str, epoch: i64) -> StoreResult<Option<LogRecord>>;
    async fn last_seq(&self, group_id: &str) -> StoreResult<Option<i64>>;
    /// `Duplicate` if the entry (all five key fields) is stored.
    async fn insert_welcome_entry(&self, entry: &WelcomeEntry) -> StoreResult<Written>;
    /// The device's entries after `after` (`(created_at, group_id, epoch)`; from the start when `None`),
    /// oldest first in that order, at most `limit`.
    async fn welcome_entries(
        &self,
        device: &GroupDevice,
        after: Option<(Millis, &str, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<WelcomeEntry>>;
    /// Deletes the device's entries for `(group_id, epoch)` (`commit_hash: None`: of every commit).
    async fn delete_welcome_entries(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
        commit_hash: Option<&[u8]>,
    ) -> StoreResult<()>;
    /// `Duplicate` if `(device, group_id, epoch)` is stored (which is fine: the entry is there).
    async fn insert_device_group(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Written>;
    /// The device's groups after `after` (by group id, ascending), each with its newest entry's epoch, at most
    /// `limit` groups.
    async fn device_groups(
        &self,
        device: &GroupDevice,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>>;
    /// Deletes the device's entries for the group with `epoch <= up_to_epoch` (a newer entry, written by a
    /// commit that adds the device again, stays).
    async fn delete_device_groups(
        &self,
        device: &GroupDevice,
        group_id: &str,
        up_to_epoch: i64,
    ) -> StoreResult<()>;
    /// The commit bytes and Welcome of the commit row of `epoch`.
    async fn commit_and_welcome(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<(Vec<u8>, Option<Vec<u8>>)>>;
    /// The member list of the creation or commit row of `epoch` only (no state).
    async fn epoch_members(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<Vec<GroupDevice>>>;
    async fn log_record_by_client_id(
        &self,
        group_id: &str,
        sender: &GroupDevice,
        client_message_id: &str,
    ) -> StoreResult<Option<LogRecord>>;
    /// The commit epoch of the newest creation or commit row at or before `seq`: the epoch the group was in at
    /// that log position.
    async fn epoch_at(&self, group_id: &str, seq: i64) -> StoreResult<Option<i64>>;
    /// Removes the public state and GroupInfo from the group's creation and commit rows of `epochs` (a range
    /// of the `(group, commit epoch)` index, so the cost does not grow with the log).
    async fn drop_states(&self, group_id: &str, epochs: std::ops::Range<i64>) -> StoreResult<()>;
    /// How many of the group's rows hold a public state.
    async fn count_states(&self, group_id: &str) -> StoreResult<u64>;
    /// Rows with `seq > after_seq`, ascending, at most `limit`, without the state columns (welcome, group
    /// info, public state, members are `None`).
    async fn log_after(
        &self,
        group_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<LogRecord>>;
}
