//! MongoDB: public keys and messages (production). No transactions: every write is one single-document atomic
//! operation, and the multi-step rules (key rotation, idempotent insert) are the transaction-free algorithms in
//! `engine`. Duplicate keys are recognised by server error code 11000 only.
//!
//! This file connects and creates the indexes; `codec.rs` maps records to documents (the document shapes are
//! described there), `keys.rs`, `messages.rs` and `devices.rs` are the record stores.

mod codec;
mod devices;
mod groups;
mod keys;
mod messages;

use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::action::{Find, FindOne};
use mongodb::bson::{Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};

use crate::engine::Written;
use crate::error::{StoreError, StoreResult};

const KEYS_COLLECTION: &str = "public_keys";
const MESSAGES_COLLECTION: &str = "messages";
const CHATS_COLLECTION: &str = "chats";
const DEVICES_COLLECTION: &str = "devices";
const KEY_PACKAGES_COLLECTION: &str = "key_packages";
const GROUP_LOG_COLLECTION: &str = "group_log";
const WELCOME_INBOX_COLLECTION: &str = "welcome_inbox";
const DEVICE_GROUPS_COLLECTION: &str = "device_groups";
const KEY_PACKAGE_GRANTS_COLLECTION: &str = "key_package_grants";
const KEY_PACKAGE_USES_COLLECTION: &str = "key_package_uses";
/// Bounds finding a usable server and opening a connection, so an unreachable cluster is `Unavailable` quickly.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(3);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A Lambda sandbox serves one request at a time; a few connections cover the concurrent reads of one request.
const MAX_POOL_SIZE: u32 = 4;
const DUPLICATE_KEY: i32 = 11000;

#[derive(Clone)]
pub(crate) struct MongoStore {
    keys: Collection<Document>,
    messages: Collection<Document>,
    chats: Collection<Document>,
    devices: Collection<Document>,
    key_packages: Collection<Document>,
    group_log: Collection<Document>,
    welcome_inbox: Collection<Document>,
    device_groups: Collection<Document>,
    key_package_grants: Collection<Document>,
    /// Keyed by the package reference (`_id`): one use per package.
    key_package_uses: Collection<Document>,
}

impl MongoStore {
    /// Connects (lazily; the driver opens connections on first use) and creates the indexes. Creating an index
    /// that already exists with the same definition is a no-op on the server, so every cold start may do it.
    pub(crate) async fn open(uri: &str, database: &str) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|error| match *error.kind {
                ErrorKind::DnsResolve { .. } => {
                    StoreError::Unavailable("cannot resolve the MongoDB host".to_owned())
                }
                // The connection string may carry credentials: never echo it.
                _ => StoreError::Internal(
                    "MONGODB_URI is not a valid MongoDB connection string".to_owned(),
                ),
            })?;
        // Explicit settings in the URI win; otherwise use the Lambda-sized defaults.
        options
            .app_name
            .get_or_insert_with(|| "e2ee-storage".to_owned());
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options.max_pool_size.get_or_insert(MAX_POOL_SIZE);
        options.min_pool_size.get_or_insert(0);
        let client = Client::with_options(options).map_err(map_error)?;
        let database = client.database(database);
        let store = MongoStore {
            keys: database.collection(KEYS_COLLECTION),
            messages: database.collection(MESSAGES_COLLECTION),
            chats: database.collection(CHATS_COLLECTION),
            devices: database.collection(DEVICES_COLLECTION),
            key_packages: database.collection(KEY_PACKAGES_COLLECTION),
            group_log: database.collection(GROUP_LOG_COLLECTION),
            welcome_inbox: database.collection(WELCOME_INBOX_COLLECTION),
            device_groups: database.collection(DEVICE_GROUPS_COLLECTION),
            key_package_grants: database.collection(KEY_PACKAGE_GRANTS_COLLECTION),
            key_package_uses: database.collection(KEY_PACKAGE_USES_COLLECTION),
        };
        store.create_indexes().await?;
        Ok(store)
    }

    async fn create_indexes(&self) -> StoreResult<()> {
        let indexes = [
            (
                &self.keys,
                vec![
                    index(doc! { "user_id": 1, "key_id": 1 }, UNIQUE),
                    index(doc! { "user_id": 1, "status": 1 }, !UNIQUE),
                ],
            ),
            (
                &self.messages,
                vec![
                    index(doc! { "chat_id": 1, "created_at": 1, "_id": 1 }, !UNIQUE),
                    index(
                        doc! { "receiver_id": 1, "read_at": 1, "created_at": 1 },
                        !UNIQUE,
                    ),
                    index(doc! { "sender_id": 1, "client_message_id": 1 }, UNIQUE),
                ],
            ),
            (&self.chats, vec![index(doc! { "chat_id": 1 }, UNIQUE)]),
            (
                &self.devices,
                vec![index(doc! { "user_id": 1, "device_id": 1 }, UNIQUE)],
            ),
            (
                &self.key_packages,
                vec![index(
                    doc! { "user_id": 1, "device_id": 1, "last_resort": 1, "uploaded_at": 1 },
                    !UNIQUE,
                )],
            ),
            (
                &self.group_log,
                vec![
                    index(doc! { "group_id": 1, "seq": 1 }, UNIQUE),
                    index(doc! { "group_id": 1, "commit_epoch": 1 }, UNIQUE),
                    index(
                        doc! { "group_id": 1, "sender_user": 1, "sender_device": 1, "client_message_id": 1 },
                        UNIQUE,
                    ),
                ],
            ),
            (
                &self.welcome_inbox,
                vec![
                    index(
                        doc! { "user_id": 1, "device_id": 1, "group_id": 1, "epoch": 1, "commit_hash": 1 },
                        UNIQUE,
                    ),
                    index(
                        doc! { "user_id": 1, "device_id": 1, "created_at": 1 },
                        !UNIQUE,
                    ),
                ],
            ),
            (
                &self.device_groups,
                vec![index(
                    doc! { "user_id": 1, "device_id": 1, "group_id": 1, "epoch": 1 },
                    UNIQUE,
                )],
            ),
            (
                &self.key_package_grants,
                vec![index(
                    doc! { "key_package_ref": 1, "claimer_user": 1 },
                    UNIQUE,
                )],
            ),
        ];
        for (collection, models) in indexes {
            collection.create_indexes(models).await.map_err(map_error)?;
        }
        Ok(())
    }
}

const UNIQUE: bool = true;

/// An index on `keys`, named as MongoDB names it by default (`user_id_1_key_id_1`), so that it is the same
/// index on every start.
fn index(keys: Document, unique: bool) -> IndexModel {
    let name: Vec<String> = keys
        .iter()
        .map(|(field, order)| format!("{field}_{order}"))
        .collect();
    let options = IndexOptions::builder()
        .name(name.join("_"))
        .unique(unique)
        .build();
    IndexModel::builder().keys(keys).options(options).build()
}

/// Connection-level failures and the server's transient states are `Unavailable`; the rest is `Internal`.
fn map_error(error: mongodb::error::Error) -> StoreError {
    /// HostUnreachable, HostNotFound, NetworkTimeout, ShutdownInProgress, PrimarySteppedDown,
    /// ExceededTimeLimit, SocketException, NotWritablePrimary, InterruptedAtShutdown,
    /// InterruptedDueToReplStateChange, NotPrimaryNoSecondaryOk, NotPrimaryOrSecondary.
    const TRANSIENT_CODES: [i32; 12] = [
        6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
    ];
    let transient = match error.kind.as_ref() {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(command_error) => TRANSIENT_CODES.contains(&command_error.code),
        _ => error.contains_label("RetryableWriteError"),
    };
    if transient {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Internal(error.to_string())
    }
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write_error)) => {
            write_error.code == DUPLICATE_KEY
        }
        ErrorKind::Command(command_error) => command_error.code == DUPLICATE_KEY,
        _ => false,
    }
}

async fn insert_unique(
    collection: &Collection<Document>,
    document: Document,
) -> StoreResult<Written> {
    match collection.insert_one(document).await {
        Ok(_) => Ok(Written::Inserted),
        Err(error) if is_duplicate_key(&error) => Ok(Written::Duplicate),
        Err(error) => Err(map_error(error)),
    }
}

/// The document `find` matches, if any, decoded.
async fn decode_one<T>(
    find: FindOne<'_, Document>,
    decode: fn(&Document) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    find.await
        .map_err(map_error)?
        .as_ref()
        .map(decode)
        .transpose()
}

/// Every document `find` matches, decoded.
async fn decode_all<T>(
    find: Find<'_, Document>,
    decode: fn(&Document) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    let documents: Vec<Document> = find
        .await
        .map_err(map_error)?
        .try_collect()
        .await
        .map_err(map_error)?;
    documents.iter().map(decode).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_have_the_default_names() {
        let named = |keys: Document| index(keys, UNIQUE).options.and_then(|o| o.name);
        assert_eq!(
            named(doc! { "chat_id": 1, "created_at": 1, "_id": 1 }).as_deref(),
            Some("chat_id_1_created_at_1__id_1")
        );
        assert_eq!(
            named(doc! { "user_id": 1, "key_id": 1 }).as_deref(),
            Some("user_id_1_key_id_1")
        );
    }
}
