//! The contract's rules, written once for every backend.
//!
//! A backend implements the small record-level traits below (single statements / single-document operations,
//! no transactions). The wrappers [`Users`], [`Keys`], [`Messages`] and [`Throttle`] turn them into the public
//! [`UserStore`], [`KeyStore`], [`MessageStore`] and [`ThrottleStore`]: validation, id and time assignment,
//! idempotency, key rotation, chat records, cursors, page limits and the per-operation time bound all live here.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::cursor::{self, Position, Scope};
use crate::ids::{self, created_after, now_millis};
use crate::model::{
    Failures, Inserted, KeyStatus, KeyStore, MAX_PAGE_BYTES, Message, MessageStore, Millis,
    NewMessage, NewPublicKey, NewUser, Order, PAGE_MESSAGE_OVERHEAD_BYTES, Page, PageRequest,
    PublicKeyRecord, StoreError, StoreResult, ThrottleStore, User, UserStore,
};
use crate::validate;

/// Upper bound on any single store operation, so a hung database surfaces as `Unavailable` (retryable) well
/// within the 5 s the API promises, even where a driver has no timeout of its own (e.g. a silent network).
pub(crate) const OPERATION_TIMEOUT: Duration = Duration::from_millis(4500);

async fn bounded<T>(operation: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "operation timed out after {} ms",
                OPERATION_TIMEOUT.as_millis()
            )))
        })
}

/// Outcome of inserting a record that has a unique key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    Inserted,
    /// A unique index refused the record (SQL unique violation / MongoDB error 11000).
    Duplicate,
}

/// A key's place in the user's history: newer means a larger `(created_at, key_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyPosition {
    pub(crate) created_at: Millis,
    pub(crate) key_id: String,
}

/// A 1:1 chat and its two participants, bytewise sorted (`user_low <= user_high`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChatRecord {
    pub(crate) chat_id: String,
    pub(crate) user_low: String,
    pub(crate) user_high: String,
    pub(crate) created_at: Millis,
}

impl ChatRecord {
    fn new(chat_id: String, a: &str, b: &str, created_at: Millis) -> Self {
        let (low, high) = if a.as_bytes() <= b.as_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        ChatRecord {
            chat_id,
            user_low: low.to_owned(),
            user_high: high.to_owned(),
            created_at,
        }
    }
}

/// What one message counts against [`MAX_PAGE_BYTES`]: its envelope's compact JSON length plus
/// [`PAGE_MESSAGE_OVERHEAD_BYTES`] for the other fields.
pub(crate) fn page_bytes(message: &Message) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serializing a `Value` cannot fail; if it ever did, count the message as a full page (it then travels alone).
    let envelope = match serde_json::to_writer(&mut counter, &message.envelope) {
        Ok(()) => counter.0,
        Err(_) => MAX_PAGE_BYTES,
    };
    envelope.saturating_add(PAGE_MESSAGE_OVERHEAD_BYTES)
}

/// Collects one page while a backend streams the rows of a page query in page order, and says when to stop
/// reading: after `limit` messages plus one (which only tells that more follow), or as soon as the next message
/// would take the page beyond [`MAX_PAGE_BYTES`]. Backends query at most [`PageCollector::fetch`] rows and offer
/// them one by one, so a page of large envelopes never holds much more than the page in memory.
#[derive(Debug)]
pub(crate) struct PageCollector {
    limit: usize,
    items: Vec<Message>,
    bytes: usize,
    /// A message beyond the page was seen (the page is cut by count or by size).
    more: bool,
}

impl PageCollector {
    pub(crate) fn new(limit: u32) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        PageCollector {
            limit,
            items: Vec::with_capacity(limit.min(128)),
            bytes: 0,
            more: false,
        }
    }

    /// How many rows a backend needs at most: the page, plus one to learn whether more follow.
    pub(crate) fn fetch(&self) -> u32 {
        u32::try_from(self.limit.saturating_add(1)).unwrap_or(u32::MAX)
    }

    /// Offers the next message in page order. `false`: the page is complete, stop reading.
    pub(crate) fn offer(&mut self, message: Message) -> bool {
        if self.more {
            return false;
        }
        if self.items.len() >= self.limit {
            self.more = true;
            return false;
        }
        let size = page_bytes(&message);
        // The first message always fits, so a page is never empty while messages are available.
        if !self.items.is_empty() && self.bytes.saturating_add(size) > MAX_PAGE_BYTES {
            self.more = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(message);
        true
    }

    fn into_page(self, scope: Scope<'_>) -> StoreResult<Page<Message>> {
        let next_cursor = match (self.more, self.items.last()) {
            (true, Some(last)) => Some(cursor::encode(
                scope,
                &Position {
                    created_at: last.created_at,
                    id: last.id.clone(),
                },
            )?),
            _ => None,
        };
        Ok(Page {
            items: self.items,
            next_cursor,
        })
    }
}

#[async_trait]
pub(crate) trait UserRecords: Send + Sync + 'static {
    async fn insert_user(&self, user: &User, username_folded: &str) -> StoreResult<Written>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<User>>;
    async fn user_by_folded_username(&self, username_folded: &str) -> StoreResult<Option<User>>;
}

#[async_trait]
pub(crate) trait KeyRecords: Send + Sync + 'static {
    async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written>;
    async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>>;
    /// All keys of the user, newest (largest `(created_at, key_id)`) first.
    async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>>;
    /// The newest key of the user (any status), or the newest active one when `active_only`.
    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>>;
    /// Sets every active key of the user older than `position` to retired at `retired_at`.
    async fn retire_active_keys_older_than(
        &self,
        user_id: &str,
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()>;
    async fn active_key_newer_than_exists(
        &self,
        user_id: &str,
        position: &KeyPosition,
    ) -> StoreResult<bool>;
    /// Active → retired at `retired_at` for one key; any other status is left alone.
    async fn retire_key_if_active(
        &self,
        user_id: &str,
        key_id: &str,
        retired_at: Millis,
    ) -> StoreResult<()>;
    /// Any status but revoked → revoked at `revoked_at` for one key (`retired_at` is kept; an already revoked
    /// key keeps its first `revoked_at`; no effect on an unknown key).
    async fn revoke_key(&self, user_id: &str, key_id: &str, revoked_at: Millis) -> StoreResult<()>;
    /// Pending → active with the new `created_at` for one key; `false` (and no change) unless it was pending.
    async fn activate_pending_key(
        &self,
        user_id: &str,
        key_id: &str,
        created_at: Millis,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub(crate) trait MessageRecords: Send + Sync + 'static {
    /// Inserts the chat unless one with its id exists (`Duplicate` then, and nothing changes).
    async fn insert_chat(&self, chat: &ChatRecord) -> StoreResult<Written>;
    async fn chat(&self, chat_id: &str) -> StoreResult<Option<ChatRecord>>;
    async fn insert_message(&self, message: &Message) -> StoreResult<Written>;
    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>>;
    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>>;
    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>>;
    /// Offers the receiver's unread messages strictly after `after`, in ascending `(created_at, id)`, to `page`
    /// (at most `page.fetch()` of them, stopping when it declines one).
    async fn unread_after(
        &self,
        receiver_id: &str,
        after: Option<&Position>,
        page: &mut PageCollector,
    ) -> StoreResult<()>;
    /// Offers the chat's messages strictly after `after` in `order` (for `Desc`: strictly before it) to `page`
    /// (at most `page.fetch()` of them, stopping when it declines one).
    async fn chat_after(
        &self,
        chat_id: &str,
        order: Order,
        after: Option<&Position>,
        page: &mut PageCollector,
    ) -> StoreResult<()>;
    /// Sets `read_at` if the message is addressed to `receiver_id` and not read yet; otherwise does nothing.
    async fn set_read_at_if_unread(
        &self,
        id: &str,
        receiver_id: &str,
        read_at: Millis,
    ) -> StoreResult<()>;
}

/// Throttle counters; each method is one atomic statement.
#[async_trait]
pub(crate) trait ThrottleRecords: Send + Sync + 'static {
    /// See [`ThrottleStore::hit`].
    async fn hit_window(&self, key: &str, window_start: Millis) -> StoreResult<u64>;
    async fn failure_counter(&self, key: &str) -> StoreResult<Option<Failures>>;
    /// Count + 1 (1 for a new key) and `last_failure_at = now`, returning the state this statement wrote.
    async fn add_failure(&self, key: &str, now: Millis) -> StoreResult<Failures>;
    async fn delete_failures(&self, key: &str) -> StoreResult<()>;
}

pub(crate) struct Users<R>(pub(crate) R);
pub(crate) struct Keys<R>(pub(crate) R);
pub(crate) struct Messages<R>(pub(crate) R);
pub(crate) struct Throttle<R>(pub(crate) R);

#[async_trait]
impl<R: UserRecords> UserStore for Users<R> {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        bounded(async {
            let valid = validate::new_user(&user)?;
            let record = User {
                id: ids::new_user_id(),
                username: valid.username,
                password_hash: user.password_hash,
                display_name: user.display_name,
                created_at: now_millis(),
            };
            match self.0.insert_user(&record, &valid.username_folded).await? {
                Written::Inserted => Ok(record),
                // The random 128-bit id cannot realistically collide, so the username index refused it.
                Written::Duplicate => Err(StoreError::Conflict("username is taken".to_owned())),
            }
        })
        .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<User>> {
        bounded(self.0.user_by_id(id)).await
    }

    async fn get_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        bounded(async {
            // A name that breaks the rules can never have been registered.
            let Ok(normalized) = validate::normalize_username(username) else {
                return Ok(None);
            };
            self.0
                .user_by_folded_username(&validate::fold_username(&normalized))
                .await
        })
        .await
    }
}

fn conflict_with(status: KeyStatus) -> StoreError {
    StoreError::Conflict(match status {
        KeyStatus::Pending => "the key is pending; activate it with put_active".to_owned(),
        KeyStatus::Active => "the key is already active".to_owned(),
        KeyStatus::Retired | KeyStatus::Revoked => {
            "a retired or revoked key cannot be activated again".to_owned()
        }
    })
}

impl<R: KeyRecords> Keys<R> {
    /// A creation time strictly after every key of the user, so the key sorts as the newest.
    async fn fresh_position(&self, user_id: &str) -> StoreResult<Millis> {
        let latest = self.0.newest_key(user_id, false).await?;
        Ok(created_after(latest.map(|k| k.created_at)))
    }

    async fn stored(&self, user_id: &str, key_id: &str) -> StoreResult<PublicKeyRecord> {
        self.0
            .key(user_id, key_id)
            .await?
            .ok_or_else(|| StoreError::Internal("key record vanished".to_owned()))
    }

    /// `put_active` of a key that already exists: a no-op for the active key, activation for a pending one,
    /// `Conflict` otherwise. `Ok(Err(record))` is final; `Ok(Ok(record))` is a newly activated key that still
    /// needs the rotation step.
    async fn activate_existing(
        &self,
        existing: PublicKeyRecord,
    ) -> StoreResult<Result<PublicKeyRecord, PublicKeyRecord>> {
        match existing.status {
            KeyStatus::Active => Ok(Err(existing)),
            KeyStatus::Retired | KeyStatus::Revoked => Err(conflict_with(existing.status)),
            KeyStatus::Pending => {
                let created_at = self.fresh_position(&existing.user_id).await?;
                if self
                    .0
                    .activate_pending_key(&existing.user_id, &existing.key_id, created_at)
                    .await?
                {
                    return Ok(Ok(PublicKeyRecord {
                        created_at,
                        status: KeyStatus::Active,
                        ..existing
                    }));
                }
                // A concurrent call activated (or revoked) it first: answer as if it had been first.
                let now = self.stored(&existing.user_id, &existing.key_id).await?;
                match now.status {
                    KeyStatus::Active => Ok(Err(now)),
                    status => Err(conflict_with(status)),
                }
            }
        }
    }
}

#[async_trait]
impl<R: KeyRecords> KeyStore for Keys<R> {
    /// Rotation without transactions: the new key is written (or a pending key switched) as active at a
    /// position newer than every key of the user, then every older active key is retired. A concurrent
    /// registration of an even newer key may have finished its retire step before our key appeared, so the
    /// last step checks for a newer active key and, if there is one, retires our own key. Once concurrent
    /// calls have all returned, exactly one key is active: the newest. In between, two keys may briefly both
    /// be active; `active_for_user` then returns the newer one.
    async fn put_active(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord> {
        bounded(async {
            validate::new_public_key(&key)?;
            let record = PublicKeyRecord {
                created_at: self.fresh_position(&key.user_id).await?,
                user_id: key.user_id,
                key_id: key.key_id,
                public_key_pem: key.public_key_pem,
                bits: key.bits,
                status: KeyStatus::Active,
                retired_at: None,
                revoked_at: None,
            };
            let record = match self.0.insert_key(&record).await? {
                Written::Inserted => record,
                Written::Duplicate => {
                    let existing = self.stored(&record.user_id, &record.key_id).await?;
                    match self.activate_existing(existing).await? {
                        Ok(activated) => activated,
                        Err(done) => return Ok(done),
                    }
                }
            };
            let position = KeyPosition {
                created_at: record.created_at,
                key_id: record.key_id.clone(),
            };
            let now = now_millis();
            self.0
                .retire_active_keys_older_than(&record.user_id, &position, now)
                .await?;
            if !self
                .0
                .active_key_newer_than_exists(&record.user_id, &position)
                .await?
            {
                return Ok(record);
            }
            // A concurrent registration of a newer key won: step back, and report what is stored.
            self.0
                .retire_key_if_active(&record.user_id, &record.key_id, now_millis())
                .await?;
            self.stored(&record.user_id, &record.key_id).await
        })
        .await
    }

    async fn put_pending(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord> {
        bounded(async {
            validate::new_public_key(&key)?;
            let record = PublicKeyRecord {
                created_at: self.fresh_position(&key.user_id).await?,
                user_id: key.user_id,
                key_id: key.key_id,
                public_key_pem: key.public_key_pem,
                bits: key.bits,
                status: KeyStatus::Pending,
                retired_at: None,
                revoked_at: None,
            };
            match self.0.insert_key(&record).await? {
                Written::Inserted => Ok(record),
                Written::Duplicate => {
                    let existing = self.stored(&record.user_id, &record.key_id).await?;
                    match existing.status {
                        KeyStatus::Pending => Ok(existing),
                        _ => Err(StoreError::Conflict(
                            "the key is already registered with another status".to_owned(),
                        )),
                    }
                }
            }
        })
        .await
    }

    async fn active_for_user(&self, user_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
        bounded(self.0.newest_key(user_id, true)).await
    }

    async fn get(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
        bounded(self.0.key(user_id, key_id)).await
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>> {
        bounded(self.0.keys_newest_first(user_id)).await
    }

    async fn revoke(&self, user_id: &str, key_id: &str) -> StoreResult<PublicKeyRecord> {
        bounded(async {
            self.0.revoke_key(user_id, key_id, now_millis()).await?;
            self.0
                .key(user_id, key_id)
                .await?
                .ok_or(StoreError::NotFound)
        })
        .await
    }
}

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
}

#[async_trait]
impl<R: MessageRecords> MessageStore for Messages<R> {
    async fn insert(&self, message: NewMessage) -> StoreResult<Inserted> {
        bounded(async {
            validate::new_message(&message)?;
            let chat_id = ids::chat_id(&message.sender_id, &message.receiver_id);
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
                Written::Duplicate => self
                    .0
                    .message_by_client_id(&record.sender_id, &record.client_message_id)
                    .await?
                    .map(Inserted::Existing)
                    .ok_or_else(|| StoreError::Internal("duplicate message vanished".to_owned())),
            }
        })
        .await
    }

    async fn chat_participants(&self, chat_id: &str) -> StoreResult<Option<[String; 2]>> {
        bounded(async {
            if !validate::is_chat_id(chat_id) {
                return Ok(None);
            }
            if let Some(chat) = self.0.chat(chat_id).await? {
                return Ok(Some([chat.user_low, chat.user_high]));
            }
            // Messages stored before chats were recorded (MongoDB data from before, or an instance of the
            // previous version during a rolling deploy): the oldest message names the participants; record it.
            let mut first = PageCollector::new(1);
            self.0
                .chat_after(chat_id, Order::Asc, None, &mut first)
                .await?;
            let Some(message) = first.items.first() else {
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
            let limit = validate::page_limit(page.limit)?;
            let scope = Scope::Unread { receiver_id };
            let after = cursor::decode(scope, page.cursor.as_deref())?;
            let mut collector = PageCollector::new(limit);
            self.0
                .unread_after(receiver_id, after.as_ref(), &mut collector)
                .await?;
            collector.into_page(scope)
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
            let limit = validate::page_limit(page.limit)?;
            let scope = Scope::History { chat_id, order };
            let after = cursor::decode(scope, page.cursor.as_deref())?;
            let mut collector = PageCollector::new(limit);
            self.0
                .chat_after(chat_id, order, after.as_ref(), &mut collector)
                .await?;
            collector.into_page(scope)
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
                .ok_or(StoreError::NotFound)?;
            if message.receiver_id != caller_id {
                return Err(StoreError::Forbidden);
            }
            if message.read_at.is_none() {
                return Err(StoreError::Internal("read_at was not recorded".to_owned()));
            }
            Ok(message)
        })
        .await
    }
}

#[async_trait]
impl<R: ThrottleRecords> ThrottleStore for Throttle<R> {
    async fn hit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        bounded(async {
            validate::throttle_key(key)?;
            self.0.hit_window(key, window_start).await
        })
        .await
    }

    async fn failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        bounded(async {
            validate::throttle_key(key)?;
            self.0.failure_counter(key).await
        })
        .await
    }

    async fn record_failure(&self, key: &str, now: Millis) -> StoreResult<Failures> {
        bounded(async {
            validate::throttle_key(key)?;
            self.0.add_failure(key, now).await
        })
        .await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        bounded(async {
            validate::throttle_key(key)?;
            self.0.delete_failures(key).await
        })
        .await
    }
}

/// A stored failure count (a `BIGINT`) as the contract's `u32`; beyond that it saturates.
pub(crate) fn failure_count(stored: i64) -> u32 {
    u32::try_from(stored.max(0)).unwrap_or(u32::MAX)
}

/// The stored spelling of a key status (the same lowercase names as its serde form).
pub(crate) fn key_status_name(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Pending => "pending",
        KeyStatus::Retired => "retired",
        KeyStatus::Revoked => "revoked",
    }
}

pub(crate) fn key_status_from_name(name: &str) -> StoreResult<KeyStatus> {
    match name {
        "active" => Ok(KeyStatus::Active),
        "pending" => Ok(KeyStatus::Pending),
        "retired" => Ok(KeyStatus::Retired),
        "revoked" => Ok(KeyStatus::Revoked),
        other => Err(StoreError::Internal(format!(
            "unknown stored key status {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// In-memory key records with a hook that lets a competing registration run at the worst moment.
    #[derive(Clone, Default)]
    struct RacyKeys {
        keys: Arc<Mutex<Vec<PublicKeyRecord>>>,
        /// When the key with this id is about to be inserted, first register `competitor` completely.
        interrupt_before_inserting: Option<(String, NewPublicKey)>,
        interrupted: Arc<AtomicBool>,
    }

    impl RacyKeys {
        fn all(&self) -> StoreResult<Vec<PublicKeyRecord>> {
            self.keys
                .lock()
                .map(|keys| keys.clone())
                .map_err(|_| StoreError::Internal("poisoned".into()))
        }

        fn update(&self, change: impl FnOnce(&mut Vec<PublicKeyRecord>)) -> StoreResult<()> {
            let mut keys = self
                .keys
                .lock()
                .map_err(|_| StoreError::Internal("poisoned".into()))?;
            change(&mut keys);
            Ok(())
        }
    }

    fn position_of(key: &PublicKeyRecord) -> (Millis, String) {
        (key.created_at, key.key_id.clone())
    }

    #[async_trait]
    impl KeyRecords for RacyKeys {
        async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written> {
            if let Some((victim, competitor)) = &self.interrupt_before_inserting
                && *victim == key.key_id
                && !self.interrupted.swap(true, Ordering::SeqCst)
            {
                Keys(self.clone()).put_active(competitor.clone()).await?;
            }
            let mut written = Written::Inserted;
            self.update(|keys| {
                if keys
                    .iter()
                    .any(|k| k.user_id == key.user_id && k.key_id == key.key_id)
                {
                    written = Written::Duplicate;
                } else {
                    keys.push(key.clone());
                }
            })?;
            Ok(written)
        }

        async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
            Ok(self
                .all()?
                .into_iter()
                .find(|k| k.user_id == user_id && k.key_id == key_id))
        }

        async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>> {
            let mut keys: Vec<_> = self
                .all()?
                .into_iter()
                .filter(|k| k.user_id == user_id)
                .collect();
            keys.sort_by_key(|k| std::cmp::Reverse(position_of(k)));
            Ok(keys)
        }

        async fn newest_key(
            &self,
            user_id: &str,
            active_only: bool,
        ) -> StoreResult<Option<PublicKeyRecord>> {
            Ok(self
                .keys_newest_first(user_id)
                .await?
                .into_iter()
                .find(|k| !active_only || k.status == KeyStatus::Active))
        }

        async fn retire_active_keys_older_than(
            &self,
            user_id: &str,
            position: &KeyPosition,
            retired_at: Millis,
        ) -> StoreResult<()> {
            let bound = (position.created_at, position.key_id.clone());
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.status == KeyStatus::Active
                        && position_of(key) < bound
                    {
                        key.status = KeyStatus::Retired;
                        key.retired_at = Some(retired_at);
                    }
                }
            })
        }

        async fn active_key_newer_than_exists(
            &self,
            user_id: &str,
            position: &KeyPosition,
        ) -> StoreResult<bool> {
            let bound = (position.created_at, position.key_id.clone());
            Ok(self.all()?.iter().any(|k| {
                k.user_id == user_id && k.status == KeyStatus::Active && position_of(k) > bound
            }))
        }

        async fn retire_key_if_active(
            &self,
            user_id: &str,
            key_id: &str,
            retired_at: Millis,
        ) -> StoreResult<()> {
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.key_id == key_id
                        && key.status == KeyStatus::Active
                    {
                        key.status = KeyStatus::Retired;
                        key.retired_at = Some(retired_at);
                    }
                }
            })
        }

        async fn revoke_key(
            &self,
            user_id: &str,
            key_id: &str,
            revoked_at: Millis,
        ) -> StoreResult<()> {
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.key_id == key_id
                        && key.status != KeyStatus::Revoked
                    {
                        key.status = KeyStatus::Revoked;
                        key.revoked_at = Some(revoked_at);
                    }
                }
            })
        }

        async fn activate_pending_key(
            &self,
            user_id: &str,
            key_id: &str,
            created_at: Millis,
        ) -> StoreResult<bool> {
            let mut activated = false;
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.key_id == key_id
                        && key.status == KeyStatus::Pending
                    {
                        key.status = KeyStatus::Active;
                        key.created_at = created_at;
                        activated = true;
                    }
                }
            })?;
            Ok(activated)
        }
    }

    fn new_key(key_id_digit: char) -> NewPublicKey {
        NewPublicKey {
            user_id: "u_1".into(),
            key_id: key_id_digit.to_string().repeat(64),
            public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
            bits: 2048,
        }
    }

    fn message_with_envelope_bytes(id: u8, bytes: usize) -> Message {
        Message {
            id: format!("m_{:032x}", id),
            chat_id: "c_1".into(),
            sender_id: "u_a".into(),
            receiver_id: "u_b".into(),
            client_message_id: id.to_string(),
            // `{"c":"…"}` is 8 bytes around the string.
            envelope: serde_json::json!({ "c": "x".repeat(bytes - 8) }),
            created_at: i64::from(id),
            read_at: None,
        }
    }

    #[test]
    fn page_bytes_are_the_compact_envelope_plus_the_overhead() {
        let message = message_with_envelope_bytes(1, 1000);
        assert_eq!(
            serde_json::to_vec(&message.envelope).map(|v| v.len()).ok(),
            Some(1000)
        );
        assert_eq!(page_bytes(&message), 1000 + PAGE_MESSAGE_OVERHEAD_BYTES);
    }

    #[test]
    fn a_page_stops_at_its_limit_and_knows_more_follow() {
        let mut page = PageCollector::new(2);
        assert_eq!(page.fetch(), 3);
        assert!(page.offer(message_with_envelope_bytes(1, 100)));
        assert!(page.offer(message_with_envelope_bytes(2, 100)));
        assert!(!page.offer(message_with_envelope_bytes(3, 100)));
        assert!(
            !page.offer(message_with_envelope_bytes(4, 100)),
            "stays closed"
        );
        let page = page.into_page(Scope::Unread { receiver_id: "u_b" });
        assert!(matches!(&page, Ok(p) if p.items.len() == 2 && p.next_cursor.is_some()));
    }

    #[test]
    fn a_page_stops_before_the_message_that_would_exceed_the_byte_bound() {
        let each = MAX_PAGE_BYTES / 3 - PAGE_MESSAGE_OVERHEAD_BYTES;
        let mut page = PageCollector::new(100);
        for id in 1..=3 {
            assert!(
                page.offer(message_with_envelope_bytes(id, each)),
                "{id} fits exactly"
            );
        }
        assert!(!page.offer(message_with_envelope_bytes(4, 9)));
        let page = page.into_page(Scope::Unread { receiver_id: "u_b" });
        assert!(matches!(&page, Ok(p) if p.items.len() == 3 && p.next_cursor.is_some()));
    }

    #[test]
    fn an_oversized_message_still_makes_a_page_of_one() {
        let mut page = PageCollector::new(100);
        assert!(page.offer(message_with_envelope_bytes(1, MAX_PAGE_BYTES * 2)));
        assert!(!page.offer(message_with_envelope_bytes(2, 9)));
        let page = page.into_page(Scope::Unread { receiver_id: "u_b" });
        assert!(matches!(&page, Ok(p) if p.items.len() == 1 && p.next_cursor.is_some()));

        // Alone and last: no cursor.
        let mut page = PageCollector::new(100);
        assert!(page.offer(message_with_envelope_bytes(1, MAX_PAGE_BYTES * 2)));
        let page = page.into_page(Scope::Unread { receiver_id: "u_b" });
        assert!(matches!(&page, Ok(p) if p.items.len() == 1 && p.next_cursor.is_none()));
    }

    /// The interleaving that transaction-free rotation must survive: a newer key is registered completely
    /// between the moment an older one computed its position and the moment it is inserted. The older one
    /// then lands after the newer one's retire step, so only its own final check can step it back.
    #[tokio::test]
    async fn a_key_inserted_after_a_newer_one_finished_steps_back() {
        let newer = new_key('f');
        let records = RacyKeys {
            interrupt_before_inserting: Some(("1".repeat(64), newer.clone())),
            ..RacyKeys::default()
        };
        // An existing key far in the future pins both new positions to the same created_at, so the key id
        // alone decides which one is newer ('f…' > '1…'), independent of the clock.
        let existing = PublicKeyRecord {
            user_id: "u_1".into(),
            key_id: "0".repeat(64),
            public_key_pem: String::new(),
            bits: 2048,
            created_at: now_millis() + 1_000_000,
            status: KeyStatus::Active,
            retired_at: None,
            revoked_at: None,
        };
        records
            .update(|keys| keys.push(existing.clone()))
            .unwrap_or_else(|e| panic!("{e}"));

        let older = Keys(records.clone()).put_active(new_key('1')).await;
        assert_eq!(
            older.ok().map(|k| k.status),
            Some(KeyStatus::Retired),
            "the older key reports it lost"
        );

        let keys = records.all().unwrap_or_default();
        let active: Vec<_> = keys
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .collect();
        assert_eq!(active.len(), 1, "{keys:#?}");
        assert_eq!(active[0].key_id, newer.key_id);
        let active_for_user = Keys(records.clone()).active_for_user("u_1").await;
        assert_eq!(
            active_for_user.ok().flatten().map(|k| k.key_id),
            Some(newer.key_id)
        );
    }
}
