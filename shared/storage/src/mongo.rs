//! MongoDB: public keys and messages (production). No transactions: every write is one single-document atomic
//! operation, and the multi-step rules (key rotation, idempotent insert) are the transaction-free algorithms in
//! `engine`. Duplicate keys are recognised by server error code 11000 only.
//!
//! Documents:
//! * `public_keys`: `{_id: ObjectId, user_id, key_id, public_key_pem, bits, created_at: Date, status,
//!   retired_at: Date | null, revoked_at: Date | null}` (documents written before these two fields existed
//!   lack them, which reads as null)
//! * `messages`: `{_id: "m_…", chat_id, sender_id, receiver_id, client_message_id, envelope: {…},
//!   created_at: Date, read_at: Date | null}` — the envelope is stored as a document, not as a string.
//! * `chats`: `{_id: ObjectId, chat_id, user_low, user_high, created_at: Date}`, unique on `chat_id`.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, DateTime, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};

use crate::cursor::Position;
use crate::engine::{
    ChatRecord, KeyPosition, KeyRecords, MessageRecords, PageCollector, Written,
    key_status_from_name, key_status_name,
};
use crate::model::{KeyStatus, Message, Millis, Order, PublicKeyRecord, StoreError, StoreResult};

const KEYS_COLLECTION: &str = "public_keys";
const MESSAGES_COLLECTION: &str = "messages";
const CHATS_COLLECTION: &str = "chats";
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
        };
        store.create_indexes().await?;
        Ok(store)
    }

    async fn create_indexes(&self) -> StoreResult<()> {
        let index = |name: &str, keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_owned())
                        .unique(unique)
                        .build(),
                )
                .build()
        };
        self.keys
            .create_indexes([
                index(
                    "user_id_1_key_id_1",
                    doc! { "user_id": 1, "key_id": 1 },
                    true,
                ),
                index(
                    "user_id_1_status_1",
                    doc! { "user_id": 1, "status": 1 },
                    false,
                ),
            ])
            .await
            .map_err(map_error)?;
        self.messages
            .create_indexes([
                index(
                    "chat_id_1_created_at_1__id_1",
                    doc! { "chat_id": 1, "created_at": 1, "_id": 1 },
                    false,
                ),
                index(
                    "receiver_id_1_read_at_1_created_at_1",
                    doc! { "receiver_id": 1, "read_at": 1, "created_at": 1 },
                    false,
                ),
                index(
                    "sender_id_1_client_message_id_1",
                    doc! { "sender_id": 1, "client_message_id": 1 },
                    true,
                ),
            ])
            .await
            .map_err(map_error)?;
        self.chats
            .create_indexes([index("chat_id_1", doc! { "chat_id": 1 }, true)])
            .await
            .map_err(map_error)?;
        Ok(())
    }
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

async fn find_all(find: mongodb::action::Find<'_, Document>) -> StoreResult<Vec<Document>> {
    find.await
        .map_err(map_error)?
        .try_collect()
        .await
        .map_err(map_error)
}

fn malformed(field: &str) -> StoreError {
    StoreError::Internal(format!(
        "stored document has a missing or malformed {field}"
    ))
}

fn string_field(document: &Document, field: &str) -> StoreResult<String> {
    document
        .get_str(field)
        .map(str::to_owned)
        .map_err(|_| malformed(field))
}

fn millis_field(document: &Document, field: &str) -> StoreResult<Option<Millis>> {
    match document.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::DateTime(time)) => Ok(Some(time.timestamp_millis())),
        Some(_) => Err(malformed(field)),
    }
}

fn required_millis(document: &Document, field: &str) -> StoreResult<Millis> {
    millis_field(document, field)?.ok_or_else(|| malformed(field))
}

fn key_to_document(key: &PublicKeyRecord) -> Document {
    doc! {
        "user_id": &key.user_id,
        "key_id": &key.key_id,
        "public_key_pem": &key.public_key_pem,
        "bits": i64::from(key.bits),
        "created_at": DateTime::from_millis(key.created_at),
        "status": key_status_name(key.status),
        "retired_at": key.retired_at.map(DateTime::from_millis),
        "revoked_at": key.revoked_at.map(DateTime::from_millis),
    }
}

fn key_from_document(document: &Document) -> StoreResult<PublicKeyRecord> {
    let bits = match document.get("bits") {
        Some(Bson::Int32(bits)) => u32::try_from(*bits).ok(),
        Some(Bson::Int64(bits)) => u32::try_from(*bits).ok(),
        _ => None,
    }
    .ok_or_else(|| malformed("bits"))?;
    Ok(PublicKeyRecord {
        user_id: string_field(document, "user_id")?,
        key_id: string_field(document, "key_id")?,
        public_key_pem: string_field(document, "public_key_pem")?,
        bits,
        created_at: required_millis(document, "created_at")?,
        status: key_status_from_name(&string_field(document, "status")?)?,
        retired_at: millis_field(document, "retired_at")?,
        revoked_at: millis_field(document, "revoked_at")?,
    })
}

fn chat_to_document(chat: &ChatRecord) -> Document {
    doc! {
        "chat_id": &chat.chat_id,
        "user_low": &chat.user_low,
        "user_high": &chat.user_high,
        "created_at": DateTime::from_millis(chat.created_at),
    }
}

fn chat_from_document(document: &Document) -> StoreResult<ChatRecord> {
    Ok(ChatRecord {
        chat_id: string_field(document, "chat_id")?,
        user_low: string_field(document, "user_low")?,
        user_high: string_field(document, "user_high")?,
        created_at: required_millis(document, "created_at")?,
    })
}

fn message_to_document(message: &Message) -> StoreResult<Document> {
    let envelope = match bson::to_bson(&message.envelope) {
        Ok(Bson::Document(envelope)) => envelope,
        Ok(_) => {
            return Err(StoreError::BadRequest(
                "envelope must be a JSON object".to_owned(),
            ));
        }
        // e.g. an integer beyond the signed 64-bit range, which BSON cannot represent.
        Err(error) => {
            return Err(StoreError::BadRequest(format!(
                "envelope cannot be stored as a document: {error}"
            )));
        }
    };
    Ok(doc! {
        "_id": &message.id,
        "chat_id": &message.chat_id,
        "sender_id": &message.sender_id,
        "receiver_id": &message.receiver_id,
        "client_message_id": &message.client_message_id,
        "envelope": envelope,
        "created_at": DateTime::from_millis(message.created_at),
        "read_at": message.read_at.map(DateTime::from_millis),
    })
}

fn message_from_document(document: &Document) -> StoreResult<Message> {
    let envelope = document
        .get_document("envelope")
        .map_err(|_| malformed("envelope"))?;
    let envelope: serde_json::Value =
        bson::from_bson(Bson::Document(envelope.clone())).map_err(|_| malformed("envelope"))?;
    Ok(Message {
        id: string_field(document, "_id")?,
        chat_id: string_field(document, "chat_id")?,
        sender_id: string_field(document, "sender_id")?,
        receiver_id: string_field(document, "receiver_id")?,
        client_message_id: string_field(document, "client_message_id")?,
        envelope,
        created_at: required_millis(document, "created_at")?,
        read_at: millis_field(document, "read_at")?,
    })
}

/// Streams the documents of a page query into `page` until it declines one. The driver holds one batch at a
/// time (the server caps a batch at 16 MiB), so rows beyond the page are never all in memory.
async fn offer_messages(
    find: mongodb::action::Find<'_, Document>,
    page: &mut PageCollector,
) -> StoreResult<()> {
    let mut cursor = find.await.map_err(map_error)?;
    while let Some(document) = cursor.try_next().await.map_err(map_error)? {
        if !page.offer(message_from_document(&document)?) {
            break;
        }
    }
    Ok(())
}

/// `(created_at, <tie_field>)` strictly beyond `(created_at, tie)` in the direction of `operator` (`$gt`/`$lt`).
fn beyond(operator: &str, created_at: Millis, tie_field: &str, tie: &str) -> Document {
    let created_at = DateTime::from_millis(created_at);
    doc! {
        "$or": [
            { "created_at": { operator: created_at } },
            { "created_at": created_at, tie_field: { operator: tie } },
        ]
    }
}

/// Newest first; the key id breaks ties between keys registered in the same millisecond.
fn keys_newest_first() -> Document {
    doc! { "created_at": -1, "key_id": -1 }
}

#[async_trait]
impl KeyRecords for MongoStore {
    async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written> {
        insert_unique(&self.keys, key_to_document(key)).await
    }

    async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
        self.keys
            .find_one(doc! { "user_id": user_id, "key_id": key_id })
            .await
            .map_err(map_error)?
            .as_ref()
            .map(key_from_document)
            .transpose()
    }

    async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>> {
        let documents = find_all(
            self.keys
                .find(doc! { "user_id": user_id })
                .sort(keys_newest_first()),
        )
        .await?;
        documents.iter().map(key_from_document).collect()
    }

    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>> {
        let mut filter = doc! { "user_id": user_id };
        if active_only {
            filter.insert("status", key_status_name(KeyStatus::Active));
        }
        self.keys
            .find_one(filter)
            .sort(keys_newest_first())
            .await
            .map_err(map_error)?
            .as_ref()
            .map(key_from_document)
            .transpose()
    }

    async fn retire_active_keys_older_than(
        &self,
        user_id: &str,
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()> {
        let mut filter = beyond("$lt", position.created_at, "key_id", &position.key_id);
        filter.insert("user_id", user_id);
        filter.insert("status", key_status_name(KeyStatus::Active));
        self.keys
            .update_many(
                filter,
                doc! { "$set": {
                    "status": key_status_name(KeyStatus::Retired),
                    "retired_at": DateTime::from_millis(retired_at),
                } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn active_key_newer_than_exists(
        &self,
        user_id: &str,
        position: &KeyPosition,
    ) -> StoreResult<bool> {
        let mut filter = beyond("$gt", position.created_at, "key_id", &position.key_id);
        filter.insert("user_id", user_id);
        filter.insert("status", key_status_name(KeyStatus::Active));
        let newer = self
            .keys
            .find_one(filter)
            .projection(doc! { "key_id": 1 })
            .await
            .map_err(map_error)?;
        Ok(newer.is_some())
    }

    async fn retire_key_if_active(
        &self,
        user_id: &str,
        key_id: &str,
        retired_at: Millis,
    ) -> StoreResult<()> {
        self.keys
            .update_one(
                doc! { "user_id": user_id, "key_id": key_id, "status": key_status_name(KeyStatus::Active) },
                doc! { "$set": {
                    "status": key_status_name(KeyStatus::Retired),
                    "retired_at": DateTime::from_millis(retired_at),
                } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn revoke_key(&self, user_id: &str, key_id: &str, revoked_at: Millis) -> StoreResult<()> {
        // An already revoked key is not matched, so it keeps its first revoked_at.
        self.keys
            .update_one(
                doc! {
                    "user_id": user_id,
                    "key_id": key_id,
                    "status": { "$ne": key_status_name(KeyStatus::Revoked) },
                },
                doc! { "$set": {
                    "status": key_status_name(KeyStatus::Revoked),
                    "revoked_at": DateTime::from_millis(revoked_at),
                } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn activate_pending_key(
        &self,
        user_id: &str,
        key_id: &str,
        created_at: Millis,
    ) -> StoreResult<bool> {
        let result = self
            .keys
            .update_one(
                doc! { "user_id": user_id, "key_id": key_id, "status": key_status_name(KeyStatus::Pending) },
                doc! { "$set": {
                    "status": key_status_name(KeyStatus::Active),
                    "created_at": DateTime::from_millis(created_at),
                } },
            )
            .await
            .map_err(map_error)?;
        Ok(result.modified_count > 0)
    }
}

#[async_trait]
impl MessageRecords for MongoStore {
    async fn insert_chat(&self, chat: &ChatRecord) -> StoreResult<Written> {
        insert_unique(&self.chats, chat_to_document(chat)).await
    }

    async fn chat(&self, chat_id: &str) -> StoreResult<Option<ChatRecord>> {
        self.chats
            .find_one(doc! { "chat_id": chat_id })
            .await
            .map_err(map_error)?
            .as_ref()
            .map(chat_from_document)
            .transpose()
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<Written> {
        insert_unique(&self.messages, message_to_document(message)?).await
    }

    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>> {
        self.messages
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_error)?
            .as_ref()
            .map(message_from_document)
            .transpose()
    }

    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>> {
        self.messages
            .find_one(doc! { "sender_id": sender_id, "client_message_id": client_message_id })
            .await
            .map_err(map_error)?
            .as_ref()
            .map(message_from_document)
            .transpose()
    }

    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>> {
        let newest = self
            .messages
            .find_one(doc! { "chat_id": chat_id })
            .sort(doc! { "created_at": -1, "_id": -1 })
            .projection(doc! { "created_at": 1 })
            .await
            .map_err(map_error)?;
        match newest {
            Some(document) => required_millis(&document, "created_at").map(Some),
            None => Ok(None),
        }
    }

    async fn unread_after(
        &self,
        receiver_id: &str,
        after: Option<&Position>,
        page: &mut PageCollector,
    ) -> StoreResult<()> {
        let mut filter = match after {
            Some(position) => beyond("$gt", position.created_at, "_id", &position.id),
            None => Document::new(),
        };
        filter.insert("receiver_id", receiver_id);
        filter.insert("read_at", Bson::Null);
        let fetch = page.fetch();
        offer_messages(
            self.messages
                .find(filter)
                .sort(doc! { "created_at": 1, "_id": 1 })
                .limit(i64::from(fetch))
                .batch_size(fetch),
            page,
        )
        .await
    }

    async fn chat_after(
        &self,
        chat_id: &str,
        order: Order,
        after: Option<&Position>,
        page: &mut PageCollector,
    ) -> StoreResult<()> {
        let (operator, direction) = match order {
            Order::Asc => ("$gt", 1),
            Order::Desc => ("$lt", -1),
        };
        let mut filter = match after {
            Some(position) => beyond(operator, position.created_at, "_id", &position.id),
            None => Document::new(),
        };
        filter.insert("chat_id", chat_id);
        let fetch = page.fetch();
        offer_messages(
            self.messages
                .find(filter)
                .sort(doc! { "created_at": direction, "_id": direction })
                .limit(i64::from(fetch))
                .batch_size(fetch),
            page,
        )
        .await
    }

    async fn set_read_at_if_unread(
        &self,
        id: &str,
        receiver_id: &str,
        read_at: Millis,
    ) -> StoreResult<()> {
        self.messages
            .update_one(
                doc! { "_id": id, "receiver_id": receiver_id, "read_at": Bson::Null },
                doc! { "$set": { "read_at": DateTime::from_millis(read_at) } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_bson_as_a_document() {
        let envelope = serde_json::json!({
            "version": 1,
            "createdAt": 1_764_145_653_000_i64,
            "recipients": [{ "userId": "u_b", "keyId": "k" }],
            "signature": { "alg": "PS256" },
            "ratio": 0.5,
        });
        let message = Message {
            id: "m_1".into(),
            chat_id: "c_1".into(),
            sender_id: "u_a".into(),
            receiver_id: "u_b".into(),
            client_message_id: "x".into(),
            envelope: envelope.clone(),
            created_at: 1,
            read_at: None,
        };
        let document = message_to_document(&message);
        assert!(matches!(
            document.as_ref().map(|d| d.get("envelope")),
            Ok(Some(Bson::Document(_)))
        ));
        let back = document.and_then(|d| message_from_document(&d));
        assert_eq!(back.ok().map(|m| m.envelope), Some(envelope));
    }

    #[test]
    fn unrepresentable_envelopes_are_bad_requests() {
        let message = Message {
            id: "m_1".into(),
            chat_id: "c_1".into(),
            sender_id: "u_a".into(),
            receiver_id: "u_b".into(),
            client_message_id: "x".into(),
            envelope: serde_json::json!({ "huge": u64::MAX }),
            created_at: 1,
            read_at: None,
        };
        assert!(matches!(
            message_to_document(&message),
            Err(StoreError::BadRequest(_))
        ));
    }
}
