//! The SQL backends (SQLite and MySQL/MariaDB) on sqlx. Both speak the same SQL with `?` placeholders, so the
//! record operations are written once ([`impl_sql_records!`]) and instantiated per database; only connecting,
//! migrating, classifying driver errors and the upsert dialect of the throttle counters differ (`sqlite.rs`,
//! `mysql.rs`).

pub(crate) mod mysql;
pub(crate) mod sqlite;

use std::time::Duration;

use sqlx::error::DatabaseError;
use sqlx::types::Json;

use crate::engine::{ChatRecord, key_status_from_name};
use crate::model::{Message, PublicKeyRecord, StoreError, StoreResult, User};

/// Small pools: a Lambda sandbox serves one request at a time, and a local `cargo lambda watch` runs one process
/// per function against the same database.
pub(crate) const MAX_CONNECTIONS: u32 = 4;
/// Bounds connecting and waiting for a pooled connection, so an unreachable database surfaces as `Unavailable`.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Let idle connections go, so a long-frozen sandbox does not wake up holding dead sockets.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A pool of one SQL database; implements every record trait of `engine`.
pub(crate) struct SqlStore<DB: sqlx::Database> {
    pool: sqlx::Pool<DB>,
}

impl<DB: sqlx::Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    password_hash: String,
    display_name: Option<String>,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            display_name: row.display_name,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    user_id: String,
    key_id: String,
    public_key_pem: String,
    bits: i64,
    created_at: i64,
    status: String,
    retired_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<KeyRow> for PublicKeyRecord {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> StoreResult<Self> {
        Ok(PublicKeyRecord {
            bits: u32::try_from(row.bits).map_err(|_| {
                StoreError::Internal(format!("stored key has invalid bits {}", row.bits))
            })?,
            status: key_status_from_name(&row.status)?,
            user_id: row.user_id,
            key_id: row.key_id,
            public_key_pem: row.public_key_pem,
            created_at: row.created_at,
            retired_at: row.retired_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ChatRow {
    chat_id: String,
    user_low: String,
    user_high: String,
    created_at: i64,
}

impl From<ChatRow> for ChatRecord {
    fn from(row: ChatRow) -> Self {
        ChatRecord {
            chat_id: row.chat_id,
            user_low: row.user_low,
            user_high: row.user_high,
            created_at: row.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: String,
    chat_id: String,
    sender_id: String,
    receiver_id: String,
    client_message_id: String,
    envelope: Json<serde_json::Value>,
    created_at: i64,
    read_at: Option<i64>,
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Self {
        Message {
            id: row.id,
            chat_id: row.chat_id,
            sender_id: row.sender_id,
            receiver_id: row.receiver_id,
            client_message_id: row.client_message_id,
            envelope: row.envelope.0,
            created_at: row.created_at,
            read_at: row.read_at,
        }
    }
}

/// Column lists as macros, so every statement below can be assembled with `concat!` into a `&'static str`
/// (sqlx only accepts SQL text that is static or explicitly audited).
macro_rules! user_columns {
    () => {
        "id, username, password_hash, display_name, created_at"
    };
}
macro_rules! key_columns {
    () => {
        "user_id, key_id, public_key_pem, bits, created_at, status, retired_at, revoked_at"
    };
}
macro_rules! message_columns {
    () => {
        "id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at"
    };
}
/// `(created_at, id)` strictly after / before a bound position, written out because row-value comparisons are
/// not index-friendly on every MySQL/MariaDB version.
macro_rules! after_position {
    () => {
        "(created_at > ? OR (created_at = ? AND id > ?))"
    };
}
macro_rules! before_position {
    () => {
        "(created_at < ? OR (created_at = ? AND id < ?))"
    };
}
/// Newest first; the key id breaks ties between keys registered in the same millisecond.
macro_rules! keys_newest_first {
    () => {
        " ORDER BY created_at DESC, key_id DESC"
    };
}

/// The SQL of every statement, shared by both databases (both use `?` placeholders).
mod statement {
    pub(crate) const INSERT_USER: &str = "INSERT INTO users \
        (id, username, username_folded, password_hash, display_name, created_at) VALUES (?, ?, ?, ?, ?, ?)";
    pub(crate) const USER_BY_ID: &str =
        concat!("SELECT ", user_columns!(), " FROM users WHERE id = ?");
    pub(crate) const USER_BY_FOLDED_USERNAME: &str = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE username_folded = ?"
    );

    pub(crate) const INSERT_KEY: &str = concat!(
        "INSERT INTO public_keys (",
        key_columns!(),
        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    );
    pub(crate) const KEY: &str = concat!(
        "SELECT ",
        key_columns!(),
        " FROM public_keys WHERE user_id = ? AND key_id = ?"
    );
    pub(crate) const KEYS_NEWEST_FIRST: &str = concat!(
        "SELECT ",
        key_columns!(),
        " FROM public_keys WHERE user_id = ?",
        keys_newest_first!()
    );
    pub(crate) const NEWEST_KEY: &str = concat!(
        "SELECT ",
        key_columns!(),
        " FROM public_keys WHERE user_id = ?",
        keys_newest_first!(),
        " LIMIT 1"
    );
    pub(crate) const NEWEST_ACTIVE_KEY: &str = concat!(
        "SELECT ",
        key_columns!(),
        " FROM public_keys WHERE user_id = ? AND status = 'active'",
        keys_newest_first!(),
        " LIMIT 1"
    );
    pub(crate) const RETIRE_ACTIVE_KEYS_OLDER_THAN: &str = "UPDATE public_keys \
        SET status = 'retired', retired_at = ? \
        WHERE user_id = ? AND status = 'active' AND (created_at < ? OR (created_at = ? AND key_id < ?))";
    pub(crate) const ACTIVE_KEY_NEWER_THAN: &str = "SELECT key_id FROM public_keys \
        WHERE user_id = ? AND status = 'active' AND (created_at > ? OR (created_at = ? AND key_id > ?)) LIMIT 1";
    pub(crate) const RETIRE_KEY_IF_ACTIVE: &str = "UPDATE public_keys SET status = 'retired', retired_at = ? \
        WHERE user_id = ? AND key_id = ? AND status = 'active'";
    /// `retired_at` is left alone; an already revoked key is not touched, so it keeps its first `revoked_at`.
    pub(crate) const REVOKE_KEY: &str = "UPDATE public_keys SET status = 'revoked', revoked_at = ? \
        WHERE user_id = ? AND key_id = ? AND status <> 'revoked'";
    pub(crate) const ACTIVATE_PENDING_KEY: &str = "UPDATE public_keys SET status = 'active', created_at = ? \
        WHERE user_id = ? AND key_id = ? AND status = 'pending'";

    pub(crate) const INSERT_CHAT: &str =
        "INSERT INTO chats (chat_id, user_low, user_high, created_at) VALUES (?, ?, ?, ?)";
    pub(crate) const CHAT: &str =
        "SELECT chat_id, user_low, user_high, created_at FROM chats WHERE chat_id = ?";

    pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO messages \
        (id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at) \
        VALUES (?, ?, ?, ?, ?, ?, ?, NULL)";
    pub(crate) const MESSAGE_BY_ID: &str =
        concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?");
    pub(crate) const MESSAGE_BY_CLIENT_ID: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE sender_id = ? AND client_message_id = ?"
    );
    pub(crate) const NEWEST_CREATED_AT_IN_CHAT: &str =
        "SELECT MAX(created_at) FROM messages WHERE chat_id = ?";
    pub(crate) const UNREAD_FIRST: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE receiver_id = ? AND read_at IS NULL \
         ORDER BY created_at, id LIMIT ?"
    );
    pub(crate) const UNREAD_AFTER: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE receiver_id = ? AND read_at IS NULL AND ",
        after_position!(),
        " ORDER BY created_at, id LIMIT ?"
    );
    pub(crate) const CHAT_ASC_FIRST: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE chat_id = ? ORDER BY created_at, id LIMIT ?"
    );
    pub(crate) const CHAT_ASC_AFTER: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE chat_id = ? AND ",
        after_position!(),
        " ORDER BY created_at, id LIMIT ?"
    );
    pub(crate) const CHAT_DESC_FIRST: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE chat_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
    );
    pub(crate) const CHAT_DESC_AFTER: &str = concat!(
        "SELECT ",
        message_columns!(),
        " FROM messages WHERE chat_id = ? AND ",
        before_position!(),
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    );
    pub(crate) const SET_READ_AT_IF_UNREAD: &str =
        "UPDATE messages SET read_at = ? WHERE id = ? AND receiver_id = ? AND read_at IS NULL";
}

/// Maps a driver error: connection-level failures and the database-specific transient errors recognised by
/// `is_transient` become `Unavailable` (retryable); everything else is `Internal`.
fn map_error(error: sqlx::Error, is_transient: fn(&dyn DatabaseError) -> bool) -> StoreError {
    match &error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(database_error) if is_transient(database_error.as_ref()) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Internal(error.to_string()),
    }
}

/// Implements the `engine` record traits for `SqlStore<$db>`; `$is_transient` classifies database errors.
macro_rules! impl_sql_records {
    ($db:ty, $is_transient:path) => {
        impl $crate::sql::SqlStore<$db> {
            /// `Inserted`, or `Duplicate` when a unique index refused the row.
            async fn insert_unique<'q>(
                &self,
                query: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
            ) -> $crate::model::StoreResult<$crate::engine::Written> {
                match query.execute(&self.pool).await {
                    Ok(_) => Ok($crate::engine::Written::Inserted),
                    Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                        Ok($crate::engine::Written::Duplicate)
                    }
                    Err(error) => Err(Self::error(error)),
                }
            }

            fn error(error: sqlx::Error) -> $crate::model::StoreError {
                $crate::sql::map_error(error, $is_transient)
            }

            /// Streams the rows of a page query into `page` until it declines one, so that rows beyond the
            /// page are never all held in memory (large envelopes).
            async fn offer_messages(
                &self,
                query: sqlx::query::QueryAs<
                    '_,
                    $db,
                    $crate::sql::MessageRow,
                    <$db as sqlx::Database>::Arguments,
                >,
                page: &mut $crate::engine::PageCollector,
            ) -> $crate::model::StoreResult<()> {
                use futures_util::TryStreamExt as _;
                let mut rows = query.fetch(&self.pool);
                while let Some(row) = rows.try_next().await.map_err(Self::error)? {
                    if !page.offer(row.into()) {
                        break;
                    }
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::engine::UserRecords for $crate::sql::SqlStore<$db> {
            async fn insert_user(
                &self,
                user: &$crate::model::User,
                username_folded: &str,
            ) -> $crate::model::StoreResult<$crate::engine::Written> {
                let query = sqlx::query($crate::sql::statement::INSERT_USER)
                    .bind(&user.id)
                    .bind(&user.username)
                    .bind(username_folded)
                    .bind(&user.password_hash)
                    .bind(&user.display_name)
                    .bind(user.created_at);
                self.insert_unique(query).await
            }

            async fn user_by_id(
                &self,
                id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::User>> {
                let row =
                    sqlx::query_as::<_, $crate::sql::UserRow>($crate::sql::statement::USER_BY_ID)
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Self::error)?;
                Ok(row.map(Into::into))
            }

            async fn user_by_folded_username(
                &self,
                username_folded: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::User>> {
                let row = sqlx::query_as::<_, $crate::sql::UserRow>(
                    $crate::sql::statement::USER_BY_FOLDED_USERNAME,
                )
                .bind(username_folded)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::error)?;
                Ok(row.map(Into::into))
            }
        }

        #[async_trait::async_trait]
        impl $crate::engine::KeyRecords for $crate::sql::SqlStore<$db> {
            async fn insert_key(
                &self,
                key: &$crate::model::PublicKeyRecord,
            ) -> $crate::model::StoreResult<$crate::engine::Written> {
                let query = sqlx::query($crate::sql::statement::INSERT_KEY)
                    .bind(&key.user_id)
                    .bind(&key.key_id)
                    .bind(&key.public_key_pem)
                    .bind(i64::from(key.bits))
                    .bind(key.created_at)
                    .bind($crate::engine::key_status_name(key.status))
                    .bind(key.retired_at)
                    .bind(key.revoked_at);
                self.insert_unique(query).await
            }

            async fn key(
                &self,
                user_id: &str,
                key_id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::PublicKeyRecord>> {
                sqlx::query_as::<_, $crate::sql::KeyRow>($crate::sql::statement::KEY)
                    .bind(user_id)
                    .bind(key_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::error)?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn keys_newest_first(
                &self,
                user_id: &str,
            ) -> $crate::model::StoreResult<Vec<$crate::model::PublicKeyRecord>> {
                sqlx::query_as::<_, $crate::sql::KeyRow>($crate::sql::statement::KEYS_NEWEST_FIRST)
                    .bind(user_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(Self::error)?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn newest_key(
                &self,
                user_id: &str,
                active_only: bool,
            ) -> $crate::model::StoreResult<Option<$crate::model::PublicKeyRecord>> {
                let sql = if active_only {
                    $crate::sql::statement::NEWEST_ACTIVE_KEY
                } else {
                    $crate::sql::statement::NEWEST_KEY
                };
                sqlx::query_as::<_, $crate::sql::KeyRow>(sql)
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::error)?
                    .map(TryInto::try_into)
                    .transpose()
            }

            async fn retire_active_keys_older_than(
                &self,
                user_id: &str,
                position: &$crate::engine::KeyPosition,
                retired_at: $crate::model::Millis,
            ) -> $crate::model::StoreResult<()> {
                sqlx::query($crate::sql::statement::RETIRE_ACTIVE_KEYS_OLDER_THAN)
                    .bind(retired_at)
                    .bind(user_id)
                    .bind(position.created_at)
                    .bind(position.created_at)
                    .bind(&position.key_id)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(())
            }

            async fn active_key_newer_than_exists(
                &self,
                user_id: &str,
                position: &$crate::engine::KeyPosition,
            ) -> $crate::model::StoreResult<bool> {
                let newer: Option<(String,)> =
                    sqlx::query_as($crate::sql::statement::ACTIVE_KEY_NEWER_THAN)
                        .bind(user_id)
                        .bind(position.created_at)
                        .bind(position.created_at)
                        .bind(&position.key_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(Self::error)?;
                Ok(newer.is_some())
            }

            async fn retire_key_if_active(
                &self,
                user_id: &str,
                key_id: &str,
                retired_at: $crate::model::Millis,
            ) -> $crate::model::StoreResult<()> {
                sqlx::query($crate::sql::statement::RETIRE_KEY_IF_ACTIVE)
                    .bind(retired_at)
                    .bind(user_id)
                    .bind(key_id)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(())
            }

            async fn revoke_key(
                &self,
                user_id: &str,
                key_id: &str,
                revoked_at: $crate::model::Millis,
            ) -> $crate::model::StoreResult<()> {
                sqlx::query($crate::sql::statement::REVOKE_KEY)
                    .bind(revoked_at)
                    .bind(user_id)
                    .bind(key_id)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(())
            }

            async fn activate_pending_key(
                &self,
                user_id: &str,
                key_id: &str,
                created_at: $crate::model::Millis,
            ) -> $crate::model::StoreResult<bool> {
                let result = sqlx::query($crate::sql::statement::ACTIVATE_PENDING_KEY)
                    .bind(created_at)
                    .bind(user_id)
                    .bind(key_id)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(result.rows_affected() > 0)
            }
        }

        #[async_trait::async_trait]
        impl $crate::engine::MessageRecords for $crate::sql::SqlStore<$db> {
            async fn insert_chat(
                &self,
                chat: &$crate::engine::ChatRecord,
            ) -> $crate::model::StoreResult<$crate::engine::Written> {
                let query = sqlx::query($crate::sql::statement::INSERT_CHAT)
                    .bind(&chat.chat_id)
                    .bind(&chat.user_low)
                    .bind(&chat.user_high)
                    .bind(chat.created_at);
                self.insert_unique(query).await
            }

            async fn chat(
                &self,
                chat_id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::engine::ChatRecord>> {
                let row = sqlx::query_as::<_, $crate::sql::ChatRow>($crate::sql::statement::CHAT)
                    .bind(chat_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(row.map(Into::into))
            }

            async fn insert_message(
                &self,
                message: &$crate::model::Message,
            ) -> $crate::model::StoreResult<$crate::engine::Written> {
                let query = sqlx::query($crate::sql::statement::INSERT_MESSAGE)
                    .bind(&message.id)
                    .bind(&message.chat_id)
                    .bind(&message.sender_id)
                    .bind(&message.receiver_id)
                    .bind(&message.client_message_id)
                    .bind(sqlx::types::Json(&message.envelope))
                    .bind(message.created_at);
                self.insert_unique(query).await
            }

            async fn message_by_id(
                &self,
                id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::Message>> {
                let row = sqlx::query_as::<_, $crate::sql::MessageRow>(
                    $crate::sql::statement::MESSAGE_BY_ID,
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::error)?;
                Ok(row.map(Into::into))
            }

            async fn message_by_client_id(
                &self,
                sender_id: &str,
                client_message_id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::Message>> {
                let row = sqlx::query_as::<_, $crate::sql::MessageRow>(
                    $crate::sql::statement::MESSAGE_BY_CLIENT_ID,
                )
                .bind(sender_id)
                .bind(client_message_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Self::error)?;
                Ok(row.map(Into::into))
            }

            async fn newest_created_at_in_chat(
                &self,
                chat_id: &str,
            ) -> $crate::model::StoreResult<Option<$crate::model::Millis>> {
                let (newest,): (Option<i64>,) =
                    sqlx::query_as($crate::sql::statement::NEWEST_CREATED_AT_IN_CHAT)
                        .bind(chat_id)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(Self::error)?;
                Ok(newest)
            }

            async fn unread_after(
                &self,
                receiver_id: &str,
                after: Option<&$crate::cursor::Position>,
                page: &mut $crate::engine::PageCollector,
            ) -> $crate::model::StoreResult<()> {
                let query = match after {
                    None => sqlx::query_as($crate::sql::statement::UNREAD_FIRST).bind(receiver_id),
                    Some(position) => sqlx::query_as($crate::sql::statement::UNREAD_AFTER)
                        .bind(receiver_id)
                        .bind(position.created_at)
                        .bind(position.created_at)
                        .bind(&position.id),
                };
                let fetch = i64::from(page.fetch());
                self.offer_messages(query.bind(fetch), page).await
            }

            async fn chat_after(
                &self,
                chat_id: &str,
                order: $crate::model::Order,
                after: Option<&$crate::cursor::Position>,
                page: &mut $crate::engine::PageCollector,
            ) -> $crate::model::StoreResult<()> {
                let query = match (order, after) {
                    ($crate::model::Order::Asc, None) => {
                        sqlx::query_as($crate::sql::statement::CHAT_ASC_FIRST).bind(chat_id)
                    }
                    ($crate::model::Order::Desc, None) => {
                        sqlx::query_as($crate::sql::statement::CHAT_DESC_FIRST).bind(chat_id)
                    }
                    (order, Some(position)) => {
                        let sql = match order {
                            $crate::model::Order::Asc => $crate::sql::statement::CHAT_ASC_AFTER,
                            $crate::model::Order::Desc => $crate::sql::statement::CHAT_DESC_AFTER,
                        };
                        sqlx::query_as(sql)
                            .bind(chat_id)
                            .bind(position.created_at)
                            .bind(position.created_at)
                            .bind(&position.id)
                    }
                };
                let fetch = i64::from(page.fetch());
                self.offer_messages(query.bind(fetch), page).await
            }

            async fn set_read_at_if_unread(
                &self,
                id: &str,
                receiver_id: &str,
                read_at: $crate::model::Millis,
            ) -> $crate::model::StoreResult<()> {
                sqlx::query($crate::sql::statement::SET_READ_AT_IF_UNREAD)
                    .bind(read_at)
                    .bind(id)
                    .bind(receiver_id)
                    .execute(&self.pool)
                    .await
                    .map_err(Self::error)?;
                Ok(())
            }
        }
    };
}

pub(crate) use impl_sql_records;

/// Maps a migration failure: connection problems stay `Unavailable`, anything else is `Internal`.
fn migrate_error(
    error: sqlx::migrate::MigrateError,
    is_transient: fn(&dyn DatabaseError) -> bool,
) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::Execute(error)
        | sqlx::migrate::MigrateError::ExecuteMigration(error, _) => map_error(error, is_transient),
        other => StoreError::Internal(format!("migration failed: {other}")),
    }
}
