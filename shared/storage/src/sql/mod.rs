//! The SQL backends (SQLite and MySQL/MariaDB) on sqlx. Both speak the same SQL with `?` placeholders, so the
//! record operations are written once, generic over the database (`users.rs`, `keys.rs`, `messages.rs`,
//! `throttle.rs`, with the SQL in `statements.rs` and the rows in `rows.rs`). What differs is the [`Dialect`]:
//! connecting, migrating, classifying driver errors and the upsert syntax of the throttle counters
//! (`sqlite.rs`, `mysql.rs`).

mod devices;
mod groups;
mod keys;
mod messages;
pub(crate) mod mysql;
mod rows;
pub(crate) mod sqlite;
mod statements;
mod throttle;
mod users;

use std::time::Duration;

use futures_util::TryStreamExt as _;
use sqlx::error::DatabaseError;
use sqlx::query::{Query, QueryAs};
use sqlx::{Database, Executor, FromRow, IntoArguments, Pool};

use crate::engine::Written;
use crate::error::{StoreError, StoreResult};

/// Small pools: a Lambda sandbox serves one request at a time, and a local `cargo lambda watch` runs one process
/// per function against the same database.
pub(crate) const MAX_CONNECTIONS: u32 = 4;
/// Bounds connecting and waiting for a pooled connection, so an unreachable database surfaces as `Unavailable`.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// Let idle connections go, so a long-frozen sandbox does not wake up holding dead sockets.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// What the generic record code needs to know about one SQL database beyond sqlx's own traits. Implemented for
/// `Sqlite` and `MySql`.
pub(crate) trait Dialect: Database<Arguments: IntoArguments<Self>> {
    /// Database errors that mean "try again later" (locks, overload, shutdown) → `Unavailable`.
    fn is_transient(error: &dyn DatabaseError) -> bool;
    /// Rows an `UPDATE` changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// A pool of one SQL database; implements every record trait of `engine`.
pub(crate) struct SqlStore<DB: Database> {
    pool: Pool<DB>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        SqlStore {
            pool: self.pool.clone(),
        }
    }
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

type Statement<'q, DB> = Query<'q, DB, <DB as Database>::Arguments>;
type RowsOf<'q, DB, R> = QueryAs<'q, DB, R, <DB as Database>::Arguments>;

/// Running statements on the pool, with driver errors mapped; shared by every record operation.
impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn error(error: sqlx::Error) -> StoreError {
        map_error(error, DB::is_transient)
    }

    async fn execute(&self, statement: Statement<'_, DB>) -> StoreResult<DB::QueryResult> {
        statement.execute(&self.pool).await.map_err(Self::error)
    }

    /// `Inserted`, or `Duplicate` when a unique index refused the row.
    async fn insert_unique(&self, statement: Statement<'_, DB>) -> StoreResult<Written> {
        match statement.execute(&self.pool).await {
            Ok(_) => Ok(Written::Inserted),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Ok(Written::Duplicate)
            }
            Err(error) => Err(Self::error(error)),
        }
    }

    async fn optional<R>(&self, query: RowsOf<'_, DB, R>) -> StoreResult<Option<R>>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        query.fetch_optional(&self.pool).await.map_err(Self::error)
    }

    async fn one<R>(&self, query: RowsOf<'_, DB, R>) -> StoreResult<R>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        query.fetch_one(&self.pool).await.map_err(Self::error)
    }

    async fn all<R>(&self, query: RowsOf<'_, DB, R>) -> StoreResult<Vec<R>>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        query.fetch_all(&self.pool).await.map_err(Self::error)
    }

    /// Streams the rows of a query to `offer` until it declines one (returns `false`), so that rows beyond a
    /// page are never all held in memory (large envelopes).
    async fn offer_each<R>(
        &self,
        query: RowsOf<'_, DB, R>,
        mut offer: impl FnMut(R) -> bool + Send,
    ) -> StoreResult<()>
    where
        R: for<'r> FromRow<'r, DB::Row> + Send + Unpin,
    {
        let mut rows = query.fetch(&self.pool);
        while let Some(row) = rows.try_next().await.map_err(Self::error)? {
            if !offer(row) {
                break;
            }
        }
        Ok(())
    }
}
