//! Messages: chat records, ordering, idempotent insert, pages and read receipts.

use async_trait::async_trait;
use e2ee_protocol::Order;
use e2ee_protocol::ids::{chat_id, is_chat_id};

use super::{ChatRecord, MessageRecords, Messages, PageCollector, Written, bounded};
use crate::cursor::Scope;
use crate::error::{StoreError, StoreResult};
use crate::ids::{self, created_after, now_millis};
use crate::model::{Inserted, Message, MessageStore, NewMessage, Page, PageRequest};
use crate::validate;

impl<R: MessageRecords> Messages<R> {
    /// Records the chat of a message about to be stored, unless it is recorded already.
    async fn ensure_chat(&self, chat_id: &str, a: &str, b: &str) -> StoreResult<()> {
        if self.0.chat(chat_id).await?.is_some() {
            return Ok(());
        }
        // Concurrent first messages all try; the unique chat id keeps one record, and all of them carry the
        // same participants, so losing the race changes nothing.
        self.0
            .insert_chat(&ChatRecord::new(chat_id.to_owned(), a, b, now_millis()))
            .await?;
        Ok(())
    }

    /// The message a refused insert of `record` collided with, if it is a retry of the same envelope.
    async fn retried(&self, record: &Message) -> StoreResult<Inserted> {
        let existing = self
            .0
            .message_by_client_id(&record.sender_id, &record.client_message_id)
            .await?
            .ok_or_else(|| StoreError::Internal("duplicate message vanished".to_owned()))?;
        if existing.envelope == record.envelope {
            Ok(Inserted::Existing(existing))
        } else {
            Err(StoreError::MessageIdReused)
        }
    }
}

#[async_trait]
impl<R: MessageRecords> MessageStore for Messages<R> {
    async fn insert(&self, message: NewMessage) -> StoreResult<Inserted> {
        bounded(async {
            validate::new_message(&message)?;
            let chat_id = chat_id(&message.sender_id, &message.receiver_id);
            // Before the message: a stored message always has its chat (an interrupted insert may leave a chat
            // without messages, which is harmless: it only tells who may read an empty history).
            self.ensure_chat(&chat_id, &message.sender_id, &message.receiver_id)
                .await?;
            // Strictly after everything already in the chat, so a reader paging forward never misses a message
            // written after it read a page, even within the same millisecond.
            let latest = self.0.newest_created_at_in_chat(&chat_id).await?;
            let record = Message {
                id: ids::new_message_id(),
                chat_id,
                sender_id: message.sender_id,
                receiver_id: message.receiver_id,
                client_message_id: message.client_message_id,
                envelope: message.envelope,
                created_at: created_after(latest),
                read_at: None,
            };
            match self.0.insert_message(&record).await? {
                Written::Inserted => Ok(Inserted::Created(record)),
                Written::Duplicate => self.retried(&record).await,
            }
        })
        .await
    }

    async fn chat_participants(&self, chat_id: &str) -> StoreResult<Option<[String; 2]>> {
        bounded(async {
            if !is_chat_id(chat_id) {
                return Ok(None);
            }
            if let Some(chat) = self.0.chat(chat_id).await? {
                return Ok(Some([chat.user_low, chat.user_high]));
            }
            // Messages stored before chats were recorded (MongoDB data from before, or an instance of the
            // previous version during a rolling deploy): the oldest message names the participants; record it.
            let oldest_first = Scope::History {
                chat_id,
                order: Order::Asc,
            };
            let mut first = PageCollector::first(oldest_first, 1);
            self.0.chat_after(chat_id, &mut first).await?;
            let Some(message) = first.items().first() else {
                return Ok(None);
            };
            let chat = ChatRecord::new(
                chat_id.to_owned(),
                &message.sender_id,
                &message.receiver_id,
                message.created_at,
            );
            self.0.insert_chat(&chat).await?;
            Ok(Some([chat.user_low, chat.user_high]))
        })
        .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<Message>> {
        bounded(self.0.message_by_id(id)).await
    }

    async fn unread_for(&self, receiver_id: &str, page: PageRequest) -> StoreResult<Page<Message>> {
        bounded(async {
            let mut page = PageCollector::start(Scope::Unread { receiver_id }, &page)?;
            self.0.unread_after(receiver_id, &mut page).await?;
            page.into_page()
        })
        .await
    }

    async fn history(
        &self,
        chat_id: &str,
        order: Order,
        page: PageRequest,
    ) -> StoreResult<Page<Message>> {
        bounded(async {
            let mut page = PageCollector::start(Scope::History { chat_id, order }, &page)?;
            self.0.chat_after(chat_id, &mut page).await?;
            page.into_page()
        })
        .await
    }

    async fn mark_read(&self, id: &str, caller_id: &str) -> StoreResult<Message> {
        bounded(async {
            // One conditional write, then read back: concurrent calls all return the first read_at.
            self.0
                .set_read_at_if_unread(id, caller_id, now_millis())
                .await?;
            let message = self
                .0
                .message_by_id(id)
                .await?
                .ok_or(StoreError::MessageNotFound)?;
            if message.receiver_id != caller_id {
                return Err(StoreError::NotTheReceiver);
            }
            if message.read_at.is_none() {
                return Err(StoreError::Internal("read_at was not recorded".to_owned()));
            }
            Ok(message)
        })
        .await
    }
}
