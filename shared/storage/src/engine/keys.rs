//! Public keys: rotation without transactions, pending keys and revocation.

use async_trait::async_trait;
use e2ee_protocol::KeyStatus;

use super::{KeyChange, KeyPosition, KeyRecords, Keys, Written, bounded};
use crate::error::{StoreError, StoreResult};
use crate::ids::{created_after, now_millis};
use crate::model::{KeyEndorsement, KeyStore, Millis, NewPublicKey, PublicKeyRecord};
use crate::validate;

/// Why a stored key with `status` cannot be activated.
fn cannot_activate(status: KeyStatus) -> StoreError {
    match status {
        KeyStatus::Retired => StoreError::KeyRetired,
        KeyStatus::Revoked => StoreError::KeyRevoked,
        // An activation that neither happened nor found the key changed: no state of the contract.
        KeyStatus::Active | KeyStatus::Pending => {
            StoreError::Internal(format!("a {} key could not be activated", status.as_str()))
        }
    }
}

impl<R: KeyRecords> Keys<R> {
    /// A creation time strictly after every key of the user, so the key sorts as the newest.
    async fn fresh_position(&self, user_id: &str) -> StoreResult<Millis> {
        let latest = self.0.newest_key(user_id, false).await?;
        Ok(created_after(latest.map(|k| k.created_at)))
    }

    /// A validated new record of `key` with `status`, at a fresh position.
    async fn new_record(
        &self,
        key: NewPublicKey,
        status: KeyStatus,
    ) -> StoreResult<PublicKeyRecord> {
        validate::new_public_key(&key)?;
        Ok(PublicKeyRecord {
            created_at: self.fresh_position(&key.user_id).await?,
            user_id: key.user_id,
            key_id: key.key_id,
            public_key_pem: key.public_key_pem,
            bits: key.bits,
            status,
            retired_at: None,
            revoked_at: None,
            endorsement: key.endorsement,
        })
    }

    async fn stored(&self, user_id: &str, key_id: &str) -> StoreResult<PublicKeyRecord> {
        self.0
            .key(user_id, key_id)
            .await?
            .ok_or_else(|| StoreError::Internal("key record vanished".to_owned()))
    }

    /// `put_active` of a key that already exists: a no-op for the active key, activation for a pending one,
    /// `KeyRetired` / `KeyRevoked` otherwise. `Ok(Err(record))` is final; `Ok(Ok(record))` is a newly
    /// activated key that still needs the rotation step.
    async fn activate_existing(
        &self,
        existing: PublicKeyRecord,
        endorsement: Option<KeyEndorsement>,
    ) -> StoreResult<Result<PublicKeyRecord, PublicKeyRecord>> {
        match existing.status {
            KeyStatus::Active => Ok(Err(existing)),
            KeyStatus::Retired | KeyStatus::Revoked => Err(cannot_activate(existing.status)),
            KeyStatus::Pending => {
                let created_at = self.fresh_position(&existing.user_id).await?;
                let activate = KeyChange::Activate {
                    created_at,
                    endorsement: endorsement.as_ref(),
                };
                if self
                    .0
                    .change_key(&existing.user_id, &existing.key_id, activate)
                    .await?
                {
                    return Ok(Ok(PublicKeyRecord {
                        created_at,
                        status: KeyStatus::Active,
                        endorsement,
                        ..existing
                    }));
                }
                // A concurrent call activated (or revoked) it first: answer as if it had been first.
                let now = self.stored(&existing.user_id, &existing.key_id).await?;
                match now.status {
                    KeyStatus::Active => Ok(Err(now)),
                    status => Err(cannot_activate(status)),
                }
            }
        }
    }

    /// The rotation step after `record` became active: retire every older active key, then step back if a
    /// concurrent registration of a newer key won.
    async fn rotate_to(&self, record: PublicKeyRecord) -> StoreResult<PublicKeyRecord> {
        let position = KeyPosition {
            user_id: record.user_id.clone(),
            created_at: record.created_at,
            key_id: record.key_id.clone(),
        };
        self.0
            .retire_active_keys_older_than(&position, now_millis())
            .await?;
        if !self.0.active_key_newer_than_exists(&position).await? {
            return Ok(record);
        }
        // A concurrent registration of a newer key won: step back, and report what is stored.
        let retire = KeyChange::Retire {
            retired_at: now_millis(),
        };
        self.0
            .change_key(&record.user_id, &record.key_id, retire)
            .await?;
        self.stored(&record.user_id, &record.key_id).await
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
            let record = self.new_record(key, KeyStatus::Active).await?;
            let record = match self.0.insert_key(&record).await? {
                Written::Inserted => record,
                Written::Duplicate => {
                    let existing = self.stored(&record.user_id, &record.key_id).await?;
                    match self.activate_existing(existing, record.endorsement).await? {
                        Ok(activated) => activated,
                        Err(done) => return Ok(done),
                    }
                }
            };
            self.rotate_to(record).await
        })
        .await
    }

    async fn put_pending(&self, key: NewPublicKey) -> StoreResult<PublicKeyRecord> {
        bounded(async {
            let record = self.new_record(key, KeyStatus::Pending).await?;
            match self.0.insert_key(&record).await? {
                Written::Inserted => Ok(record),
                Written::Duplicate => {
                    let existing = self.stored(&record.user_id, &record.key_id).await?;
                    match existing.status {
                        KeyStatus::Pending => Ok(existing),
                        status => Err(StoreError::KeyNotPending { status }),
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
            let revoke = KeyChange::Revoke {
                revoked_at: now_millis(),
            };
            self.0.change_key(user_id, key_id, revoke).await?;
            self.0
                .key(user_id, key_id)
                .await?
                .ok_or(StoreError::KeyNotFound)
        })
        .await
    }
}
