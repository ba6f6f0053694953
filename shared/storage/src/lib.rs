//! Storage for the end-to-end-encrypted messaging backend: users, public keys, messages (with their chats) and
//! throttle counters behind one contract ([`UserStore`], [`KeyStore`], [`MessageStore`], [`ThrottleStore`]),
//! with three interchangeable backends:
//!
//! * **SQLite** (embedded default, one file, everything),
//! * **MySQL / MariaDB** (users and throttle counters in production; can also hold keys and messages),
//! * **MongoDB** (keys and messages in production).
//!
//! [`Stores::from_config`] composes them from a [`StorageConfig`] (usually [`StorageConfig::from_env`]).
//! Build it once per process (Lambda init) and clone it freely: every handle is an `Arc`.
//!
//! Every failure is a [`StoreError`] that names its outcome (`UsernameTaken`, `KeyRetired`, `MessageIdReused`,
//! `Invalid { field, .. }`, …). Ids, the chat id, key statuses, history order and page sizes are the shared
//! vocabulary of `e2ee-protocol`.
//!
//! The backends only provide primitive record operations; every rule of the contract (validation, ids, cursors,
//! idempotency, key rotation) lives once in the crate-private `engine` module and is shared by all of them.

mod config;
mod cursor;
mod devices;
mod engine;
mod error;
mod groups;
mod ids;
mod model;
mod mongo;
mod sql;
mod stores;
mod validate;

pub use config::StorageConfig;
pub use devices::*;
pub use error::{StoreError, StoreResult};
pub use groups::*;
pub use model::*;
pub use stores::Stores;
pub use validate::{fold_username, normalize_username};

/// The model's key status and history order are the protocol's (`e2ee_protocol::{KeyStatus, Order}`).
pub use e2ee_protocol::{KeyStatus, Order};
