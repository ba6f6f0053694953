//! The contract's rules, written once for every backend.
//!
//! A backend implements the small record-level traits below (single statements / single-document operations,
//! no transactions). The wrappers [`Users`], [`Keys`] and [`Messages`] turn them into the public
//! [`UserStore`], [`KeyStore`] and [`MessageStore`]: validation, id and time assignment, idempotency, key
//! rotation, cursors and the per-operation time bound all live here.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::cursor::{self, Position, Scope};
use crate::ids::{self, created_after, now_millis};
use crate::model::{
    Inserted, KeyStatus, KeyStore, Message, MessageStore, Millis, NewMessage, NewPublicKey,
    NewUser, Order, Page, PageRequest, PublicKeyRecord, StoreError, StoreResult, User, UserStore,
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
    /// The newest key of the user, or the newest active one when `active_only`.
    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>>;
    /// Sets every active key of the user older than `position` to retired.
    async fn retire_active_keys_older_than(
        &self,
        user_id: &str,
        position: &KeyPosition,
    ) -> StoreResult<()>;
    async fn active_key_newer_than_exists(
        &self,
        user_id: &str,
        position: &KeyPosition,
    ) -> StoreResult<bool>;
    /// Active → retired for one key; any other status is left alone.
    async fn retire_key_if_active(&self, user_id: &str, key_id: &str) -> StoreResult<()>;
    /// Any status → revoked for one key (no effect on an unknown key).
    async fn revoke_key(&self, user_id: &str, key_id: &str) -> StoreResult<()>;
}

#[async_trait]
pub(crate) trait MessageRecords: Send + Sync + 'static {
    async fn insert_message(&self, message: &Message) -> StoreResult<Written>;
    async fn message_by_id(&self, id: &str) -> StoreResult<Option<Message>>;
    async fn message_by_client_id(
        &self,
        sender_id: &str,
        client_message_id: &str,
    ) -> StoreResult<Option<Message>>;
    async fn newest_created_at_in_chat(&self, chat_id: &str) -> StoreResult<Option<Millis>>;
    /// Up to `fetch` unread messages of the receiver strictly after `after`, in ascending `(created_at, id)`.
    async fn unread_after(
        &self,
        receiver_id: &str,
        after: Option<&Position>,
        fetch: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Up to `fetch` messages of the chat strictly after `after` in `order` (for `Desc`: strictly before it).
    async fn chat_after(
        &self,
        chat_id: &str,
        order: Order,
        after: Option<&Position>,
        fetch: u32,
    ) -> StoreResult<Vec<Message>>;
    /// Sets `read_at` if the message is addressed to `receiver_id` and not read yet; otherwise does nothing.
    async fn set_read_at_if_unread(
        &self,
        id: &str,
        receiver_id: &str,
        read_at: Millis,
    ) -> StoreResult<()>;
}

pub(crate) struct Users<R>(pub(crate) R);
pub(crate) struct Keys<R>(pub(crate) R);
pub(crate) struct Messages<R>(pub(crate) R);

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

#[async_trait]
impl<R: KeyRecords> KeyStore for Keys<R> {
    /// Without transactions: insert the new key as active, retire every older active key, then step back if a
    /// newer key became active concurrently. Whatever the interleaving, once all calls have returned exactly one
    /// key is active: the newest. (The newest is never retired by anyone; every other key either sees it and
    /// retires itself, or was inserted before it and is retired by its own retire step.) In between, two keys
    /// may briefly both be active; `active_for_user` then returns the newer one.
    async fn put_active(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord> {
        bounded(async {
            validate::new_public_key(&key)?;
            let latest = self.0.newest_key(&key.user_id, false).await?;
            let record = PublicKeyRecord {
                created_at: created_after(latest.map(|k| k.created_at)),
                user_id: key.user_id,
                key_id: key.key_id,
                public_key_pem: key.public_key_pem,
                bits: key.bits,
                status: KeyStatus::Active,
            };
            if self.0.insert_key(&record).await? == Written::Duplicate {
                let existing = self
                    .0
                    .key(&record.user_id, &record.key_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Internal("duplicate key record vanished".to_owned())
                    })?;
                return match existing.status {
                    KeyStatus::Active => Ok(existing),
                    KeyStatus::Retired | KeyStatus::Revoked => Err(StoreError::Conflict(
                        "a retired or revoked key cannot be activated again".to_owned(),
                    )),
                };
            }
            let position = KeyPosition {
                created_at: record.created_at,
                key_id: record.key_id.clone(),
            };
            self.0
                .retire_active_keys_older_than(&record.user_id, &position)
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
                .retire_key_if_active(&record.user_id, &record.key_id)
                .await?;
            self.0
                .key(&record.user_id, &record.key_id)
                .await?
                .ok_or_else(|| StoreError::Internal("key record vanished".to_owned()))
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
            self.0.revoke_key(user_id, key_id).await?;
            self.0
                .key(user_id, key_id)
                .await?
                .ok_or(StoreError::NotFound)
        })
        .await
    }
}

#[async_trait]
impl<R: MessageRecords> MessageStore for Messages<R> {
    async fn insert(&self, message: NewMessage) -> StoreResult<Inserted> {
        bounded(async {
            validate::new_message(&message)?;
            let chat_id = ids::chat_id(&message.sender_id, &message.receiver_id);
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

    async fn get(&self, id: &str) -> StoreResult<Option<Message>> {
        bounded(self.0.message_by_id(id)).await
    }

    async fn unread_for(&self, receiver_id: &str, page: PageRequest) -> StoreResult<Page<Message>> {
        bounded(async {
            let limit = validate::page_limit(page.limit)?;
            let scope = Scope::Unread { receiver_id };
            let after = cursor::decode(scope, page.cursor.as_deref())?;
            let items = self
                .0
                .unread_after(receiver_id, after.as_ref(), limit + 1)
                .await?;
            into_page(scope, items, limit)
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
            let items = self
                .0
                .chat_after(chat_id, order, after.as_ref(), limit + 1)
                .await?;
            into_page(scope, items, limit)
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

/// Cuts a fetch of `limit + 1` items down to a page; the extra item only signals that more may follow.
fn into_page(scope: Scope<'_>, mut items: Vec<Message>, limit: u32) -> StoreResult<Page<Message>> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() <= limit {
        return Ok(Page {
            items,
            next_cursor: None,
        });
    }
    items.truncate(limit);
    let next_cursor = match items.last() {
        Some(last) => Some(cursor::encode(
            scope,
            &Position {
                created_at: last.created_at,
                id: last.id.clone(),
            },
        )?),
        None => None,
    };
    Ok(Page { items, next_cursor })
}

/// The stored spelling of a key status (the same lowercase names as its serde form).
pub(crate) fn key_status_name(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Retired => "retired",
        KeyStatus::Revoked => "revoked",
    }
}

pub(crate) fn key_status_from_name(name: &str) -> StoreResult<KeyStatus> {
    match name {
        "active" => Ok(KeyStatus::Active),
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
        ) -> StoreResult<()> {
            let bound = (position.created_at, position.key_id.clone());
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.status == KeyStatus::Active
                        && position_of(key) < bound
                    {
                        key.status = KeyStatus::Retired;
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

        async fn retire_key_if_active(&self, user_id: &str, key_id: &str) -> StoreResult<()> {
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id
                        && key.key_id == key_id
                        && key.status == KeyStatus::Active
                    {
                        key.status = KeyStatus::Retired;
                    }
                }
            })
        }

        async fn revoke_key(&self, user_id: &str, key_id: &str) -> StoreResult<()> {
            self.update(|keys| {
                for key in keys.iter_mut() {
                    if key.user_id == user_id && key.key_id == key_id {
                        key.status = KeyStatus::Revoked;
                    }
                }
            })
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
