//! MySQL 8 / MariaDB 10.11: users in production, and keys and messages when no MongoDB is configured.

use std::str::FromStr;
use std::time::Duration;

use sqlx::MySql;
use sqlx::error::DatabaseError;
use sqlx::mysql::{MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions};

use super::{
    ACQUIRE_TIMEOUT, IDLE_TIMEOUT, MAX_CONNECTIONS, SqlStore, impl_sql_records, map_error,
    migrate_error,
};
use crate::model::{StoreError, StoreResult};

/// Recycle connections well before typical server-side `wait_timeout`s and load-balancer idle cut-offs.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

/// Server error numbers that are transient: lock wait timeout, deadlock, too many connections, server shutting
/// down, connection killed (MariaDB), query interrupted by a server-side time limit.
fn is_transient(error: &dyn DatabaseError) -> bool {
    const LOCK_WAIT_TIMEOUT: u16 = 1205;
    const DEADLOCK: u16 = 1213;
    const TOO_MANY_CONNECTIONS: u16 = 1040;
    const SERVER_SHUTDOWN: u16 = 1053;
    const CONNECTION_KILLED: u16 = 1927;
    const QUERY_TIMEOUT: u16 = 3024;
    error
        .try_downcast_ref::<MySqlDatabaseError>()
        .is_some_and(|error| {
            matches!(
                error.number(),
                LOCK_WAIT_TIMEOUT
                    | DEADLOCK
                    | TOO_MANY_CONNECTIONS
                    | SERVER_SHUTDOWN
                    | CONNECTION_KILLED
                    | QUERY_TIMEOUT
            )
        })
}

impl SqlStore<MySql> {
    /// Creates the pool (connecting lazily) and applies the migrations under a named lock, so concurrent cold
    /// starts apply them once.
    pub(crate) async fn open_mysql(url: &str) -> StoreResult<Self> {
        // The URL carries the password: never echo it in an error.
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|_| StoreError::Internal("MYSQL_URL is not a valid MySQL URL".to_owned()))?;
        if options.get_database().is_none_or(str::is_empty) {
            return Err(StoreError::Internal(
                "MYSQL_URL must name a database".to_owned(),
            ));
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .idle_timeout(IDLE_TIMEOUT)
            .max_lifetime(MAX_LIFETIME)
            .connect_lazy_with(options);
        run_migrations(&pool).await?;
        Ok(SqlStore { pool })
    }
}

/// Boxed with an explicit `Send` so that callers' futures stay `Send` (sqlx's generic `Migrator::run` otherwise
/// trips "implementation of `Acquire` is not general enough" in `tokio::spawn`ed code).
fn apply_migrations(
    pool: &sqlx::MySqlPool,
) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::migrate::MigrateError>> {
    Box::pin(MIGRATOR.run(pool))
}

/// How long a cold start waits for another instance that is applying the migrations (they take well under a
/// second; a holder that dies releases the lock with its session).
const MIGRATION_LOCK_WAIT_SECONDS: i64 = 10;
/// Lock names are limited to 64 characters, database names may be 64 long: hash the name.
const MIGRATION_LOCK_NAME: &str = "CONCAT('e2ee-storage-migrate-', MD5(DATABASE()))";

/// Runs the migrations while holding a named lock. sqlx's own migrator lock calls `GET_LOCK(name, -1)`, which
/// MySQL reads as "wait forever" but MariaDB answers with NULL at once, leaving concurrent migrators unlocked
/// there (measured on MariaDB 10.11); hence this lock of our own, with a finite wait on both servers.
async fn run_migrations(pool: &sqlx::MySqlPool) -> StoreResult<()> {
    let mut connection = pool
        .acquire()
        .await
        .map_err(|error| map_error(error, is_transient))?;
    let (acquired,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT GET_LOCK({MIGRATION_LOCK_NAME}, {MIGRATION_LOCK_WAIT_SECONDS})"
    )))
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_error(error, is_transient))?;
    if acquired != Some(1) {
        return Err(StoreError::Unavailable(
            "timed out waiting for another instance to finish the migrations".to_owned(),
        ));
    }
    // The lock belongs to `connection`'s session; the migrator runs on another pooled connection, which other
    // cold starts cannot reach before they too hold the lock.
    let migrated = apply_migrations(pool).await;
    let released = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT RELEASE_LOCK({MIGRATION_LOCK_NAME})"
    )))
    .execute(&mut *connection)
    .await;
    migrated.map_err(|error| migrate_error(error, is_transient))?;
    released.map_err(|error| map_error(error, is_transient))?;
    Ok(())
}

impl_sql_records!(MySql, is_transient);
