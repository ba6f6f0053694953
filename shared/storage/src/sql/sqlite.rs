//! Embedded SQLite: one file holds users, keys and messages. WAL mode and a busy timeout let several processes
//! (one per Lambda binary under `cargo lambda watch`) share the file.

use std::path::Path;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{
    ACQUIRE_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, SqlStore, impl_sql_records, migrate_error,
};
use crate::model::{StoreError, StoreResult};

/// How long a statement waits for another process's write lock before giving up with `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(3);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite result codes (the low byte of an extended code) that mean "try again later" or "cannot reach the
/// file": BUSY, LOCKED, IOERR, CANTOPEN.
fn is_transient(error: &dyn DatabaseError) -> bool {
    const BUSY: i64 = 5;
    const LOCKED: i64 = 6;
    const IOERR: i64 = 10;
    const CANTOPEN: i64 = 14;
    error
        .code()
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED | IOERR | CANTOPEN))
}

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database file and its directory, and applies the migrations.
    pub(crate) async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        if let Some(directory) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory).map_err(|error| {
                StoreError::Unavailable(format!("cannot create the SQLite directory: {error}"))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is safe with WAL (no corruption; at most the last commits are lost on power failure).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(false);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(IDLE_TIMEOUT)
            .connect_lazy_with(options);
        run_migrations(&pool).await?;
        Ok(SqlStore { pool })
    }
}

/// Boxed with an explicit `Send` so that callers' futures stay `Send` (sqlx's generic `Migrator::run` otherwise
/// trips "implementation of `Acquire` is not general enough" in `tokio::spawn`ed code).
fn apply_migrations(
    pool: &sqlx::SqlitePool,
) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
    Box::pin(MIGRATOR.run(pool))
}

/// SQLite has no migration lock: two processes starting together may both try to apply a migration. The
/// schema uses IF NOT EXISTS, so the loser only fails on the bookkeeping row; running again then finds the
/// migration applied.
async fn run_migrations(pool: &sqlx::SqlitePool) -> StoreResult<()> {
    const ATTEMPTS: usize = 3;
    let mut last_error = StoreError::Internal("migrations did not run".to_owned());
    for _ in 0..ATTEMPTS {
        match apply_migrations(pool).await {
            Ok(()) => return Ok(()),
            Err(error) => match migrate_error(error, is_transient) {
                unavailable @ StoreError::Unavailable(_) => return Err(unavailable),
                other => last_error = other,
            },
        }
    }
    Err(last_error)
}

impl_sql_records!(Sqlite, is_transient);
