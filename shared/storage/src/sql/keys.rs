//! `KeyRecords` on SQL.

use async_trait::async_trait;
use sqlx::{Encode, Executor, Type};

use super::rows::{KeyIdRow, KeyRow};
use super::{Dialect, SqlStore, statements};
use crate::engine::{KeyChange, KeyPosition, KeyRecords, Written};
use crate::error::StoreResult;
use crate::model::{Millis, PublicKeyRecord};

#[async_trait]
impl<DB> KeyRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    for<'r> KeyRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> KeyIdRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_KEY)
            .bind(key.user_id.as_str())
            .bind(key.key_id.as_str())
            .bind(key.public_key_pem.as_str())
            .bind(i64::from(key.bits))
            .bind(key.created_at)
            .bind(key.status.as_str())
            .bind(key.retired_at)
            .bind(key.revoked_at);
        let endorsement = key.endorsement.as_ref();
        let statement = statement
            .bind(endorsement.map(|e| e.key_id.as_str()))
            .bind(endorsement.map(|e| e.created_at))
            .bind(endorsement.map(|e| e.signature.as_slice()));
        self.insert_unique(statement).await
    }

    async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
        let query = sqlx::query_as::<_, KeyRow>(statements::KEY)
            .bind(user_id)
            .bind(key_id);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>> {
        let query = sqlx::query_as::<_, KeyRow>(statements::KEYS_NEWEST_FIRST).bind(user_id);
        self.all(query)
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>> {
        let sql = if active_only {
            statements::NEWEST_ACTIVE_KEY
        } else {
            statements::NEWEST_KEY
        };
        let query = sqlx::query_as::<_, KeyRow>(sql).bind(user_id);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn retire_active_keys_older_than(
        &self,
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()> {
        let statement = sqlx::query(statements::RETIRE_ACTIVE_KEYS_OLDER_THAN)
            .bind(retired_at)
            .bind(position.user_id.as_str())
            .bind(position.created_at)
            .bind(position.created_at)
            .bind(position.key_id.as_str());
        self.execute(statement).await?;
        Ok(())
    }

    async fn active_key_newer_than_exists(&self, position: &KeyPosition) -> StoreResult<bool> {
        let query = sqlx::query_as::<_, KeyIdRow>(statements::ACTIVE_KEY_NEWER_THAN)
            .bind(position.user_id.as_str())
            .bind(position.created_at)
            .bind(position.created_at)
            .bind(position.key_id.as_str());
        Ok(self.optional(query).await?.is_some())
    }

    async fn change_key(
        &self,
        user_id: &str,
        key_id: &str,
        to: KeyChange<'_>,
    ) -> StoreResult<bool> {
        // Each statement is `UPDATE … SET …, <time> = ?[, <endorsement> = ?, ?, ?] WHERE user_id = ? AND
        // key_id = ? AND <status>`.
        let statement = match to {
            KeyChange::Retire { retired_at } => {
                sqlx::query(statements::RETIRE_KEY_IF_ACTIVE).bind(retired_at)
            }
            KeyChange::Revoke { revoked_at } => {
                sqlx::query(statements::REVOKE_KEY).bind(revoked_at)
            }
            KeyChange::Activate {
                created_at,
                endorsement,
            } => sqlx::query(statements::ACTIVATE_PENDING_KEY)
                .bind(created_at)
                .bind(endorsement.map(|e| e.key_id.as_str()))
                .bind(endorsement.map(|e| e.created_at))
                .bind(endorsement.map(|e| e.signature.as_slice())),
        };
        let statement = statement.bind(user_id).bind(key_id);
        Ok(DB::rows_affected(&self.execute(statement).await?) > 0)
    }
}
