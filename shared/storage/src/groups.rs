//! The MLS group log (docs/mls.md, "Storage: one conditional write per decision"): one ordered log per group
//! whose rows are the group's creation, its commits (each holding the new epoch's public state) and its
//! application messages. Every decision is one insert:
//!
//! * a commit wins epoch `e` by inserting its row, unique on `(group, e)`: of concurrent commits for one
//!   epoch exactly one is stored, the others are [`StoreError::EpochTaken`](crate::StoreError::EpochTaken);
//! * every row takes the next sequence number, unique on `(group, seq)`; a writer that lost the number to a
//!   concurrent one reads again and takes the next;
//! * an application message is unique on `(group, sender device, client message id)`: a retry returns the first.
//!
//! The current epoch, public state, `GroupInfo` and member list are those of the newest commit row: nothing is
//! cached apart from it, so nothing can be stale. The store checks shapes; MLS validity is the caller's
//! (`e2ee_mls`), before anything is written.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::StoreResult;
use crate::model::Millis;

/// Longest group id: lowercase hex of an MLS group id of at most 64 bytes.
pub const MAX_GROUP_ID_CHARS: usize = 128;

/// Whether `text` is a group id as the store keeps them: 1 to [`MAX_GROUP_ID_CHARS`] lowercase hex characters.
pub fn is_group_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_GROUP_ID_CHARS
        && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
/// Longest commit or application message in the log.
pub const MAX_GROUP_MESSAGE_BYTES: usize = 1024 * 1024;
/// Longest Welcome or GroupInfo.
pub const MAX_GROUP_INFO_BYTES: usize = 2 * 1024 * 1024;
/// Longest public state (a 1000-member group's tree is well below).
pub const MAX_PUBLIC_STATE_BYTES: usize = 8 * 1024 * 1024;
/// Most members of a group.
pub const MAX_GROUP_MEMBERS: usize = 5000;
/// An application message may carry the current epoch or one of this many before it (messages sent just
/// before a commit was accepted stay deliverable).
pub const MAX_PAST_EPOCHS: u64 = 2;
/// Longest page of the log, in message bytes (base64 in JSON stays below Lambda's 6 MB response limit).
pub const MAX_LOG_PAGE_BYTES: usize = 3 * 1024 * 1024;

/// A device as a group leaf names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupDevice {
    pub user_id: String,
    pub device_id: String,
}

/// The protocol's log row kind (`e2ee_protocol::LogKind`), stored under its `as_str` name.
pub use e2ee_protocol::LogKind;

/// One row of a group's log as readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub group_id: String,
    pub seq: u64,
    pub kind: LogKind,
    /// For a commit, the epoch it starts; for an application message, the epoch it was sent in.
    pub epoch: u64,
    pub sender: GroupDevice,
    /// The commit or `PrivateMessage` bytes (empty for the creation row).
    pub message: Vec<u8>,
    /// An application message's client message id.
    pub client_message_id: Option<String>,
    pub created_at: Millis,
}

/// The group at its newest epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEpoch {
    pub group_id: String,
    pub epoch: u64,
    /// The log position of the row that started this epoch.
    pub seq: u64,
    pub public_state: Vec<u8>,
    pub group_info: Vec<u8>,
    pub members: Vec<GroupDevice>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewGroup {
    pub group_id: String,
    pub creator: GroupDevice,
    pub group_info: Vec<u8>,
    pub public_state: Vec<u8>,
    pub members: Vec<GroupDevice>,
}

/// Where a group is and who its members are, read without its state (authorizing reads and writes, listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHead {
    pub group_id: String,
    pub epoch: u64,
    /// The log position of the row that started this epoch.
    pub seq: u64,
    pub members: Vec<GroupDevice>,
}

/// A page of a device's groups, ascending by group id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupsPage {
    pub groups: Vec<GroupHead>,
    /// Pass as `after` for the next page; `None` once the listing is done. A page may hold fewer groups than
    /// asked for (entries of groups the device left are skipped) and still continue.
    pub next_after: Option<String>,
}

/// A commit the caller validated against the newest epoch: it starts `epoch`.
#[derive(Debug, Clone)]
pub struct NewCommit {
    pub group_id: String,
    pub epoch: u64,
    pub committer: GroupDevice,
    pub commit: Vec<u8>,
    pub welcome: Option<Vec<u8>>,
    pub group_info: Vec<u8>,
    pub public_state: Vec<u8>,
    pub members: Vec<GroupDevice>,
    /// The devices the Welcome is for (the added members); their inbox entries are written before the commit
    /// and count once it is stored.
    pub welcome_for: Vec<GroupDevice>,
    /// The references of the key packages the commit adds (RFC 9420 §5.2). Each must have been handed to the
    /// committer's user by a claim (`KeyPackageNotClaimed`), and a one-time package must not be used by any
    /// other commit (`KeyPackageReused`); last-resort packages may be added again.
    pub key_packages: Vec<Vec<u8>>,
}

/// A Welcome waiting in a device's inbox until the device acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingWelcome {
    pub group_id: String,
    /// The epoch the Welcome's commit started (the one the device joins at).
    pub epoch: u64,
    pub welcome: Vec<u8>,
    pub created_at: Millis,
}

/// At most this many Welcomes in one inbox read.
pub const MAX_WELCOMES_PER_READ: usize = 50;
/// At most this many Welcome bytes in one inbox read (at least one Welcome when one is there), so that the
/// answer (base64 in JSON, 4 MiB) stays below Lambda's 6 MB response limit.
pub const MAX_WELCOME_PAGE_BYTES: usize = 3 * 1024 * 1024;

/// A position in a device's Welcome inbox, whose order is `(created_at, group_id, epoch)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomePosition {
    pub created_at: Millis,
    pub group_id: String,
    pub epoch: u64,
}

/// A page of a device's Welcome inbox, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomesPage {
    pub welcomes: Vec<PendingWelcome>,
    /// Pass as `after` for the next page; `None` once the inbox is read to its end. A page may hold fewer
    /// Welcomes than [`MAX_WELCOMES_PER_READ`] (cut by [`MAX_WELCOME_PAGE_BYTES`], or entries of commits that
    /// lost their epoch skipped) and still continue.
    pub next_after: Option<WelcomePosition>,
}

#[derive(Debug, Clone)]
pub struct NewGroupMessage {
    pub group_id: String,
    pub sender: GroupDevice,
    pub client_message_id: String,
    pub epoch: u64,
    pub message: Vec<u8>,
}

/// An application message as stored: new, or the stored one a retry named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    Created(LogEntry),
    Existing(LogEntry),
}

impl Posted {
    pub fn entry(&self) -> &LogEntry {
        match self {
            Posted::Created(entry) | Posted::Existing(entry) => entry,
        }
    }
}

#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Starts a group at epoch 0 (log row 0). The same creation again returns the stored group;
    /// another creation under the id is `GroupExists`.
    async fn create(&self, group: NewGroup) -> StoreResult<GroupEpoch>;
    /// The group at its newest epoch; `None` for an unknown group.
    async fn current(&self, group_id: &str) -> StoreResult<Option<GroupEpoch>>;
    /// The group's newest epoch, log position and members, without its state; `None` for an unknown group.
    async fn head(&self, group_id: &str) -> StoreResult<Option<GroupHead>>;
    /// The groups whose newest epoch has `device` as a member, ascending by group id after `after`, reading at
    /// most `limit` candidates (1–100).
    async fn groups_of(
        &self,
        device: &GroupDevice,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<GroupsPage>;
    /// Appends a commit that starts `commit.epoch`, which must be the newest epoch + 1. Exactly one commit per
    /// epoch is stored; any other is `EpochTaken` with the epoch and log position the group is at (a retry of
    /// the stored commit returns its entry). `GroupNotFound` for an unknown group. The key packages it adds
    /// follow [`NewCommit::key_packages`]; nothing is kept of a refused commit. Once stored, the previous
    /// epochs' public states and GroupInfos are dropped.
    async fn commit(&self, commit: NewCommit) -> StoreResult<LogEntry>;
    /// How many log rows of the group hold a full public state: the newest epoch's only, once each commit has
    /// dropped its predecessor's (a crash in between leaves one more until the next commit).
    async fn stored_states(&self, group_id: &str) -> StoreResult<u64>;
    /// Appends an application message of the newest epoch or one of the [`MAX_PAST_EPOCHS`] before it
    /// (`StaleEpoch` otherwise). A retry with the same client message id, epoch and bytes returns the stored
    /// message; other bytes under a used id are `MessageIdReused`.
    async fn post(&self, message: NewGroupMessage) -> StoreResult<Posted>;
    /// The device's unacknowledged Welcomes of stored commits, oldest first, after `after` (from the start
    /// when `None`): at most [`MAX_WELCOMES_PER_READ`] and at most [`MAX_WELCOME_PAGE_BYTES`] of Welcomes (at
    /// least one when one is there). Reading never removes one.
    async fn welcomes(
        &self,
        device: &GroupDevice,
        after: Option<&WelcomePosition>,
    ) -> StoreResult<WelcomesPage>;
    /// Removes the device's Welcome for `(group_id, epoch)`; acknowledging an absent one is fine.
    async fn ack_welcome(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: u64,
    ) -> StoreResult<()>;
    /// The epoch the group was in at log position `seq` (that of the newest creation or commit row at or
    /// before it); `None` for an unknown group.
    async fn epoch_at(&self, group_id: &str, seq: u64) -> StoreResult<Option<u64>>;
    /// The members of `epoch` (`None` if the group never had it): who may read the rows of that epoch.
    async fn members_at(&self, group_id: &str, epoch: u64)
    -> StoreResult<Option<Vec<GroupDevice>>>;
    /// Log rows after `after_seq` (from the start when `None`), ascending, at most `limit` of them and at most
    /// [`MAX_LOG_PAGE_BYTES`] of messages (at least one row when one is there).
    async fn log(
        &self,
        group_id: &str,
        after_seq: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<LogEntry>>;
}
