//! Rotation under the worst interleaving, on in-memory key records with a hook that lets a competing
//! registration run at the worst moment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use e2ee_protocol::KeyStatus;

use super::{KeyChange, KeyPosition, KeyRecords, Keys, Written};
use crate::error::{StoreError, StoreResult};
use crate::ids::now_millis;
use crate::model::{KeyStore, Millis, NewPublicKey, PublicKeyRecord};

#[derive(Clone, Default)]
struct RacyKeys {
    keys: Arc<Mutex<Vec<PublicKeyRecord>>>,
    /// When the key with this id is about to be inserted, first register `competitor` completely.
    interrupt_before_inserting: Option<(String, NewPublicKey)>,
    interrupted: Arc<AtomicBool>,
}

fn position_of(key: &PublicKeyRecord) -> (Millis, String) {
    (key.created_at, key.key_id.clone())
}

fn bound(position: &KeyPosition) -> (Millis, String) {
    (position.created_at, position.key_id.clone())
}

impl RacyKeys {
    fn locked(&self) -> StoreResult<std::sync::MutexGuard<'_, Vec<PublicKeyRecord>>> {
        self.keys
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))
    }

    fn all(&self) -> StoreResult<Vec<PublicKeyRecord>> {
        Ok(self.locked()?.clone())
    }

    /// Applies `change` to every key of `user_id` that `matches`; returns how many changed.
    fn update_where(
        &self,
        user_id: &str,
        matches: impl Fn(&PublicKeyRecord) -> bool,
        change: impl Fn(&mut PublicKeyRecord),
    ) -> StoreResult<usize> {
        let mut keys = self.locked()?;
        let mut changed = 0;
        for key in keys
            .iter_mut()
            .filter(|k| k.user_id == user_id && matches(k))
        {
            change(key);
            changed += 1;
        }
        Ok(changed)
    }
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
        let mut keys = self.locked()?;
        if keys
            .iter()
            .any(|k| k.user_id == key.user_id && k.key_id == key.key_id)
        {
            return Ok(Written::Duplicate);
        }
        keys.push(key.clone());
        Ok(Written::Inserted)
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
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()> {
        let older =
            |k: &PublicKeyRecord| k.status == KeyStatus::Active && position_of(k) < bound(position);
        self.update_where(&position.user_id, older, |key| {
            key.status = KeyStatus::Retired;
            key.retired_at = Some(retired_at);
        })?;
        Ok(())
    }

    async fn active_key_newer_than_exists(&self, position: &KeyPosition) -> StoreResult<bool> {
        Ok(self.all()?.iter().any(|k| {
            k.user_id == position.user_id
                && k.status == KeyStatus::Active
                && position_of(k) > bound(position)
        }))
    }

    async fn change_key(
        &self,
        user_id: &str,
        key_id: &str,
        to: KeyChange<'_>,
    ) -> StoreResult<bool> {
        let (applies, status): (fn(KeyStatus) -> bool, KeyStatus) = match to {
            KeyChange::Retire { .. } => (|s| s == KeyStatus::Active, KeyStatus::Retired),
            KeyChange::Revoke { .. } => (|s| s != KeyStatus::Revoked, KeyStatus::Revoked),
            KeyChange::Activate { .. } => (|s| s == KeyStatus::Pending, KeyStatus::Active),
        };
        let changed = self.update_where(
            user_id,
            |k| k.key_id == key_id && applies(k.status),
            |key| {
                key.status = status;
                match to {
                    KeyChange::Retire { retired_at } => key.retired_at = Some(retired_at),
                    KeyChange::Revoke { revoked_at } => key.revoked_at = Some(revoked_at),
                    KeyChange::Activate {
                        created_at,
                        endorsement,
                    } => {
                        key.created_at = created_at;
                        key.endorsement = endorsement.cloned();
                    }
                }
            },
        )?;
        Ok(changed > 0)
    }
}

fn new_key(key_id_digit: char) -> NewPublicKey {
    NewPublicKey {
        user_id: "u_1".into(),
        key_id: key_id_digit.to_string().repeat(64),
        public_key_pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".into(),
        bits: 2048,
        endorsement: None,
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
        retired_at: None,
        revoked_at: None,
        endorsement: None,
    };
    records
        .locked()
        .map(|mut keys| keys.push(existing.clone()))
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
