//! `DeviceRecords` and `KeyPackageRecords` on SQL. A take is "read a candidate, then delete it by its key": the
//! delete that changes one row is the one atomic step that decides who got the package, on every database
//! (MySQL has no `DELETE … RETURNING`).

use async_trait::async_trait;
use rand::seq::SliceRandom as _;
use sqlx::{Decode, Encode, Executor, Type};

use super::rows::{
    CountRow, DeviceRow, KeyPackageGrantRow, KeyPackageRefRow, KeyPackageRow, KeyPackageUseRow,
};
use super::{Dialect, SqlStore, statements};
use crate::devices::DeviceRecord;
use crate::engine::{
    DeviceChange, DeviceRecords, KeyPackageGrant, KeyPackageRecord, KeyPackageRecords,
    KeyPackageUse, Written,
};
use crate::error::StoreResult;
use crate::model::Millis;

/// Candidates one take attempt reads; concurrent takers try them in random orders, so that they mostly win
/// different packages instead of all racing for the oldest one.
const TAKE_CANDIDATES: i64 = 16;

#[async_trait]
impl<DB> DeviceRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> DeviceRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_device(&self, device: &DeviceRecord) -> StoreResult<Written> {
        let certificate = device.certificate.as_ref();
        let statement = sqlx::query(statements::INSERT_DEVICE)
            .bind(device.user_id.as_str())
            .bind(device.device_id.as_str())
            .bind(device.display_name.as_str())
            .bind(device.signature_key.as_slice())
            .bind(device.status.as_str())
            .bind(certificate.map(|c| c.issuer_key_id.as_str()))
            .bind(certificate.map(|c| c.issued_at))
            .bind(certificate.map(|c| c.signature.as_slice()))
            .bind(certificate.and_then(|c| c.link_proof.as_deref()))
            .bind(device.created_at)
            .bind(device.approved_at)
            .bind(device.revoked_at);
        self.insert_unique(statement).await
    }

    async fn device(&self, user_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        let query = sqlx::query_as::<_, DeviceRow>(statements::DEVICE)
            .bind(user_id)
            .bind(device_id);
        self.optional(query)
            .await?
            .map(TryInto::try_into)
            .transpose()
    }

    async fn devices(&self, user_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        let query = sqlx::query_as::<_, DeviceRow>(statements::DEVICES_OF_USER).bind(user_id);
        self.all(query)
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn devices_page(
        &self,
        user_id: &str,
        after: Option<(Millis, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>> {
        let query = match after {
            None => sqlx::query_as::<_, DeviceRow>(statements::DEVICES_PAGE_FIRST).bind(user_id),
            Some((created_at, device_id)) => {
                sqlx::query_as::<_, DeviceRow>(statements::DEVICES_PAGE_AFTER)
                    .bind(user_id)
                    .bind(created_at)
                    .bind(created_at)
                    .bind(device_id)
            }
        };
        self.all(query.bind(i64::from(limit)))
            .await?
            .into_iter()
            .map(TryInto::try_into)
            .collect()
    }

    async fn change_device(
        &self,
        user_id: &str,
        device_id: &str,
        to: &DeviceChange,
    ) -> StoreResult<bool> {
        let statement = match to {
            DeviceChange::Approve {
                certificate,
                approved_at,
            } => sqlx::query(statements::APPROVE_DEVICE)
                .bind(certificate.issuer_key_id.as_str())
                .bind(certificate.issued_at)
                .bind(certificate.signature.as_slice())
                .bind(certificate.link_proof.as_deref())
                .bind(*approved_at),
            DeviceChange::Revoke { revoked_at } => {
                sqlx::query(statements::REVOKE_DEVICE).bind(*revoked_at)
            }
        };
        let result = self
            .execute(statement.bind(user_id).bind(device_id))
            .await?;
        Ok(DB::rows_affected(&result) > 0)
    }
}

#[async_trait]
impl<DB> KeyPackageRecords for SqlStore<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> Vec<u8>: Decode<'r, DB>,
    for<'r> KeyPackageRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> KeyPackageRefRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> CountRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> KeyPackageGrantRow: sqlx::FromRow<'r, DB::Row>,
    for<'r> KeyPackageUseRow: sqlx::FromRow<'r, DB::Row>,
{
    async fn insert_key_package(&self, package: &KeyPackageRecord) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_KEY_PACKAGE)
            .bind(package.key_package_ref.as_slice())
            .bind(package.user_id.as_str())
            .bind(package.device_id.as_str())
            .bind(package.message.as_slice())
            .bind(package.not_after)
            .bind(package.last_resort)
            .bind(package.uploaded_at);
        self.insert_unique(statement).await
    }

    async fn take_one_time_key_package(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>> {
        // Every round either wins a package or sees another taker win one, so the loop ends when the device's
        // packages do.
        loop {
            let candidates = sqlx::query_as::<_, KeyPackageRefRow>(statements::ONE_TIME_CANDIDATES)
                .bind(user_id)
                .bind(device_id)
                .bind(false)
                .bind(now)
                .bind(TAKE_CANDIDATES);
            let mut candidates = self.all(candidates).await?;
            if candidates.is_empty() {
                return Ok(None);
            }
            candidates.shuffle(&mut rand::rng());
            for candidate in candidates {
                let reference = candidate.key_package_ref.as_slice();
                let read =
                    sqlx::query_as::<_, KeyPackageRow>(statements::KEY_PACKAGE).bind(reference);
                let Some(row) = self.optional(read).await? else {
                    continue; // another taker deleted it
                };
                let delete = sqlx::query(statements::DELETE_KEY_PACKAGE).bind(reference);
                if DB::rows_affected(&self.execute(delete).await?) == 1 {
                    return Ok(Some(row.into()));
                }
            }
        }
    }

    async fn newest_last_resort(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<Option<KeyPackageRecord>> {
        let query = sqlx::query_as::<_, KeyPackageRow>(statements::NEWEST_LAST_RESORT)
            .bind(user_id)
            .bind(device_id)
            .bind(true)
            .bind(now);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn count_one_time(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<u64> {
        let query = sqlx::query_as::<_, CountRow>(statements::COUNT_ONE_TIME)
            .bind(user_id)
            .bind(device_id)
            .bind(false)
            .bind(now);
        Ok(u64::try_from(self.one(query).await?.count).unwrap_or(0))
    }

    async fn delete_other_last_resorts(
        &self,
        user_id: &str,
        device_id: &str,
        keep_ref: &[u8],
    ) -> StoreResult<()> {
        let statement = sqlx::query(statements::DELETE_OTHER_LAST_RESORTS)
            .bind(user_id)
            .bind(device_id)
            .bind(keep_ref);
        self.execute(statement).await?;
        Ok(())
    }

    async fn delete_device_key_packages(&self, user_id: &str, device_id: &str) -> StoreResult<()> {
        let statement = sqlx::query(statements::DELETE_DEVICE_KEY_PACKAGES)
            .bind(user_id)
            .bind(device_id);
        self.execute(statement).await?;
        Ok(())
    }

    async fn insert_key_package_grant(&self, grant: &KeyPackageGrant) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_KEY_PACKAGE_GRANT)
            .bind(grant.key_package_ref.as_slice())
            .bind(grant.claimer_user.as_str())
            .bind(grant.owner_user.as_str())
            .bind(grant.owner_device.as_str())
            .bind(grant.last_resort)
            .bind(grant.not_after)
            .bind(grant.granted_at);
        self.insert_unique(statement).await
    }

    async fn key_package_grant(
        &self,
        key_package_ref: &[u8],
        claimer_user: &str,
    ) -> StoreResult<Option<KeyPackageGrant>> {
        let query = sqlx::query_as::<_, KeyPackageGrantRow>(statements::KEY_PACKAGE_GRANT)
            .bind(key_package_ref)
            .bind(claimer_user);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn insert_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<Written> {
        let statement = sqlx::query(statements::INSERT_KEY_PACKAGE_USE)
            .bind(package_use.key_package_ref.as_slice())
            .bind(package_use.group_id.as_str())
            .bind(package_use.epoch)
            .bind(package_use.commit_hash.as_slice())
            .bind(package_use.used_at);
        self.insert_unique(statement).await
    }

    async fn key_package_use(&self, key_package_ref: &[u8]) -> StoreResult<Option<KeyPackageUse>> {
        let query = sqlx::query_as::<_, KeyPackageUseRow>(statements::KEY_PACKAGE_USE)
            .bind(key_package_ref);
        Ok(self.optional(query).await?.map(Into::into))
    }

    async fn replace_key_package_use(
        &self,
        stale: &KeyPackageUse,
        fresh: &KeyPackageUse,
    ) -> StoreResult<bool> {
        let statement = sqlx::query(statements::REPLACE_KEY_PACKAGE_USE)
            .bind(fresh.group_id.as_str())
            .bind(fresh.epoch)
            .bind(fresh.commit_hash.as_slice())
            .bind(fresh.used_at)
            .bind(stale.key_package_ref.as_slice())
            .bind(stale.group_id.as_str())
            .bind(stale.epoch)
            .bind(stale.commit_hash.as_slice());
        Ok(DB::rows_affected(&self.execute(statement).await?) == 1)
    }

    async fn delete_key_package_use(&self, package_use: &KeyPackageUse) -> StoreResult<()> {
        let statement = sqlx::query(statements::DELETE_KEY_PACKAGE_USE)
            .bind(package_use.key_package_ref.as_slice())
            .bind(package_use.group_id.as_str())
            .bind(package_use.epoch)
            .bind(package_use.commit_hash.as_slice());
        self.execute(statement).await?;
        Ok(())
    }
}
