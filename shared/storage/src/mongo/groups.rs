//! `GroupRecords` on MongoDB: single-document operations on `group_log`.

use async_trait::async_trait;
use futures_util::TryStreamExt as _;
use mongodb::bson::{DateTime, Document, doc};

use super::codec::{
    binary, i64_field, log_record_from_document, log_record_to_document, members_field,
    string_field, welcome_entry_from_document, welcome_entry_to_document,
};
use super::{MongoStore, decode_all, decode_one, insert_unique, map_error};
use crate::engine::{GroupRecords, LogRecord, WelcomeEntry, Written};
use crate::error::{StoreError, StoreResult};
use crate::groups::GroupDevice;
use crate::model::Millis;

/// What log pages read: everything but the epoch state.
fn without_state() -> mongodb::bson::Document {
    doc! { "welcome": 0, "group_info": 0, "public_state": 0, "members": 0 }
}

#[async_trait]
impl GroupRecords for MongoStore {
    async fn insert_log_record(&self, record: &LogRecord) -> StoreResult<Written> {
        insert_unique(&self.group_log, log_record_to_document(record)).await
    }

    async fn newest_epoch(&self, group_id: &str) -> StoreResult<Option<LogRecord>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": { "$gte": 0_i64 } })
            .sort(doc! { "commit_epoch": -1 });
        decode_one(find, log_record_from_document).await
    }

    async fn newest_position(&self, group_id: &str) -> StoreResult<Option<(i64, i64)>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": { "$gte": 0_i64 } })
            .sort(doc! { "commit_epoch": -1 })
            .projection(without_state());
        let record = decode_one(find, log_record_from_document).await?;
        Ok(record.map(|record| (record.commit_epoch, record.seq)))
    }

    async fn newest_members(
        &self,
        group_id: &str,
    ) -> StoreResult<Option<(i64, i64, Vec<GroupDevice>)>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": { "$gte": 0_i64 } })
            .sort(doc! { "commit_epoch": -1 })
            .projection(doc! { "commit_epoch": 1, "seq": 1, "members": 1 });
        let Some(document) = find.await.map_err(map_error)? else {
            return Ok(None);
        };
        let members = members_field(&document)?
            .ok_or_else(|| StoreError::Internal("an epoch row lacks its members".to_owned()))?;
        Ok(Some((
            i64_field(&document, "commit_epoch")?,
            i64_field(&document, "seq")?,
            members,
        )))
    }

    async fn epoch_record(&self, group_id: &str, epoch: i64) -> StoreResult<Option<LogRecord>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": epoch });
        decode_one(find, log_record_from_document).await
    }

    async fn last_seq(&self, group_id: &str) -> StoreResult<Option<i64>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id })
            .sort(doc! { "seq": -1 })
            .projection(without_state());
        Ok(decode_one(find, log_record_from_document)
            .await?
            .map(|record| record.seq))
    }

    async fn insert_welcome_entry(&self, entry: &WelcomeEntry) -> StoreResult<Written> {
        insert_unique(&self.welcome_inbox, welcome_entry_to_document(entry)).await
    }

    async fn welcome_entries(
        &self,
        device: &GroupDevice,
        after: Option<(Millis, &str, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<WelcomeEntry>> {
        let mut filter = doc! { "user_id": &device.user_id, "device_id": &device.device_id };
        if let Some((created_at, group_id, epoch)) = after {
            let created_at = DateTime::from_millis(created_at);
            filter.insert(
                "$or",
                vec![
                    doc! { "created_at": { "$gt": created_at } },
                    doc! { "created_at": created_at, "group_id": { "$gt": group_id } },
                    doc! { "created_at": created_at, "group_id": group_id, "epoch": { "$gt": epoch } },
                ],
            );
        }
        let find = self
            .welcome_inbox
            .find(filter)
            .sort(doc! { "created_at": 1, "group_id": 1, "epoch": 1 })
            .limit(limit);
        decode_all(find, welcome_entry_from_document).await
    }

    async fn delete_welcome_entries(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
        commit_hash: Option<&[u8]>,
    ) -> StoreResult<()> {
        let mut filter = doc! {
            "user_id": &device.user_id,
            "device_id": &device.device_id,
            "group_id": group_id,
            "epoch": epoch,
        };
        if let Some(hash) = commit_hash {
            filter.insert("commit_hash", binary(hash));
        }
        self.welcome_inbox
            .delete_many(filter)
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn insert_device_group(
        &self,
        device: &GroupDevice,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Written> {
        let document = doc! {
            "user_id": &device.user_id,
            "device_id": &device.device_id,
            "group_id": group_id,
            "epoch": epoch,
        };
        insert_unique(&self.device_groups, document).await
    }

    async fn device_groups(
        &self,
        device: &GroupDevice,
        after: &str,
        limit: i64,
    ) -> StoreResult<Vec<(String, i64)>> {
        let pipeline = [
            doc! { "$match": {
                "user_id": &device.user_id,
                "device_id": &device.device_id,
                "group_id": { "$gt": after },
            } },
            doc! { "$group": { "_id": "$group_id", "epoch": { "$max": "$epoch" } } },
            doc! { "$sort": { "_id": 1 } },
            doc! { "$limit": limit },
        ];
        let documents: Vec<Document> = self
            .device_groups
            .aggregate(pipeline)
            .await
            .map_err(map_error)?
            .try_collect()
            .await
            .map_err(map_error)?;
        documents
            .iter()
            .map(|document| {
                Ok((
                    string_field(document, "_id")?,
                    i64_field(document, "epoch")?,
                ))
            })
            .collect()
    }

    async fn delete_device_groups(
        &self,
        device: &GroupDevice,
        group_id: &str,
        up_to_epoch: i64,
    ) -> StoreResult<()> {
        self.device_groups
            .delete_many(doc! {
                "user_id": &device.user_id,
                "device_id": &device.device_id,
                "group_id": group_id,
                "epoch": { "$lte": up_to_epoch },
            })
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn commit_and_welcome(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<(Vec<u8>, Option<Vec<u8>>)>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": epoch, "kind": "commit" })
            .projection(doc! { "group_info": 0, "public_state": 0, "members": 0 });
        let record = decode_one(find, log_record_from_document).await?;
        Ok(record.map(|record| (record.message, record.welcome)))
    }

    async fn epoch_members(
        &self,
        group_id: &str,
        epoch: i64,
    ) -> StoreResult<Option<Vec<GroupDevice>>> {
        let find = self
            .group_log
            .find_one(doc! { "group_id": group_id, "commit_epoch": epoch })
            .projection(doc! { "members": 1 });
        let Some(document) = find.await.map_err(map_error)? else {
            return Ok(None);
        };
        members_field(&document)?
            .map(Some)
            .ok_or_else(|| StoreError::Internal("an epoch row lacks its members".to_owned()))
    }

    async fn log_record_by_client_id(
        &self,
        group_id: &str,
        sender: &GroupDevice,
        client_message_id: &str,
    ) -> StoreResult<Option<LogRecord>> {
        let find = self
            .group_log
            .find_one(doc! {
                "group_id": group_id,
                "sender_user": &sender.user_id,
                "sender_device": &sender.device_id,
                "client_message_id": client_message_id,
            })
            .projection(without_state());
        decode_one(find, log_record_from_document).await
    }

    async fn epoch_at(&self, group_id: &str, seq: i64) -> StoreResult<Option<i64>> {
        let find = self
            .group_log
            .find_one(doc! {
                "group_id": group_id,
                "commit_epoch": { "$gte": 0_i64 },
                "seq": { "$lte": seq },
            })
            .sort(doc! { "commit_epoch": -1 })
            .projection(doc! { "commit_epoch": 1 });
        decode_one(find, |document| i64_field(document, "commit_epoch")).await
    }

    async fn drop_states(&self, group_id: &str, epochs: std::ops::Range<i64>) -> StoreResult<()> {
        self.group_log
            .update_many(
                doc! {
                    "group_id": group_id,
                    "commit_epoch": { "$gte": epochs.start, "$lt": epochs.end },
                    "public_state": { "$ne": null },
                },
                doc! { "$unset": { "public_state": "", "group_info": "" } },
            )
            .await
            .map_err(map_error)?;
        Ok(())
    }

    async fn count_states(&self, group_id: &str) -> StoreResult<u64> {
        self.group_log
            .count_documents(doc! { "group_id": group_id, "public_state": { "$ne": null } })
            .await
            .map_err(map_error)
    }

    async fn log_after(
        &self,
        group_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<LogRecord>> {
        let find = self
            .group_log
            .find(doc! { "group_id": group_id, "seq": { "$gt": after_seq } })
            .sort(doc! { "seq": 1 })
            .limit(limit)
            .projection(without_state());
        decode_all(find, log_record_from_document).await
    }
}
