//! Reading: the inbox, one message (marked read), and the history with a contact. Every listing is paged
//! by the one paging helper ([`Pager`]); every message is opened by [`Device::open_view`].

use e2ee_protocol::{MAX_PAGE_SIZE, MessagePage, MessageView, Order, chat_id};
use serde::Serialize;

use super::paging::{Pager, page_size};
use super::{Device, UserRef};
use crate::error::{ClientError, Result};
use crate::keyring::KeyRing;
use crate::messages::MessageReport;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryReport {
    pub chat_id: String,
    pub with: UserRef,
    pub messages: Vec<MessageReport>,
    /// True when older messages exist that were not fetched (no `--all`).
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadReport {
    pub message_id: String,
    pub read_at: i64,
    /// The message, when it could be found (the inbox, or the history with a known contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageReport>,
}

/// Looks for the message `message_id` in the listing `what`, page by page (`fetch` gets each page's cursor).
async fn find_message<F, Fut>(
    what: &'static str,
    message_id: &str,
    mut fetch: F,
) -> Result<Option<MessageView>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<MessagePage>>,
{
    let mut pager = Pager::new(what);
    while let Some(cursor) = pager.next_page() {
        let page = fetch(cursor).await?;
        if let Some(view) = page
            .messages
            .into_iter()
            .find(|m| m.message_id == message_id)
        {
            return Ok(Some(view));
        }
        pager.fetched(page.next_cursor, true)?;
    }
    Ok(None)
}

impl Device {
    /// Unread messages, oldest first, decrypted and verified (at most `limit`). With `mark_read`, each one
    /// listed is marked read on the server. Pages may hold fewer messages than asked for (the server caps
    /// them by size): paging goes on while there is a next cursor, within [`super::MAX_PAGES`].
    pub async fn inbox(
        &mut self,
        ring: &mut KeyRing,
        limit: usize,
        mark_read: bool,
    ) -> Result<Vec<MessageReport>> {
        let me = self.me()?;
        let mut views = Vec::new();
        let mut pager = Pager::new("the inbox");
        while let Some(cursor) = pager.next_page().filter(|_| views.len() < limit) {
            let size = page_size(limit - views.len());
            let page = self
                .client
                .receive(&me, Some(size), cursor.as_deref())
                .await?;
            views.extend(page.messages);
            pager.fetched(page.next_cursor, true)?;
        }
        views.truncate(limit);
        let mut reports = self.open_views(ring, &me, &views).await?;
        self.save_contacts()?;
        if mark_read {
            for report in &mut reports {
                let marked = self.client.mark_read(&report.message_id).await?;
                report.read_at = Some(marked.read_at);
            }
        }
        Ok(reports)
    }

    /// Shows one received message and marks it read. The message is looked up in the inbox, then (if it was
    /// already read) in the history with each known contact.
    pub async fn read(&mut self, ring: &mut KeyRing, message_id: &str) -> Result<ReadReport> {
        let me = self.me()?;
        let (client, user_id) = (&self.client, me.as_str());
        let mut found = find_message("the inbox", message_id, |cursor| async move {
            client
                .receive(user_id, Some(MAX_PAGE_SIZE), cursor.as_deref())
                .await
        })
        .await?;
        // Marking first also tells "unknown" (404) and "not yours" (403) apart from "already read".
        let marked = self.client.mark_read(message_id).await.map_err(|error| {
            error.explain_not_found(|message| format!("no message {message_id} ({message})"))
        })?;
        if found.is_none() {
            found = self.find_in_histories(&me, message_id).await?;
        }
        let message = match found {
            Some(mut view) => {
                view.read_at = Some(marked.read_at);
                Some(self.open_view(ring, &me, &view).await?)
            }
            None => None,
        };
        self.save_contacts()?;
        Ok(ReadReport {
            message_id: marked.message_id,
            read_at: marked.read_at,
            message,
        })
    }

    /// The chat with `username`, oldest first: the latest `limit` messages, or every message with `all`.
    /// A chat without messages yet (the server answers `404 chat_not_found`) is empty.
    pub async fn history(
        &mut self,
        ring: &mut KeyRing,
        username: &str,
        limit: usize,
        all: bool,
    ) -> Result<HistoryReport> {
        let me = self.me()?;
        let user = self.lookup(username).await?;
        let chat_id = chat_id(&me, &user.user_id);
        let mut views = Vec::new();
        let mut pager = Pager::new("the chat history");
        while let Some(cursor) = pager.next_page() {
            let (size, order) = if all {
                (MAX_PAGE_SIZE, Order::Asc)
            } else {
                (page_size(limit - views.len()), Order::Desc)
            };
            let page = self
                .history_page(&chat_id, size, cursor.as_deref(), order)
                .await?;
            views.extend(page.messages);
            pager.fetched(page.next_cursor, all || views.len() < limit)?;
        }
        if !all {
            views.truncate(limit);
            views.reverse();
        }
        let messages = self.open_views(ring, &me, &views).await?;
        self.save_contacts()?;
        Ok(HistoryReport {
            chat_id,
            with: UserRef {
                user_id: user.user_id,
                username: user.username,
            },
            messages,
            truncated: pager.truncated(),
        })
    }

    /// Opens each of `views`, in order.
    async fn open_views(
        &mut self,
        ring: &mut KeyRing,
        me: &str,
        views: &[MessageView],
    ) -> Result<Vec<MessageReport>> {
        let mut reports = Vec::with_capacity(views.len());
        for view in views {
            reports.push(self.open_view(ring, me, view).await?);
        }
        Ok(reports)
    }

    /// One page of a chat's history; a chat the server does not know (no message yet) is empty.
    async fn history_page(
        &self,
        chat_id: &str,
        limit: u32,
        cursor: Option<&str>,
        order: Order,
    ) -> Result<MessagePage> {
        match self
            .client
            .history(chat_id, Some(limit), cursor, order)
            .await
        {
            Err(ClientError::Api {
                status: 404,
                code: e2ee_protocol::ErrorCode::ChatNotFound,
                ..
            }) => Ok(MessagePage {
                messages: Vec::new(),
                next_cursor: None,
            }),
            other => other,
        }
    }

    /// The message `message_id` in the history with one of the known contacts.
    async fn find_in_histories(&self, me: &str, message_id: &str) -> Result<Option<MessageView>> {
        for peer in self.contacts.contacts.keys() {
            let chat = chat_id(me, peer);
            let chat = chat.as_str();
            let found = find_message("a chat history", message_id, |cursor| async move {
                self.history_page(chat, MAX_PAGE_SIZE, cursor.as_deref(), Order::Desc)
                    .await
            })
            .await?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }
}
