//! `ThrottleRecords` on SQL: reading and clearing a failure counter are the same statements everywhere; the two
//! upserts differ per database ([`ThrottleUpserts`], in `sqlite.rs` and `mysql.rs`).

use async_trait::async_trait;
use sqlx::{Encode, Executor, Type};

use super::rows::FailuresRow;
use super::{Dialect, SqlStore, statements};
use crate::engine::ThrottleRecords;
use crate::error::StoreResult;
use crate::model::{Failures, Millis};

/// The throttle statements whose upsert syntax is the database's own, each one atomic statement: SQLite
/// `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, MySQL `INSERT … ON DUPLICATE KEY UPDATE` with
/// `LAST_INSERT_ID(expr)`.
#[async_trait]
pub(super) trait ThrottleUpserts: Send + Sync {
    /// See [`ThrottleRecords::hit_window`].
    async fn upsert_hit(&self, key: &str, window_start: Millis) -> StoreResult<u64>;
    /// See [`ThrottleRecords::add_failure`].
    async fn upsert_failure(&self, key: &str, now: Millis) -> StoreResult<Failures>;
}

#[async_trait]
impl<DB> ThrottleRecords for SqlStore<DB>
where
    DB: Dialect,
    SqlStore<DB>: ThrottleUpserts,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'r> FailuresRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn hit_window(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        self.upsert_hit(key, window_start).await
    }

    async fn failure_counter(&self, key: &str) -> StoreResult<Option<Failures>> {
        let query = sqlx::query_as::<_, FailuresRow>(statements::FAILURES).bind(key);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn add_failure(&self, key: &str, now: Millis) -> StoreResult<Failures> {
        self.upsert_failure(key, now).await
    }

    async fn delete_failures(&self, key: &str) -> StoreResult<()> {
        self.execute(sqlx::query(statements::CLEAR_FAILURES).bind(key))
            .await?;
        Ok(())
    }
}
