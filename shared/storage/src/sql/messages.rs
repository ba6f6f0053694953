//! `MessageRecords` on SQL.

use async_trait::async_trait;
use e2ee_protocol::Order;
use sqlx::types::Json;
use sqlx::{Encode, Executor, Type};

use super::rows::{ChatRow, MessageRow, NewestRow};
use super::{Dialect, SqlStore, statements};
use crate::engine::{ChatRecord, MessageRecords, PageCollector, Written};
use crate::error::StoreResult;
use crate::model::{Message, Millis};

#[async_trait]
impl<DB> MessageRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Json<&'q serde_json::Value>: Encode<'q, DB> + Type<DB>,
    for<'r> ChatRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> MessageRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> NewestRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_chat(&self, chat: &ChatRecord) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_CHAT)
            .bind(chat.chat_id.as_str())
            .bind(chat.user_low.as_str())
            .bind(chat.user_high.as_str())
            .bind(chat.created_at);
        self.insert_unique(statement).await
    }

    async fn chat(&self, chat_id: &str) -> StoreResult<Option<ChatRecord>> {
        let query = sqlx::query_as::<_, ChatRow>(statements::CHAT).bind(chat_id);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_MESSAGE)
            .bind(message.id.as_str())
            .bind(message.chat_id.as_str())
            .bind(message.sender_id.as_str())
            .bind(message.receiver_id.as_str())
            .bind(message.client_message_id.as_str())
            .bind(Json(&message.envelope))
            .bind(message.created_at);
        self.insert_unique(statement).await
    }

    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>> {
        let query = sqlx::query_as::<_, MessageRow>(statements::MESSAGE_BY_ID).bind(id);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>> {
        let query = sqlx::query_as::<_, MessageRow>(statements::MESSAGE_BY_CLIENT_ID)
            .bind(sender_id)
            .bind(client_message_id);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>> {
        let query =
            sqlx::query_as::<_, NewestRow>(statements::NEWEST_CREATED_AT_IN_CHAT).bind(chat_id);
        Ok(self.one(query).await?.newest)
    }

    async fn unread_after(&self, receiver: &str, page: &mut PageCollector<'_>) -> StoreResult<()> {
        // The start position is copied out, so the page can be filled while the query borrows it.
        let after = page.after().cloned();
        let query = match &after {
            None => sqlx::query_as(statements::UNREAD_FIRST).bind(receiver),
            Some(position) => sqlx::query_as(statements::UNREAD_AFTER)
                .bind(receiver)
                .bind(position.created_at)
                .bind(position.created_at)
                .bind(position.id.as_str()),
        };
        self.offer_page(query, page).await
    }

    async fn chat_after(&self, chat_id: &str, page: &mut PageCollector<'_>) -> StoreResult<()> {
        let after = page.after().cloned();
        let query = match (page.order(), &after) {
            (Order::Asc, None) => sqlx::query_as(statements::CHAT_ASC_FIRST).bind(chat_id),
            (Order::Desc, None) => sqlx::query_as(statements::CHAT_DESC_FIRST).bind(chat_id),
            (order, Some(position)) => {
                let sql = match order {
                    Order::Asc => statements::CHAT_ASC_AFTER,
                    Order::Desc => statements::CHAT_DESC_AFTER,
                };
                sqlx::query_as(sql)
                    .bind(chat_id)
                    .bind(position.created_at)
                    .bind(position.created_at)
                    .bind(position.id.as_str())
            }
        };
        self.offer_page(query, page).await
    }

    async fn set_read_at_if_unread(&self, id: &str, receiver: &str, at: Millis) -> StoreResult<()> {
        let statement = sqlx::query(statements::SET_READ_AT_IF_UNREAD)
            .bind(at)
            .bind(id)
            .bind(receiver);
        self.execute(statement).await?;
        Ok(())
    }
}

impl<DB> SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> MessageRow: sqlx::FromRow<'r, DB::Row>,
{
    /// Binds the row count of `page` as the query's last parameter (`LIMIT ?`) and streams the rows into it.
    async fn offer_page(
        &self,
        query: super::RowsOf<'_, DB, MessageRow>,
        page: &mut PageCollector<'_>,
    ) -> StoreResult<()> {
        let query = query.bind(i64::from(page.fetch()));
        self.offer_each(query, |row| page.offer(row.into())).await
    }
}
