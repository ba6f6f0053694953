//! The core's errors, and the details of trust refusals that drivers show to the user.

/// What went wrong inside the core. Drivers map each to their own error (the SDK: `ClientError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// A value could not be encoded (never expected for the core's own types).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// openmls failed on this device's own state (its storage, or a commit it builds): not something a peer
    /// or the server sent.
    #[error("MLS: {0}")]
    Mls(String),
    /// A caller's argument is not valid (an id, a key, a count).
    #[error("invalid input: {0}")]
    Input(String),
    /// This device holds no such group.
    #[error("this device is not in group {0}")]
    NotInGroup(String),
    /// A saved state blob could not be read back (damaged, or of another version).
    #[error("the MLS state is damaged: {0}")]
    Damaged(String),
}

/// The server's username ↔ user id mapping differs from the one this device pinned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// `username` is pinned to `pinned_user_id`, but the server now maps it to `new_user_id`.
    Remapped {
        username: String,
        pinned_user_id: String,
        new_user_id: String,
    },
    /// `user_id` is pinned as `pinned_username`, but the server reports it as `new_username`.
    Renamed {
        user_id: String,
        pinned_username: String,
        new_username: String,
    },
}

impl std::fmt::Display for IdentityChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentityChange::Remapped {
                username,
                pinned_user_id,
                new_user_id,
            } => write!(
                f,
                "the server now says {username} is user id {new_user_id}, but this device pinned {username} as \
                 user id {pinned_user_id}; nothing was sent. This is a different account (or the server is \
                 substituting one): check with {username} over another channel, then run \
                 `e2ee keys verify {username} --accept` to pin the new account"
            ),
            IdentityChange::Renamed {
                user_id,
                pinned_username,
                new_username,
            } => write!(
                f,
                "the server says user id {user_id} is {new_username}, but this device pinned {user_id} as \
                 {pinned_username}; nothing was sent and the contact was not renamed. Check with them over \
                 another channel, then run `e2ee keys verify {new_username} --accept` to pin the new name"
            ),
        }
    }
}
