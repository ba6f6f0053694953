//! MySQL 8 / MariaDB 10.11: users in production, and keys and messages when no MongoDB is configured.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::MySql;
use sqlx::error::DatabaseError;
use sqlx::mysql::{
    MySqlConnectOptions, MySqlDatabaseError, MySqlPoolOptions, MySqlQueryResult, MySqlSslMode,
};

use super::throttle::ThrottleUpserts;
use super::{
    ACQUIRE_TIMEOUT, Dialect, IDLE_TIMEOUT, MAX_CONNECTIONS, SqlStore, map_error, migrate_error,
};
use crate::engine::failure_count;
use crate::error::{StoreError, StoreResult};
use crate::model::{Failures, Millis};

/// Recycle connections well before typical server-side `wait_timeout`s and load-balancer idle cut-offs.
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 60);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/mysql");

impl Dialect for MySql {
    /// Server error numbers that are transient: lock wait timeout, deadlock, too many connections, server
    /// shutting down, connection killed (MariaDB), query interrupted by a server-side time limit.
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

    fn rows_affected(result: &MySqlQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl SqlStore<MySql> {
    /// Creates the pool (connecting lazily) and applies the migrations under a named lock, so concurrent cold
    /// starts apply them once.
    pub(crate) async fn open_mysql(url: &str) -> StoreResult<Self> {
        let options = connect_options(url)?;
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

/// Parses `MYSQL_URL` and chooses its TLS mode: the URL's own `ssl-mode` (or `sslmode`) when it names one;
/// otherwise `VERIFY_IDENTITY` (certificate chain and host name checked) unless the server is on this machine
/// (a loopback host or a Unix socket), where sqlx's default (`PREFERRED`) stays.
fn connect_options(url: &str) -> StoreResult<MySqlConnectOptions> {
    // The URL carries the password: never echo it in an error.
    let options = MySqlConnectOptions::from_str(url)
        .map_err(|_| StoreError::Internal("MYSQL_URL is not a valid MySQL URL".to_owned()))?;
    if options.get_database().is_none_or(str::is_empty) {
        return Err(StoreError::Internal(
            "MYSQL_URL must name a database".to_owned(),
        ));
    }
    let names_ssl_mode = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split_once('=').map_or(pair, |(key, _)| key);
            key.eq_ignore_ascii_case("ssl-mode") || key.eq_ignore_ascii_case("sslmode")
        })
    });
    let local = options.get_socket().is_some() || is_loopback_host(options.get_host());
    Ok(if names_ssl_mode || local {
        options
    } else {
        options.ssl_mode(MySqlSslMode::VerifyIdentity)
    })
}

/// `localhost`, 127.0.0.0/8 or ::1 (with or without URL brackets).
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
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
        .map_err(|error| map_error(error, MySql::is_transient))?;
    let (acquired,): (Option<i64>,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT GET_LOCK({MIGRATION_LOCK_NAME}, {MIGRATION_LOCK_WAIT_SECONDS})"
    )))
    .fetch_one(&mut *connection)
    .await
    .map_err(|error| map_error(error, MySql::is_transient))?;
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
    migrated.map_err(|error| migrate_error(error, MySql::is_transient))?;
    released.map_err(|error| map_error(error, MySql::is_transient))?;
    Ok(())
}

mod upsert {
    /// `LAST_INSERT_ID(expr)` hands the new count back in the statement's own result (the OK packet), so the
    /// upsert needs no second, racy read. Assignments run left to right: `hits` still sees the old
    /// `window_start`. A hit for an older window than the stored one counts in the stored window.
    pub(super) const HIT: &str = "INSERT INTO throttle_windows (throttle_key, window_start, hits) \
        VALUES (?, ?, LAST_INSERT_ID(1)) \
        ON DUPLICATE KEY UPDATE \
        hits = LAST_INSERT_ID(IF(? > window_start, 1, hits + 1)), \
        window_start = GREATEST(window_start, ?)";
    pub(super) const FAILURE: &str = "INSERT INTO throttle_failures \
        (throttle_key, failures, last_failure_at) VALUES (?, LAST_INSERT_ID(1), ?) \
        ON DUPLICATE KEY UPDATE failures = LAST_INSERT_ID(failures + 1), last_failure_at = ?";
}

/// `INSERT … ON DUPLICATE KEY UPDATE`, the new count handed back through `LAST_INSERT_ID`.
#[async_trait]
impl ThrottleUpserts for SqlStore<MySql> {
    async fn upsert_hit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        let statement = sqlx::query(upsert::HIT)
            .bind(key)
            .bind(window_start)
            .bind(window_start)
            .bind(window_start);
        Ok(self.execute(statement).await?.last_insert_id())
    }

    async fn upsert_failure(&self, key: &str, now: Millis) -> StoreResult<Failures> {
        let statement = sqlx::query(upsert::FAILURE).bind(key).bind(now).bind(now);
        let count = self.execute(statement).await?.last_insert_id();
        Ok(Failures {
            count: failure_count(i64::try_from(count).unwrap_or(i64::MAX)),
            last_failure_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chosen mode, by name (`MySqlSslMode` has no `PartialEq`).
    fn mode(url: &str) -> Option<String> {
        connect_options(url)
            .ok()
            .map(|o| format!("{:?}", o.get_ssl_mode()))
    }

    fn name(mode: MySqlSslMode) -> Option<String> {
        Some(format!("{mode:?}"))
    }

    #[test]
    fn remote_hosts_verify_the_server_identity_by_default() {
        for url in [
            "mysql://app:secret@db.example.net:3306/e2ee",
            "mysql://app@10.0.0.5/e2ee",
            "mysql://app@[2001:db8::1]:3306/e2ee",
            "mysql://app@128.0.0.1/e2ee",
            "mysql://app@db.example.net/e2ee?charset=utf8mb4",
        ] {
            assert_eq!(mode(url), name(MySqlSslMode::VerifyIdentity), "{url}");
        }
    }

    #[test]
    fn loopback_hosts_and_sockets_keep_the_default() {
        let default = name(MySqlConnectOptions::new().get_ssl_mode());
        assert_eq!(default, name(MySqlSslMode::Preferred));
        for url in [
            "mysql://root@127.0.0.1:3306/e2ee",
            "mysql://root@127.1.2.3/e2ee",
            "mysql://root@localhost/e2ee",
            "mysql://root@LOCALHOST:3306/e2ee",
            "mysql://root@[::1]:3306/e2ee",
            "mysql://root@db.example.net/e2ee?socket=/run/mysqld/mysqld.sock",
        ] {
            assert_eq!(mode(url), default, "{url}");
        }
    }

    #[test]
    fn a_mode_named_in_the_url_wins() {
        assert_eq!(
            mode("mysql://app@db.example.net/e2ee?ssl-mode=REQUIRED"),
            name(MySqlSslMode::Required)
        );
        assert_eq!(
            mode("mysql://app@db.example.net/e2ee?charset=utf8mb4&sslmode=disabled"),
            name(MySqlSslMode::Disabled)
        );
        assert_eq!(
            mode("mysql://root@127.0.0.1/e2ee?ssl-mode=VERIFY_CA"),
            name(MySqlSslMode::VerifyCa)
        );
    }

    #[test]
    fn invalid_urls_are_internal_errors() {
        for url in [
            "not a url",
            "mysql://app@db.example.net",
            "mysql://app@h/e2ee?ssl-mode=bogus",
        ] {
            assert!(
                matches!(connect_options(url), Err(StoreError::Internal(_))),
                "{url}"
            );
        }
    }
}
