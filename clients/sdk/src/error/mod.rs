//! The SDK's error type, and the exit code the `e2ee` command uses for each kind of failure.
//!
//! Messages are one line and safe to show: they never contain a token, a password, a passphrase or key
//! material.

use std::path::Path;

use e2ee_crypto::CryptoError;

/// Process exit codes of the `e2ee` command (see `e2ee --help`).
pub mod exit {
    /// Any other failure (bad input, server-side rejection, local file problem).
    pub const OTHER: u8 = 1;
    /// The command line is wrong (clap uses 2 too), or a required value is missing.
    pub const USAGE: u8 = 2;
    /// The server could not be reached (connection refused, DNS, timeout).
    pub const UNREACHABLE: u8 = 3;
    /// Not logged in, session expired, wrong username or password (HTTP 401).
    pub const AUTH: u8 = 4;
    /// Trust refused: a contact's key changed since it was first seen, or a device, key package or commit
    /// is not covered by a valid certificate of its user's pinned key; nothing was sent or changed.
    pub const KEY_CHANGED: u8 = 5;
    /// The passphrase does not unlock the private key on this device.
    pub const PASSPHRASE: u8 = 6;
    /// Unknown user, message or key (HTTP 404).
    pub const NOT_FOUND: u8 = 7;
    /// The server refuses more attempts for now (HTTP 429: too many failed logins, a quota); retry later.
    pub const RATE_LIMITED: u8 = 8;
}

/// The details of a [`ClientError::KeyChanged`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    pub username: String,
    pub user_id: String,
    pub old_key_id: String,
    pub old_fingerprint: String,
    pub new_key_id: String,
    pub new_fingerprint: String,
}

pub use e2ee_client_core::IdentityChange;
pub use e2ee_protocol::ErrorCode;

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body (`{"error":{"code","message"}}`) or an unexpected status.
    #[error("{message} (HTTP {status}, {code})")]
    Api {
        status: u16,
        /// The server's code; one this version does not know is kept as `ErrorCode::Other`.
        code: ErrorCode,
        message: String,
    },
    /// HTTP 429 (`too_many_attempts`, `quota_exceeded`): the server refuses more for now.
    #[error(
        "rate limited by the server: {message} (HTTP 429, {code}); {}",
        match .retry_after {
            Some(seconds) => format!("try again in {seconds} second{}", if *seconds == 1 { "" } else { "s" }),
            None => "try again later".to_owned(),
        }
    )]
    RateLimited {
        code: ErrorCode,
        message: String,
        /// The `Retry-After` header, in seconds, when the server sent one.
        retry_after: Option<u64>,
    },
    /// No connection could be made, or it timed out.
    #[error("server {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// Any other transport failure.
    #[error("request to the server failed: {0}")]
    Transport(String),
    /// The server's answer could not be understood.
    #[error("unexpected answer from the server: {0}")]
    InvalidResponse(String),
    /// No session token in the profile.
    #[error("not logged in (profile {profile}): run `e2ee login USERNAME`")]
    NotLoggedIn { profile: String },
    /// The session token has expired.
    #[error("the session of profile {profile} has expired: run `e2ee login {username}`")]
    SessionExpired { profile: String, username: String },
    #[error("no such user: {0}")]
    UnknownUser(String),
    /// Trust on first use: the contact's active key is not the one pinned for them.
    #[error(
        "the key of {user} has changed: pinned fingerprint {old}, new fingerprint {new}; nothing was sent. \
         Compare the new fingerprint with {user} (in person or on a call), then run \
         `e2ee keys verify {user} --accept`",
        user = .0.username,
        old = .0.old_fingerprint,
        new = .0.new_fingerprint
    )]
    KeyChanged(Box<KeyChange>),
    /// Trust on first use of names: the server's username ↔ user id mapping differs from the pinned one.
    #[error("{0}")]
    IdentityChanged(Box<IdentityChange>),
    /// A key operation needs the account password: this device does not hold the account's active key.
    #[error(
        "this device does not hold your account's active key, so the key change cannot be signed with it: \
         give your account password (prompt, or --password-env VAR)"
    )]
    PasswordRequired,
    /// The saved session belongs to another server than the one this command talks to: the token is not
    /// sent there.
    #[error(
        "the session of profile {profile} is for {profile_server}, not {server}: the token is never sent to \
         another server. Use the profile's server, or log in to {server} with another profile \
         (`e2ee --profile NAME --server {server} login USERNAME`)"
    )]
    OtherServer {
        profile: String,
        profile_server: String,
        server: String,
    },
    #[error(
        "wrong passphrase: it does not unlock the private key of this profile (or the key file is damaged)"
    )]
    WrongPassphrase,
    #[error("profile {profile} has no private key yet: run `e2ee keys init`")]
    NoKey { profile: String },
    #[error(transparent)]
    Crypto(CryptoError),
    /// A profile file is missing, unreadable or inconsistent.
    #[error("{0}")]
    Profile(String),
    /// A local file or terminal operation failed (the cause is part of the message, not a `source`, so a
    /// report that walks the source chain does not repeat it).
    #[error("{context}: {cause}")]
    Io {
        context: String,
        cause: std::io::Error,
    },
    /// A missing or invalid argument (no server URL, bad profile name, empty message, ...).
    #[error("{0}")]
    Usage(String),
    /// A device, key package, leaf or commit this device does not trust (no valid certificate from the
    /// user's pinned identity key, or a commit no member made): refused, nothing changed.
    #[error("trust refused: {0}")]
    Untrusted(String),
    /// This profile has no MLS device yet.
    #[error(
        "profile {profile} has no MLS device yet: run `e2ee device init` (or `e2ee device request`)"
    )]
    NoDevice { profile: String },
    /// An MLS operation failed on this device (the group state is unchanged).
    #[error("MLS: {0}")]
    Mls(String),
}

impl From<CryptoError> for ClientError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::WrongPassphrase => ClientError::WrongPassphrase,
            other => ClientError::Crypto(other),
        }
    }
}

impl From<e2ee_client_core::CoreError> for ClientError {
    fn from(error: e2ee_client_core::CoreError) -> Self {
        use e2ee_client_core::CoreError;
        match error {
            CoreError::Input(message) => ClientError::Usage(message),
            CoreError::NotInGroup(group_id) => ClientError::Usage(format!(
                "this device is not in group {group_id} (run `e2ee sync` if it was just added)"
            )),
            CoreError::Damaged(what) => ClientError::Profile(format!(
                "{} is damaged ({what})",
                crate::profile::MLS_STATE_FILE
            )),
            other => ClientError::Mls(other.to_string()),
        }
    }
}

impl ClientError {
    pub fn io(context: impl Into<String>, cause: std::io::Error) -> Self {
        ClientError::Io {
            context: context.into(),
            cause,
        }
    }

    pub fn io_path(action: &str, path: &Path, cause: std::io::Error) -> Self {
        ClientError::Io {
            context: format!("cannot {action} {}", path.display()),
            cause,
        }
    }

    /// The API error code, when the server sent one.
    pub fn api_code(&self) -> Option<&ErrorCode> {
        match self {
            ClientError::Api { code, .. } | ClientError::RateLimited { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A 404 from the server, its message replaced by `explain(message)` (which names what was not found);
    /// any other error unchanged.
    pub fn explain_not_found(self, explain: impl FnOnce(&str) -> String) -> ClientError {
        match self {
            ClientError::Api {
                status: 404,
                code,
                message,
            } => ClientError::Api {
                status: 404,
                code,
                message: explain(&message),
            },
            other => other,
        }
    }

    /// Whether the request may be repeated unchanged (the server may or may not have seen it).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable { .. } | ClientError::Transport(_) => true,
            ClientError::Api { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// The `e2ee` exit code for this error (see [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Unreachable { .. } => exit::UNREACHABLE,
            ClientError::NotLoggedIn { .. } | ClientError::SessionExpired { .. } => exit::AUTH,
            ClientError::Api { status: 401, .. } | ClientError::OtherServer { .. } => exit::AUTH,
            ClientError::Api {
                status: 403, code, ..
            } if *code == ErrorCode::AuthorizationFailed => exit::AUTH,
            ClientError::RateLimited { .. } => exit::RATE_LIMITED,
            ClientError::IdentityChanged(_) => exit::KEY_CHANGED,
            ClientError::Api { status: 404, .. } | ClientError::UnknownUser(_) => exit::NOT_FOUND,
            ClientError::KeyChanged(_) | ClientError::Untrusted(_) => exit::KEY_CHANGED,
            ClientError::WrongPassphrase => exit::PASSPHRASE,
            ClientError::Usage(_) => exit::USAGE,
            _ => exit::OTHER,
        }
    }

    /// A short machine-readable name for `--json` error output.
    pub fn code(&self) -> &str {
        match self {
            ClientError::Api { code, .. } => code.as_str(),
            ClientError::RateLimited { code, .. } => code.as_str(),
            ClientError::IdentityChanged(_) => "identity_changed",
            ClientError::PasswordRequired => "password_required",
            ClientError::OtherServer { .. } => "other_server",
            ClientError::Unreachable { .. } => "unreachable",
            ClientError::Transport(_) => "transport",
            ClientError::InvalidResponse(_) => "invalid_response",
            ClientError::NotLoggedIn { .. } => "not_logged_in",
            ClientError::SessionExpired { .. } => "session_expired",
            ClientError::UnknownUser(_) => "unknown_user",
            ClientError::KeyChanged(_) => "key_changed",
            ClientError::WrongPassphrase => "wrong_passphrase",
            ClientError::NoKey { .. } => "no_key",
            ClientError::Crypto(_) => "crypto",
            ClientError::Profile(_) => "profile",
            ClientError::Io { .. } => "io",
            ClientError::Usage(_) => "usage",
            ClientError::Untrusted(_) => "trust_refused",
            ClientError::NoDevice { .. } => "no_device",
            ClientError::Mls(_) => "mls",
        }
    }
}

#[cfg(test)]
mod tests;
