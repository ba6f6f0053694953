//! `UserRecords` on SQL.

use async_trait::async_trait;
use sqlx::{Encode, Executor, Type};

use super::rows::UserRow;
use super::{Dialect, SqlStore, statements};
use crate::engine::{UserRecords, Written};
use crate::error::StoreResult;
use crate::model::User;

#[async_trait]
impl<DB> UserRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> UserRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_user(&self, user: &User, username_folded: &str) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_USER)
            .bind(user.id.as_str())
            .bind(user.username.as_str())
            .bind(username_folded)
            .bind(user.password_hash.as_str())
            .bind(user.display_name.as_deref())
            .bind(user.created_at);
        self.insert_unique(statement).await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        let query = sqlx::query_as::<_, UserRow>(statements::USER_BY_ID).bind(id);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn user_by_folded_username(&self, username_folded: &str) -> StoreResult<Option<User>> {
        let query =
            sqlx::query_as::<_, UserRow>(statements::USER_BY_FOLDED_USERNAME).bind(username_folded);
        Ok(self.optional(query).await?.map(Into::into))
    }
}
