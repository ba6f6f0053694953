//! The contract's rules, written once for every backend.
//!
//! A backend implements the small record-level traits of [`records`] (single statements / single-document
//! operations, no transactions). The wrappers [`Users`], [`Keys`], [`Messages`] and [`Throttle`] turn them into
//! the public [`UserStore`](crate::UserStore), [`KeyStore`](crate::KeyStore),
//! [`MessageStore`](crate::MessageStore) and [`ThrottleStore`](crate::ThrottleStore): validation, id and time
//! assignment, idempotency, key rotation, chat records, cursors, page limits and the per-operation time bound
//! all live here, one concern per file (`users.rs`, `keys.rs`, `messages.rs`, `throttle.rs`, `page.rs`).

mod devices;
mod groups;
mod key_package_uses;
mod key_packages;
mod keys;
mod messages;
mod page;
mod records;
mod throttle;
mod users;

#[cfg(test)]
mod racy_keys;

use std::future::Future;
use std::time::Duration;

use e2ee_protocol::KeyStatus;

pub(crate) use page::PageCollector;
pub(crate) use records::{
    DeviceRecords, GroupRecords, KeyPackageRecords, KeyRecords, MessageRecords, ThrottleRecords,
    UserRecords,
};

use crate::devices::{DeviceCertificate, DeviceStatus};
use crate::error::{StoreError, StoreResult};
use crate::model::{KeyEndorsement, Millis};

/// Upper bound on any single store operation, so a hung database surfaces as `Unavailable` (retryable) well
/// within the 5 s the API promises, even where a driver has no timeout of its own (e.g. a silent network).
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_millis(4500);

async fn bounded<T>(operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "operation timed out after {} ms",
                OPERATION_TIMEOUT.as_millis()
            )))
        })
}

/// Outcome of inserting a record that has a unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Inserted,
    /// A unique index refused the record (SQL unique violation / MongoDB error 11000).
    Duplicate,
}

/// A key's place in its user's history: newer means a larger `(created_at, key_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPosition {
    pub(crate) user_id: String,
    pub(crate) created_at: Millis,
    pub(crate) key_id: String,
}

/// A conditional change of one key's status and the time that goes with it. Each applies only to a key in the
/// status it names; a key in any other status is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyChange<'a> {
    /// Active → retired, `retired_at` = the time.
    Retire { retired_at: Millis },
    /// Any status but revoked → revoked, `revoked_at` = the time. `retired_at` is kept, and an already revoked
    /// key keeps its first `revoked_at`.
    Revoke { revoked_at: Millis },
    /// Pending → active, `created_at` = the time (the key's fresh position), `endorsement` = the one given
    /// with the activation (replacing whatever the pending record had).
    Activate {
        created_at: Millis,
        endorsement: Option<&'a KeyEndorsement>,
    },
}

/// A conditional change of one device's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceChange {
    /// Pending → active under `certificate`, `approved_at` = the time.
    Approve {
        certificate: DeviceCertificate,
        approved_at: Millis,
    },
    /// Pending or active → revoked, `revoked_at` = the time (an already revoked device keeps its first one).
    Revoke { revoked_at: Millis },
}

/// One row of a group log as a backend stores it. Application rows get `commit_epoch = -(seq + 1)` and
/// creation/commit rows a client message id that no client can send (it starts with a control character), so
/// that the three unique keys hold on every backend without partial indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogRecord {
    pub(crate) group_id: String,
    pub(crate) seq: i64,
    pub(crate) kind: crate::groups::LogKind,
    pub(crate) epoch: i64,
    pub(crate) commit_epoch: i64,
    pub(crate) sender: crate::groups::GroupDevice,
    pub(crate) client_message_id: String,
    pub(crate) message: Vec<u8>,
    pub(crate) welcome: Option<Vec<u8>>,
    pub(crate) group_info: Option<Vec<u8>>,
    pub(crate) public_state: Option<Vec<u8>>,
    pub(crate) members: Option<Vec<crate::groups::GroupDevice>>,
    pub(crate) created_at: Millis,
}

/// A Welcome inbox entry, written before its commit row: it counts only while the commit row of
/// `(group_id, epoch)` is the commit whose SHA-256 is `commit_hash` (a losing or crashed commit leaves entries
/// that readers skip and delete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WelcomeEntry {
    pub(crate) device: crate::groups::GroupDevice,
    pub(crate) group_id: String,
    pub(crate) epoch: i64,
    pub(crate) commit_hash: Vec<u8>,
    pub(crate) created_at: Millis,
}

/// The group store over any backend.
pub(crate) struct Groups<R>(pub(crate) R);

pub(crate) fn stored_log_kind(name: &str) -> StoreResult<crate::groups::LogKind> {
    crate::groups::LogKind::from_name(name)
        .ok_or_else(|| StoreError::Internal(format!("unknown stored log kind {name:?}")))
}

/// A stored key package and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPackageRecord {
    pub(crate) user_id: String,
    pub(crate) device_id: String,
    pub(crate) key_package_ref: Vec<u8>,
    pub(crate) message: Vec<u8>,
    pub(crate) not_after: Millis,
    pub(crate) last_resort: bool,
    pub(crate) uploaded_at: Millis,
}

/// A claim's record that `claimer_user` was handed the key package `key_package_ref` of `owner_user`'s device
/// `owner_device`: a commit may add a package only if a claim handed it to the committing user
/// (docs/mls.md, "Key packages are single-use"). Unique on `(key_package_ref, claimer_user)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPackageGrant {
    pub(crate) key_package_ref: Vec<u8>,
    pub(crate) claimer_user: String,
    pub(crate) owner_user: String,
    pub(crate) owner_device: String,
    pub(crate) last_resort: bool,
    /// The package's own end of life: the grant is worth nothing afterwards.
    pub(crate) not_after: Millis,
    pub(crate) granted_at: Millis,
}

/// Which commit uses a one-time key package: written before the commit row (unique on `key_package_ref`), it
/// counts while the commit row of `(group_id, epoch)` is the commit whose SHA-256 is `commit_hash` or may still
/// become it; a row of a commit that lost its epoch is stale and may be taken over by one conditional update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPackageUse {
    pub(crate) key_package_ref: Vec<u8>,
    pub(crate) group_id: String,
    pub(crate) epoch: i64,
    pub(crate) commit_hash: Vec<u8>,
    pub(crate) used_at: Millis,
}

impl KeyPackageUse {
    /// Whether `other` names the same commit (the same package, group, epoch and commit bytes).
    pub(crate) fn same_commit(&self, other: &KeyPackageUse) -> bool {
        self.key_package_ref == other.key_package_ref
            && self.group_id == other.group_id
            && self.epoch == other.epoch
            && self.commit_hash == other.commit_hash
    }
}

/// A 1:1 chat and its two participants, bytewise sorted (`user_low <= user_high`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatRecord {
    pub(crate) chat_id: String,
    pub(crate) user_low: String,
    pub(crate) user_high: String,
    pub(crate) created_at: Millis,
}

impl ChatRecord {
    fn new(chat_id: String, a: &str, b: &str, created_at: Millis) -> Self {
        let (low, high) = if a.as_bytes() <= b.as_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        ChatRecord {
            chat_id,
            user_low: low.to_owned(),
            user_high: high.to_owned(),
            created_at,
        }
    }
}

/// The public stores, each over one backend's records.
pub(crate) struct Users<R>(pub(crate) R);
pub(crate) struct Keys<R>(pub(crate) R);
pub(crate) struct Messages<R>(pub(crate) R);
pub(crate) struct Throttle<R>(pub(crate) R);
pub(crate) struct Devices<R>(pub(crate) R);
pub(crate) struct KeyPackages<R>(pub(crate) R);

/// A stored failure count (a `BIGINT`) as the contract's `u32`; beyond that it saturates.
pub(crate) fn failure_count(stored: i64) -> u32 {
    u32::try_from(stored.max(0)).unwrap_or(u32::MAX)
}

/// A key status as stored (its [`KeyStatus::as_str`] name); anything else is corrupted data.
pub(crate) fn stored_key_status(name: &str) -> StoreResult<KeyStatus> {
    KeyStatus::from_name(name)
        .ok_or_else(|| StoreError::Internal(format!("unknown stored key status {name:?}")))
}

/// A device status as stored (its [`DeviceStatus::as_str`] name); anything else is corrupted data.
pub(crate) fn stored_device_status(name: &str) -> StoreResult<DeviceStatus> {
    DeviceStatus::from_name(name)
        .ok_or_else(|| StoreError::Internal(format!("unknown stored device status {name:?}")))
}
