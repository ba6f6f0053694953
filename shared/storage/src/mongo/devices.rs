//! `DeviceRecords` and `KeyPackageRecords` on MongoDB. A take is one `findOneAndDelete`: the server removes
//! the document and returns it to exactly one caller.

use async_trait::async_trait;
use mongodb::bson::{DateTime, Document, doc};

use super::codec::{
    self, binary, certificate_to_document, device_from_document, device_to_document,
    key_package_from_document, key_package_to_document,
};
use super::{MongoStore, decode_all, decode_one, insert_unique, map_error};
use crate::devices::{DeviceRecord, DeviceStatus};
use crate::engine::{
    DeviceChange, DeviceRecords, KeyPackageGrant, KeyPackageRecord, KeyPackageRecords,
    KeyPackageUse, Written,
};
use crate::error::StoreResult;
use crate::model::Millis;

/// The device's unexpired packages of one kind.
fn unexpired_of_device(user_id: &str, device_id: &str, last_resort: bool, now: Millis) -> Document {
    doc! {
        "user_id": user_id,
        "device_id": device_id,
        "last_resort": last_resort,
        "not_after": { "$gt": DateTime::from_millis(now) },
    }
}

#[async_trait]
impl DeviceRecords for MongoStore {
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<Written> {
        insert_unique(&self.devices, device_to_document(device)).await
    }

    async fn device(&self, user_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        let find = self
            .devices
            .find_one(doc! { "user_id": user_id, "device_id": device_id });
        decode_one(find, device_from_document).await
    }

    async fn devices(&self, user_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        let find = self
            .devices
            .find(doc! { "user_id": user_id })
            .sort(doc! { "created_at": 1, "device_id": 1 });
        decode_all(find, device_from_document).await
    }

    async fn devices_page(
        &self,
        user_id: &str,
        after: Option<(Millis, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>> {
        let mut filter = doc! {
            "user_id": user_id,
            "status": { "$ne": DeviceStatus::Revoked.as_str() },
        };
        if let Some((created_at, device_id)) = after {
            let created_at = DateTime::from_millis(created_at);
            filter.insert(
                "$or",
                vec![
                    doc! { "created_at": { "$gt": created_at } },
                    doc! { "created_at": created_at, "device_id": { "$gt": device_id } },
                ],
            );
        }
        let find = self
            .devices
            .find(filter)
            .sort(doc! { "created_at": 1, "device_id": 1 })
            .limit(i64::from(limit));
        decode_all(find, device_from_document).await
    }

    async fn change_device(
        &self,
        user_id: &str,
        device_id: &str,
        to: &DeviceChange,
    ) -> StoreResult<bool> {
        let mut filter = doc! { "user_id": user_id, "device_id": device_id };
        let update = match to {
            DeviceChange::Approve {
                certificate,
                approved_at,
            } => {
                filter.insert("status", DeviceStatus::Pending.as_str());
                doc! { "$set": {
                    "status": DeviceStatus::Active.as_str(),
                    "certificate": certificate_to_document(certificate),
                    "approved_at": DateTime::from_millis(*approved_at),
                } }
            }
            DeviceChange::Revoke { revoked_at } => {
                filter.insert("status", doc! { "$ne": DeviceStatus::Revoked.as_str() });
                doc! { "$set": {
                    "status": DeviceStatus::Revoked.as_str(),
                    "revoked_at": DateTime::from_millis(*revoked_at),
                } }
            }
        };
        let result = self
            .devices
            .update_one(filter, update)
            .await
            .map_err(map_error)?;
        Ok(result.modified_count > 0)
    }
}

#[async_trait]
impl KeyPackageRecords for MongoStore {
    async fn insert_key_package(&self, package: &KeyPackageRecord) -> StoreResult<Written> {
        insert_unique(&self.key_packages, key_package_to_document(package)).await
    }

    async fn take_one_time_key_package(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>> {
        let take = self
            .key_packages
            .find_one_and_delete(unexpired_of_device(user_id, device_id, false, now))
            .sort(doc! { "uploaded_at": 1, "_id": 1 });
        let taken = take.await.map_err(map_error)?;
        taken.as_ref().map(key_package_from_document).transpose()
    }

    async fn newest_last_resort(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>> {
        let find = self
            .key_packages
            .find_one(unexpired_of_device(user_id, device_id, true, now))
            .sort(doc! { "uploaded_at": -1, "_id": -1 });
        decode_one(find, key_package_from_document).await
    }

    async fn count_one_time(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<u64> {
        self.key_packages
            .count_documents(unexpired_of_device(user_id, device_id, false, now))
            .await
            .map_err(map_error)
    }

    async fn delete_other_last_resorts(
        &self,
        user_id: &str,
        device_id: &str,
        keep_ref: &[u8],
    ) -> StoreResult<()> {
        let filter = doc! {
            "user_id": user_id,
            "device_id": device_id,
            "last_resort": true,
            "_id": { "$ne": binary(keep_ref) },
        };
        self.key_packages
            .delete_many(filter)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn delete_device_key_packages(&self, user_id: &str, device_id: &str) -> StoreResult<()> {
        self.key_packages
            .delete_many(doc! { "user_id": user_id, "device_id": device_id })
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn insert_key_package_grant(&self, grant: &KeyPackageGrant) -> StoreResult<Written> {
        insert_unique(
            &self.key_package_grants,
            codec::key_package_grant_to_document(grant),
        )
        .await
    }

    async fn key_package_grant(
        &self,
        key_package_ref: &[u8],
        claimer_user: &str,
    ) -> StoreResult<Option<KeyPackageGrant>> {
        let find = self.key_package_grants.find_one(doc! {
            "key_package_ref": codec::binary(key_package_ref),
            "claimer_user": claimer_user,
        });
        decode_one(find, codec::key_package_grant_from_document).await
    }

    async fn insert_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<Written> {
        insert_unique(
            &self.key_package_uses,
            codec::key_package_use_to_document(package_use),
        )
        .await
    }

    async fn key_package_use(&self, key_package_ref: &[u8]) -> StoreResult<Option<KeyPackageUse>> {
        let find = self
            .key_package_uses
            .find_one(doc! { "_id": codec::binary(key_package_ref) });
        decode_one(find, codec::key_package_use_from_document).await
    }

    async fn replace_key_package_use(
        &self,
        stale: &KeyPackageUse,
        fresh: &KeyPackageUse,
    ) -> StoreResult<bool> {
        let result = self
            .key_package_uses
            .update_one(
                codec::key_package_use_filter(stale),
                doc! { "$set": {
                    "group_id": &fresh.group_id,
                    "epoch": fresh.epoch,
                    "commit_hash": codec::binary(&fresh.commit_hash),
                    "used_at": DateTime::from_millis(fresh.used_at),
                } },
            )
            .await
            .map_err(map_error)?;
        Ok(result.modified_count == 1)
    }

    async fn delete_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<()> {
        self.key_package_uses
            .delete_one(codec::key_package_use_filter(package_use))
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
