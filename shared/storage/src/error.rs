//! What can go wrong in a store operation, named after the outcome, so that a caller maps each case once
//! instead of guessing what a generic "conflict" or "not found" meant.

use e2ee_protocol::KeyStatus;

/// The error of every store operation. Variants name one outcome of the contract each (the operation that
/// produces it is named in its documentation); `Invalid` covers the input rules of docs/storage.md, and
/// `Unavailable` / `Internal` the database itself. Deliberately exhaustive: the API maps every variant in one
/// `match` (`e2ee_api::error::store_error`), so a new outcome does not compile until it has a status and code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// [`UserStore::create`](crate::UserStore::create): another user has the same (case-folded) username.
    #[error("username is taken")]
    UsernameTaken,
    /// [`KeyStore::put_active`](crate::KeyStore::put_active) of a key that was replaced by a newer one: a
    /// retired key never becomes active again.
    #[error("the key was retired and cannot be activated again")]
    KeyRetired,
    /// [`KeyStore::put_active`](crate::KeyStore::put_active) of a revoked key (revocation is final).
    #[error("the key was revoked and cannot be activated again")]
    KeyRevoked,
    /// [`KeyStore::put_pending`](crate::KeyStore::put_pending) of a key that is already stored with another
    /// status (`status`): it cannot become pending again.
    #[error("the key is already registered as {}", status.as_str())]
    KeyNotPending { status: KeyStatus },
    /// [`KeyStore::revoke`](crate::KeyStore::revoke): the user has no key with this id.
    #[error("no such key")]
    KeyNotFound,
    /// [`MessageStore::mark_read`](crate::MessageStore::mark_read): no message has this id.
    #[error("no such message")]
    MessageNotFound,
    /// [`MessageStore::mark_read`](crate::MessageStore::mark_read) by someone other than the receiver.
    #[error("only the receiver can mark a message read")]
    NotTheReceiver,
    /// [`MessageStore::insert`](crate::MessageStore::insert): the sender already stored a message with this
    /// client message id and a different envelope (a retry with the same envelope is `Inserted::Existing`).
    #[error("the client message id was already used for a different envelope")]
    MessageIdReused,
    /// [`DeviceStore::register`](crate::DeviceStore::register): the user already has a device with this id
    /// and another signature key or certificate.
    #[error("a device with this id is already registered")]
    DeviceExists,
    /// A device operation names a device the user does not have.
    #[error("no such device")]
    DeviceNotFound,
    /// The device was revoked: it is used for nothing any more, and its id is not reused.
    #[error("the device was revoked")]
    DeviceRevoked,
    /// [`DeviceStore::approve`](crate::DeviceStore::approve) of a device that is already active under another
    /// certificate.
    #[error("the device is already approved")]
    DeviceNotPending,
    /// [`KeyPackageStore::upload`](crate::KeyPackageStore::upload) for a device that is not approved yet.
    #[error("the device is waiting for approval")]
    DevicePending,
    /// [`GroupStore::create`](crate::GroupStore::create) under an id another group has.
    #[error("a group with this id exists")]
    GroupExists,
    /// A group operation names an unknown group.
    #[error("no such group")]
    GroupNotFound,
    /// [`GroupStore::commit`](crate::GroupStore::commit): another commit is stored for this epoch (or the group
    /// is past it). The group is at `current_epoch`, started by log row `seq`.
    #[error("the group is at epoch {current_epoch}; fetch the log from {seq}")]
    EpochTaken { current_epoch: u64, seq: u64 },
    /// [`GroupStore::commit`](crate::GroupStore::commit) adding a one-time key package that another accepted
    /// commit already added (or that a concurrent commit is adding): a one-time package joins one group once.
    #[error("the key package was already used by another commit")]
    KeyPackageReused,
    /// [`GroupStore::commit`](crate::GroupStore::commit) adding a key package that no claim handed to the
    /// committing user.
    #[error("the key package was not claimed by the committing user")]
    KeyPackageNotClaimed,
    /// [`GroupStore::post`](crate::GroupStore::post) of a message of an epoch the group is not (or no longer) in.
    #[error("the group is at epoch {current_epoch}")]
    StaleEpoch { current_epoch: u64 },
    /// An input breaks a rule (docs/storage.md, "Input rules"): `field` names it (`username`, `display_name`,
    /// `password_hash`, `user_id`, `sender_id`, `receiver_id`, `client_message_id`, `key_id`, `bits`,
    /// `public_key_pem`, `envelope`, `limit`, `cursor`, `throttle_key`, `device_id`, `signature_key`,
    /// `certificate`, `key_packages`); `reason` is safe to show the caller.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The database could not be reached, was busy, or timed out. Retryable.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: misconfiguration, malformed stored data, a driver error. Not retryable; the detail is for
    /// logs (it never contains a connection string).
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    /// An [`StoreError::Invalid`] for `field`.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        StoreError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
