//! `KeyRecords` on MongoDB: single-document operations on `public_keys`.

use async_trait::async_trait;
use e2ee_protocol::KeyStatus;
use mongodb::bson::{Bson, DateTime, Document, doc};

use super::codec::{beyond, endorsement_to_document, key_from_document, key_to_document};
use super::{MongoStore, decode_all, decode_one, insert_unique, map_error};
use crate::engine::{KeyChange, KeyPosition, KeyRecords, Written};
use crate::error::StoreResult;
use crate::model::{Millis, PublicKeyRecord};

/// Newest first; the key id breaks ties between keys registered in the same millisecond.
fn keys_newest_first() -> Document {
    doc! { "created_at": -1, "key_id": -1 }
}

/// The active keys of `position`'s user strictly beyond it in the direction of `operator` (`$gt` newer, `$lt`
/// older).
fn active_beyond(operator: &str, position: &KeyPosition) -> Document {
    let mut filter = beyond(operator, position.created_at, "key_id", &position.key_id);
    filter.insert("user_id", &position.user_id);
    filter.insert("status", KeyStatus::Active.as_str());
    filter
}

/// The status a key must have for `change` (a value, or an operator document), and the update that makes it.
fn change_documents(change: KeyChange<'_>) -> (Bson, Document) {
    match change {
        KeyChange::Retire { retired_at } => (
            Bson::from(KeyStatus::Active.as_str()),
            set_status(KeyStatus::Retired, "retired_at", retired_at),
        ),
        // An already revoked key is not matched, so it keeps its first revoked_at.
        KeyChange::Revoke { revoked_at } => (
            Bson::from(doc! { "$ne": KeyStatus::Revoked.as_str() }),
            set_status(KeyStatus::Revoked, "revoked_at", revoked_at),
        ),
        KeyChange::Activate {
            created_at,
            endorsement,
        } => {
            let endorsement = endorsement.map(endorsement_to_document);
            let update = doc! { "$set": {
                "status": KeyStatus::Active.as_str(),
                "created_at": DateTime::from_millis(created_at),
                "endorsement": endorsement,
            } };
            (Bson::from(KeyStatus::Pending.as_str()), update)
        }
    }
}

/// `$set` of a new status and the time field that goes with it.
fn set_status(status: KeyStatus, time_field: &str, time: Millis) -> Document {
    doc! { "$set": { "status": status.as_str(), time_field: DateTime::from_millis(time) } }
}

#[async_trait]
impl KeyRecords for MongoStore {
    async fn insert_key(&self, key: &PublicKeyRecord) -> StoreResult<Written> {
        insert_unique(&self.keys, key_to_document(key)).await
    }

    async fn key(&self, user_id: &str, key_id: &str) -> StoreResult<Option<PublicKeyRecord>> {
        let find = self
            .keys
            .find_one(doc! { "user_id": user_id, "key_id": key_id });
        decode_one(find, key_from_document).await
    }

    async fn keys_newest_first(&self, user_id: &str) -> StoreResult<Vec<PublicKeyRecord>> {
        let find = self
            .keys
            .find(doc! { "user_id": user_id })
            .sort(keys_newest_first());
        decode_all(find, key_from_document).await
    }

    async fn newest_key(
        &self,
        user_id: &str,
        active_only: bool,
    ) -> StoreResult<Option<PublicKeyRecord>> {
        let mut filter = doc! { "user_id": user_id };
        if active_only {
            filter.insert("status", KeyStatus::Active.as_str());
        }
        let find = self.keys.find_one(filter).sort(keys_newest_first());
        decode_one(find, key_from_document).await
    }

    async fn retire_active_keys_older_than(
        &self,
        position: &KeyPosition,
        retired_at: Millis,
    ) -> StoreResult<()> {
        self.keys
            .update_many(
                active_beyond("$lt", position),
                set_status(KeyStatus::Retired, "retired_at", retired_at),
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn active_key_newer_than_exists(&self, position: &KeyPosition) -> StoreResult<bool> {
        let newer = self
            .keys
            .find_one(active_beyond("$gt", position))
            .projection(doc! { "key_id": 1 })
            .await
            .map_err(map_error)?;
        Ok(newer.is_some())
    }

    async fn change_key(
        &self,
        user_id: &str,
        key_id: &str,
        to: KeyChange<'_>,
    ) -> StoreResult<bool> {
        let (status, update) = change_documents(to);
        let filter = doc! { "user_id": user_id, "key_id": key_id, "status": status };
        let result = self
            .keys
            .update_one(filter, update)
            .await
            .map_err(map_error)?;
        Ok(result.modified_count > 0)
    }
}
