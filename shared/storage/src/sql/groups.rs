//! `GroupRecords` on SQL: single statements on `group_log`.

use async_trait::async_trait;
use sqlx::{Encode, Executor, Type};

use super::rows::{
    CommitWelcomeRow, CountRow, DeviceGroupRow, EpochRow, HeadRow, LogRow, MembersRow, PositionRow,
    SeqRow, WelcomeEntryRow,
};
use super::{Dialect, SqlStore, statements};
use crate::engine::{GroupRecords, LogRecord, WelcomeEntry, Written};
use crate::error::{StoreError, StoreResult};
use crate::groups::GroupDevice;
use crate::model::Millis;

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
    for<'r> PositionRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> MembersRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> WelcomeEntryRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> CommitWelcomeRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> HeadRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> DeviceGroupRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> CountRow: sqlx::FromRow<'r, DB::Row>,
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

    async fn newest_position(&self, group_id: &str) -> StoreResult<Option<(i64, i64)>> {
        let query = sqlx::query_as::<_, PositionRow>(statements::NEWEST_POSITION).bind(group_id);
        Ok(self
            .optional(query)
            .await?
            .map(|row| (row.commit_epoch, row.seq)))
    }

    async fn newest_members(
        &self,
        group_id: &str,
    ) -> StoreResult<Option<(i64, i64, Vec<GroupDevice>)>> {
        let query = sqlx::query_as::<_, HeadRow>(statements::NEWEST_MEMBERS).bind(group_id);
        self.optional(query)
            .await?
            .map(|row| Ok((row.commit_epoch, row.seq, row.members.members()?)))
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

    async fn insert_welcome_entry(&self, entry: &WelcomeEntry) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_WELCOME_ENTRY)
            .bind(entry.device.user_id.as_str())
            .bind(entry.device.device_id.as_str())
            .bind(entry.group_id.as_str())
            .bind(entry.epoch)
            .bind(entry.commit_hash.as_slice())
            .bind(entry.created_at);
        self.insert_unique(statement).await
    }

    async fn welcome_entries(
        &self,
        device: &GroupDevice,
        after: Option<(Millis, &str, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<WelcomeEntry>> {
        // From the start: before every stored entry (created_at is a time in ms, never i64::MIN).
        let (created_at, group_id, epoch) = after.unwrap_or((i64::MIN, "", i64::MIN));
        let query = sqlx::query_as::<_, WelcomeEntryRow>(statements::WELCOME_ENTRIES)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(created_at)
            .bind(created_at)
            .bind(group_id)
            .bind(group_id)
            .bind(epoch)
            .bind(limit);
        Ok(self.all(query).await?.into_iter().map(Into::into).collect())
    }

    async fn delete_welcome_entries(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
        commit_hash: Option<&[u8]>,
    ) -> StoreResult<()> {
        let sql = match commit_hash {
            Some(_) => statements::DELETE_WELCOME_ENTRY,
            None => statements::DELETE_WELCOME_ENTRIES,
        };
        let mut statement = sqlx::query(sql)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(group_id)
            .bind(epoch);
        if let Some(hash) = commit_hash {
            statement = statement.bind(hash);
        }
        self.execute(statement).await?;
        Ok(())
    }

    async fn insert_device_group(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_DEVICE_GROUP)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(group_id)
            .bind(epoch);
        self.insert_unique(statement).await
    }

    async fn device_groups(
        &self,
        device: &GroupDevice,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        let query = sqlx::query_as::<_, DeviceGroupRow>(statements::DEVICE_GROUPS)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(after)
            .bind(limit);
        Ok(self
            .all(query)
            .await?
            .into_iter()
            .map(|row| (row.group_id, row.epoch))
            .collect())
    }

    async fn delete_device_groups(
        &self,
        device: &GroupDevice,
        group_id: &str,
        up_to_epoch: i64,
    ) -> StoreResult<()> {
        let statement = sqlx::query(statements::DELETE_DEVICE_GROUPS)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(group_id)
            .bind(up_to_epoch);
        self.execute(statement).await?;
        Ok(())
    }

    async fn commit_and_welcome(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<(Vec<u8>, Option<Vec<u8>>)>> {
        let query = sqlx::query_as::<_, CommitWelcomeRow>(statements::COMMIT_AND_WELCOME)
            .bind(group_id)
            .bind(epoch);
        Ok(self
            .optional(query)
            .await?
            .map(|row| (row.message, row.welcome)))
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

    async fn epoch_at(&self, group_id: &str, seq: i64) -> StoreResult<Option<i64>> {
        let query = sqlx::query_as::<_, PositionRow>(statements::EPOCH_AT)
            .bind(group_id)
            .bind(seq);
        Ok(self.optional(query).await?.map(|row| row.commit_epoch))
    }

    async fn drop_states(&self, group_id: &str, epochs: std::ops::Range<i64>) -> StoreResult<()> {
        let statement = sqlx::query(statements::DROP_STATES)
            .bind(group_id)
            .bind(epochs.start)
            .bind(epochs.end);
        self.execute(statement).await?;
        Ok(())
    }

    async fn count_states(&self, group_id: &str) -> StoreResult<u64> {
        let query = sqlx::query_as::<_, CountRow>(statements::COUNT_STATES).bind(group_id);
        let count = self.optional(query).await?.map_or(0, |row| row.count);
        Ok(u64::try_from(count).unwrap_or(0))
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
