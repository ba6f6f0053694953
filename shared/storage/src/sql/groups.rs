//! `GroupRecords` on SQL: single statements on `group_log`.

use async_trait::async_trait;
use sqlx::{Encode, Executor, Type};

use super::rows::{EpochRow, LogRow, MembersRow, SeqRow};
use super::{Dialect, SqlStore, statements};
use crate::engine::{GroupRecords, LogRecord, Written};
use crate::error::{StoreError, StoreResult};
use crate::groups::GroupDevice;

#[async_trait]
impl<DB> GroupRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> LogRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> EpochRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> SeqRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> MembersRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_log_record(&self, record: &LogRecord) -> StoreResult<Written> {
        let members = record
            .members
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|error| StoreError::Internal(error.to_string()))?;
        let statement = sqlx::query(statements::INSERT_LOG_RECORD)
            .bind(record.group_id.as_str())
            .bind(record.seq)
            .bind(record.kind.as_str())
            .bind(record.epoch)
            .bind(record.commit_epoch)
            .bind(record.sender.user_id.as_str())
            .bind(record.sender.device_id.as_str())
            .bind(record.client_message_id.as_str())
            .bind(record.message.as_slice())
            .bind(record.created_at)
            .bind(record.welcome.as_deref())
            .bind(record.group_info.as_deref())
            .bind(record.public_state.as_deref())
            .bind(members);
        self.insert_unique(statement).await
    }

    async fn newest_epoch(&self, group_id: &str) -> StoreResult<Option<LogRecord>> {
        let query = sqlx::query_as::<_, EpochRow>(statements::NEWEST_EPOCH).bind(group_id);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn epoch_record(&self, group_id: &str, epoch: i64) -> StoreResult<Option<LogRecord>> {
        let query = sqlx::query_as::<_, EpochRow>(statements::EPOCH_RECORD)
            .bind(group_id)
            .bind(epoch);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn last_seq(&self, group_id: &str) -> StoreResult<Option<i64>> {
        let query = sqlx::query_as::<_, SeqRow>(statements::LAST_SEQ).bind(group_id);
        Ok(self.optional(query).await?.map(|row| row.seq))
    }

    async fn epoch_members(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<Vec<GroupDevice>>> {
        let query = sqlx::query_as::<_, MembersRow>(statements::EPOCH_MEMBERS)
            .bind(group_id)
            .bind(epoch);
        self.optional(query)
            .await?
            .map(MembersRow::members)
            .transpose()
    }

    async fn log_record_by_client_id(
        &self,
        group_id: &str,
        sender: &GroupDevice,
        client_message_id: &str,
    ) -> StoreResult<Option<LogRecord>> {
        let query = sqlx::query_as::<_, LogRow>(statements::LOG_RECORD_BY_CLIENT_ID)
            .bind(group_id)
            .bind(sender.user_id.as_str())
            .bind(sender.device_id.as_str())
            .bind(client_message_id);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn log_after(
        &self,
        group_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<LogRecord>> {
        let query = sqlx::query_as::<_, LogRow>(statements::LOG_AFTER)
            .bind(group_id)
            .bind(after_seq)
            .bind(limit);
        self.all(query)
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }
}
