//! `MessageRecords` on MongoDB: `messages` and `chats`.

use async_trait::async_trait;
use e2ee_protocol::Order;
use futures_util::TryStreamExt;
use mongodb::action::Find;
use mongodb::bson::{Bson, DateTime, Document, doc};

use super::codec::{
    beyond, chat_from_document, chat_to_document, message_from_document, message_to_document,
    required_millis,
};
use super::{MongoStore, decode_one, insert_unique, map_error};
use crate::engine::{ChatRecord, MessageRecords, PageCollector, Written};
use crate::error::StoreResult;
use crate::model::{Message, Millis};

/// `(operator, direction)` of a page: `$gt` and ascending, or `$lt` and descending (newest-first history).
fn direction(page: &PageCollector<'_>) -> (&'static str, i32) {
    match page.order() {
        Order::Asc => ("$gt", 1),
        Order::Desc => ("$lt", -1),
    }
}

/// Messages strictly beyond the page's start (in its direction) that also match `filter`.
fn page_filter(page: &PageCollector<'_>, filter: Document) -> Document {
    let mut beyond_start = match page.after() {
        Some(position) => beyond(direction(page).0, position.created_at, "_id", &position.id),
        None => Document::new(),
    };
    beyond_start.extend(filter);
    beyond_start
}

/// Streams the documents of a page query, sorted by `(created_at, _id)` in the page's direction, into `page`
/// until it declines one. The driver holds one batch at a time (the server caps a batch at 16 MiB), so rows
/// beyond the page are never all in memory.
async fn offer_messages(find: Find<'_, Document>, page: &mut PageCollector<'_>) -> StoreResult<()> {
    let fetch = page.fetch();
    let (_, direction) = direction(page);
    let mut cursor = find
        .sort(doc! { "created_at": direction, "_id": direction })
        .limit(i64::from(fetch))
        .batch_size(fetch)
        .await
        .map_err(map_error)?;
    while let Some(document) = cursor.try_next().await.map_err(map_error)? {
        if !page.offer(message_from_document(&document)?) {
            break;
        }
    }
    Ok(())
}

#[async_trait]
impl MessageRecords for MongoStore {
    async fn insert_chat(&self, chat: &ChatRecord) -> StoreResult<Written> {
        insert_unique(&self.chats, chat_to_document(chat)).await
    }

    async fn chat(&self, chat_id: &str) -> StoreResult<Option<ChatRecord>> {
        let find = self.chats.find_one(doc! { "chat_id": chat_id });
        decode_one(find, chat_from_document).await
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<Written> {
        insert_unique(&self.messages, message_to_document(message)?).await
    }

    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>> {
        let find = self.messages.find_one(doc! { "_id": id });
        decode_one(find, message_from_document).await
    }

    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>> {
        let filter = doc! { "sender_id": sender_id, "client_message_id": client_message_id };
        decode_one(self.messages.find_one(filter), message_from_document).await
    }

    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>> {
        let newest = self
            .messages
            .find_one(doc! { "chat_id": chat_id })
            .sort(doc! { "created_at": -1, "_id": -1 })
            .projection(doc! { "created_at": 1 })
            .await
            .map_err(map_error)?;
        match newest {
            Some(document) => required_millis(&document, "created_at").map(Some),
            None => Ok(None),
        }
    }

    async fn unread_after(&self, receiver: &str, page: &mut PageCollector<'_>) -> StoreResult<()> {
        let unread = doc! { "receiver_id": receiver, "read_at": Bson::Null };
        let filter = page_filter(page, unread);
        offer_messages(self.messages.find(filter), page).await
    }

    async fn chat_after(&self, chat_id: &str, page: &mut PageCollector<'_>) -> StoreResult<()> {
        let filter = page_filter(page, doc! { "chat_id": chat_id });
        offer_messages(self.messages.find(filter), page).await
    }

    async fn set_read_at_if_unread(&self, id: &str, receiver: &str, at: Millis) -> StoreResult<()> {
        self.messages
            .update_one(
                doc! { "_id": id, "receiver_id": receiver, "read_at": Bson::Null },
                doc! { "$set": { "read_at": DateTime::from_millis(at) } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
