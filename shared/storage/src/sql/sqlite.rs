//! Embedded SQLite: one file holds users, keys, messages, chats and throttle counters. WAL mode and a busy
//! timeout let several processes (one per Lambda binary under `cargo lambda watch`) share the file.
//!
//! Opening must survive any number of processes opening one new file at once. Two steps take SQLite locks in a
//! way the busy timeout does not cover, so they run once per open on a dedicated connection (which does not
//! wait for locks itself), under a bounded, jittered retry on `SQLITE_BUSY`/`SQLITE_LOCKED`:
//!
//! * the switch to WAL: `PRAGMA journal_mode = WAL` first reads the header under a shared lock, then upgrades
//!   to an exclusive lock to rewrite it. SQLite never calls the busy handler for a lock upgrade inside a
//!   transaction that already holds a lock (that could deadlock), so while another connection holds a shared
//!   lock — e.g. another cold start reading the same header — the switch fails at once with `SQLITE_BUSY`.
//!   The WAL flag is persistent in the file, so the pool's own connections do not repeat the switch.
//! * the migrations: sqlx's migrator opens a deferred `BEGIN` whose first statements (`CREATE … IF NOT
//!   EXISTS` of tables that exist) only read, and whose bookkeeping insert then upgrades to a write lock — the
//!   same immediate `SQLITE_BUSY` when another process wrote in between; and two migrators could apply the same
//!   migration (the loser failed on the bookkeeping row). Here they run inside `BEGIN IMMEDIATE`, which takes
//!   the write lock first (or fails at once, and the attempt is retried), so migrators serialize and each
//!   finds the work of the previous one. A cold start whose migrations are all applied only reads.
//!
//! Ordinary statements of the store are single autocommit statements, whose first lock does wait with the busy
//! timeout.

use std::path::Path;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Sqlite, SqliteConnection};

use super::rows::FailuresRow;
use super::throttle::ThrottleUpserts;
use super::{
    ACQUIRE_TIMEOUT, Dialect, IDLE_TIMEOUT, MAX_CONNECTIONS, SqlStore, map_error, migrate_error,
};
use crate::error::{StoreError, StoreResult};
use crate::model::{Failures, Millis};

/// How long a statement waits for another process's write lock before giving up with `Unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(3);
/// Rows a query may buffer ahead of the reader: sqlx's default, 50. Smaller buffers make the SQLite worker
/// thread hand rows over one wake-up at a time (measured: 8 rows made a page of 50 cost 1.15 ms instead of
/// 0.73 ms). A page query over huge envelopes that stops early may read ahead at most this many rows, and never
/// more than the query's `LIMIT` (page size + 1); SQLite is the local, embedded store.
const ROW_BUFFER_SIZE: usize = 50;
/// How long opening keeps retrying the WAL switch and the migrations when another process holds a lock.
const OPEN_RETRY_BUDGET: Duration = Duration::from_secs(5);
/// Backoff between attempts: doubling from the first delay up to the cap, each randomized to 50–150 %.
const OPEN_RETRY_FIRST_DELAY: Duration = Duration::from_millis(2);
const OPEN_RETRY_MAX_DELAY: Duration = Duration::from_millis(50);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const BUSY: i64 = 5;
const LOCKED: i64 = 6;

/// The primary SQLite result code (low byte of an extended code) of a database error.
fn primary_code(error: &dyn DatabaseError) -> Option<i64> {
    error
        .code()
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| code & 0xff)
}

impl Dialect for Sqlite {
    /// SQLite result codes that mean "try again later" or "cannot reach the file": BUSY, LOCKED, IOERR,
    /// CANTOPEN.
    fn is_transient(error: &dyn DatabaseError) -> bool {
        const IOERR: i64 = 10;
        const CANTOPEN: i64 = 14;
        primary_code(error).is_some_and(|code| matches!(code, BUSY | LOCKED | IOERR | CANTOPEN))
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Another connection holds a lock we need: worth another attempt.
fn is_lock_conflict(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(error) => {
            primary_code(error.as_ref()).is_some_and(|code| matches!(code, BUSY | LOCKED))
        }
        _ => false,
    }
}

/// Why one attempt at preparing the file failed.
enum PrepareError {
    /// A lock conflict: retry.
    Busy(StoreError),
    Fatal(StoreError),
}

impl From<sqlx::Error> for PrepareError {
    fn from(error: sqlx::Error) -> Self {
        if is_lock_conflict(&error) {
            PrepareError::Busy(map_error(error, Sqlite::is_transient))
        } else {
            PrepareError::Fatal(map_error(error, Sqlite::is_transient))
        }
    }
}

impl From<sqlx::migrate::MigrateError> for PrepareError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(error)
            | sqlx::migrate::MigrateError::ExecuteMigration(error, _) => error.into(),
            other => PrepareError::Fatal(migrate_error(other, Sqlite::is_transient)),
        }
    }
}

impl SqlStore<Sqlite> {
    /// Opens (creating if needed) the database file and its directory, switches it to WAL and applies the
    /// migrations.
    pub(crate) async fn open_sqlite(path: &Path) -> StoreResult<Self> {
        if let Some(directory) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(directory).map_err(|error| {
                StoreError::Unavailable(format!("cannot create the SQLite directory: {error}"))
            })?;
        }
        // No journal_mode here: the file is switched to WAL once, below, and keeps that mode.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            // NORMAL is safe with WAL (no corruption; at most the last commits are lost on power failure).
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .row_buffer_size(ROW_BUFFER_SIZE)
            .foreign_keys(false);
        prepare_file(&options).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(IDLE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(SqlStore { pool })
    }
}

/// Switches the file to WAL and applies the migrations, retrying lock conflicts with jittered backoff for up to
/// [`OPEN_RETRY_BUDGET`]. Every other error is final.
async fn prepare_file(options: &SqliteConnectOptions) -> StoreResult<()> {
    let started = Instant::now();
    let mut delay = OPEN_RETRY_FIRST_DELAY;
    loop {
        match prepare_once(options).await {
            Ok(()) => return Ok(()),
            Err(PrepareError::Fatal(error)) => return Err(error),
            Err(PrepareError::Busy(error)) => {
                let jittered = delay.mul_f64(rand::random_range(0.5..1.5));
                if started.elapsed() + jittered > OPEN_RETRY_BUDGET {
                    return Err(error);
                }
                tracing::debug!(?jittered, "SQLite file busy while opening; retrying");
                tokio::time::sleep(jittered).await;
                delay = (delay * 2).min(OPEN_RETRY_MAX_DELAY);
            }
        }
    }
}

/// One attempt, on a connection of its own (closed afterwards, so a failed attempt leaves nothing behind).
/// The connection does not wait for locks itself (busy timeout 0): a conflict comes back at once and
/// [`prepare_file`] retries with short, jittered delays, re-checking the migrations without any lock each time.
/// So once the first of many concurrent openers has migrated, the others finish by reading, instead of
/// queueing for the write lock behind SQLite's coarse busy-handler sleeps.
async fn prepare_once(options: &SqliteConnectOptions) -> Result<(), PrepareError> {
    let mut connection = options
        .clone()
        .busy_timeout(Duration::ZERO)
        .connect()
        .await?;
    let outcome = prepare_on(&mut connection).await;
    // Closing only releases the connection; its failure cannot undo what was committed.
    let _ = connection.close().await;
    outcome
}

async fn prepare_on(connection: &mut SqliteConnection) -> Result<(), PrepareError> {
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode = WAL")
        .fetch_one(&mut *connection)
        .await?;
    if !mode.eq_ignore_ascii_case("wal") {
        // SQLite answers with the mode it kept: e.g. a file system without shared memory support.
        return Err(PrepareError::Fatal(StoreError::Internal(format!(
            "the SQLite file cannot use WAL mode (it stays in {mode} mode)"
        ))));
    }
    if migrations_applied(connection).await {
        return Ok(());
    }
    let mut transaction = connection.begin_with("BEGIN IMMEDIATE").await?;
    // Inside the transaction sqlx's migrator applies each migration in a savepoint; the outer IMMEDIATE
    // transaction holds the write lock from the start, so no other migrator can interleave.
    apply_migrations(&mut transaction).await?;
    transaction.commit().await?;
    Ok(())
}

/// Whether exactly our migrations are applied, unchanged (a read, no lock beyond a WAL snapshot). Anything
/// unexpected, including a missing bookkeeping table, answers `false`: the locked path then decides.
async fn migrations_applied(connection: &mut SqliteConnection) -> bool {
    let applied: Vec<(i64, Vec<u8>, bool)> =
        match sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(&mut *connection)
            .await
        {
            Ok(rows) => rows,
            Err(_) => return false,
        };
    let ours: Vec<_> = MIGRATOR
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .collect();
    applied.len() == ours.len()
        && ours.iter().all(|migration| {
            applied.iter().any(|(version, checksum, success)| {
                *success && *version == migration.version && **checksum == *migration.checksum
            })
        })
}

/// `run_direct` (public, doc-hidden) is sqlx's own way around `Migrator::run`'s "implementation of `Acquire`
/// is not general enough" for a borrowed connection in `tokio::spawn`ed code; boxed with an explicit `Send`.
fn apply_migrations(
    connection: &mut SqliteConnection,
) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
    Box::pin(MIGRATOR.run_direct(None, connection, false))
}

mod upsert {
    /// A hit for an older window than the stored one counts in the stored window.
    pub(super) const HIT: &str = "INSERT INTO throttle_windows (throttle_key, window_start, hits) \
        VALUES (?, ?, 1) \
        ON CONFLICT (throttle_key) DO UPDATE SET \
        hits = CASE WHEN excluded.window_start > throttle_windows.window_start THEN 1 \
                    ELSE throttle_windows.hits + 1 END, \
        window_start = MAX(throttle_windows.window_start, excluded.window_start) \
        RETURNING hits";
    pub(super) const FAILURE: &str = "INSERT INTO throttle_failures \
        (throttle_key, failures, last_failure_at) VALUES (?, 1, ?) \
        ON CONFLICT (throttle_key) DO UPDATE SET \
        failures = throttle_failures.failures + 1, last_failure_at = excluded.last_failure_at \
        RETURNING failures, last_failure_at";
}

/// `INSERT … ON CONFLICT … DO UPDATE … RETURNING`: the statement itself returns what it wrote.
#[async_trait]
impl ThrottleUpserts for SqlStore<Sqlite> {
    async fn upsert_hit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        let (hits,): (i64,) = self
            .one(sqlx::query_as(upsert::HIT).bind(key).bind(window_start))
            .await?;
        Ok(u64::try_from(hits).unwrap_or(0))
    }

    async fn upsert_failure(&self, key: &str, now: Millis) -> StoreResult<Failures> {
        let row: FailuresRow = self
            .one(sqlx::query_as(upsert::FAILURE).bind(key).bind(now))
            .await?;
        Ok(row.into())
    }
}
