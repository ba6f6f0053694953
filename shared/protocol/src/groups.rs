//! MLS groups on the Delivery Service (docs/mls.md): creation, commit bundles, application messages and the
//! group log. MLS messages are standard base64 of their TLS encoding (`MLSMessage`).

use serde::{Deserialize, Serialize};

/// `POST /api/groups`: the creator's GroupInfo (epoch 0, the creator its only member) and ratchet tree.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateGroupRequest {
    pub group_info: String,
    pub ratchet_tree: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMemberView {
    pub user_id: String,
    pub device_id: String,
}

/// A group at its current epoch (`POST /api/groups`, `GET /api/groups/{groupId}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupView {
    /// Lowercase hex of the MLS group id.
    pub group_id: String,
    pub epoch: u64,
    /// The log position of the row that started this epoch.
    pub seq: u64,
    pub members: Vec<GroupMemberView>,
    /// Base64 GroupInfo of this epoch (a member that lost its state rejoins from it by external commit).
    pub group_info: String,
    /// Base64 TLS encoding of this epoch's ratchet tree (what the rejoin needs beside the GroupInfo).
    pub ratchet_tree: String,
}

/// `POST /api/groups/{groupId}/commits`: a commit bundle for the current epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommitBundleRequest {
    /// `PublicMessage` commit.
    pub commit: String,
    /// Required exactly when the commit adds members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<String>,
    /// The new epoch's GroupInfo, signed by the committer.
    pub group_info: String,
}

/// `POST /api/groups/{groupId}/messages`: an application message (`PrivateMessage`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupMessageRequest {
    pub client_message_id: String,
    pub message: String,
}

/// What a row of a group log holds. Stored by every backend under [`LogKind::as_str`], the same name as in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    /// Row 0: the group's creation (epoch 0).
    Create,
    Commit,
    Application,
}

impl LogKind {
    /// The lowercase name, as in JSON.
    pub const fn as_str(self) -> &'static str {
        match self {
            LogKind::Create => "create",
            LogKind::Commit => "commit",
            LogKind::Application => "application",
        }
    }

    /// The inverse of [`LogKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [LogKind::Create, LogKind::Commit, LogKind::Application]
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for LogKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of a group log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLogEntryView {
    pub seq: u64,
    pub kind: LogKind,
    pub epoch: u64,
    pub sender_user_id: String,
    pub sender_device_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
    /// Base64 commit or PrivateMessage (empty for the creation row).
    pub message: String,
    pub created_at: i64,
}

/// `GET /api/groups/{groupId}/log?after=&limit=`: the rows the calling device may read, ascending.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupLogPage {
    pub group_id: String,
    pub entries: Vec<GroupLogEntryView>,
    /// Pass as `after` for the next page; absent at the end of the log.
    pub next_after: Option<u64>,
}

/// One group in a device's listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSummaryView {
    pub group_id: String,
    pub epoch: u64,
    pub seq: u64,
    pub member_count: u64,
}

/// `GET /api/groups?after=&limit=`: the groups the calling device is a member of, ascending by group id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupListPage {
    pub groups: Vec<GroupSummaryView>,
    /// Pass as `after` for the next page; absent when the listing is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// A Welcome in the calling device's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeView {
    pub group_id: String,
    /// The epoch the device joins at (the one the Welcome's commit started).
    pub epoch: u64,
    /// Base64 `MLSMessage` Welcome.
    pub welcome: String,
    pub created_at: i64,
}

/// `GET /api/welcomes?after=`: a page of the calling device's unacknowledged Welcomes, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WelcomeList {
    pub welcomes: Vec<WelcomeView>,
    /// Pass as `after` for the next page; absent once the inbox is read to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after: Option<String>,
}

/// `POST /api/welcomes/ack`: the Welcome to remove from the inbox (once the device has joined from it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AckWelcomeRequest {
    pub group_id: String,
    pub epoch: u64,
}

/// The answer to `POST /api/welcomes/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckWelcomeResponse {
    pub group_id: String,
    pub epoch: u64,
    pub acknowledged: bool,
}
