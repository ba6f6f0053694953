//! The device directory: validated, one conditional write per decision (insert unique on `(user, device)`,
//! conditional status change), the outcome of a refused write read back afterwards.

use async_trait::async_trait;

use super::{DeviceChange, DeviceRecords, Devices, KeyPackageRecords, Written, bounded};
use crate::devices::{
    DeviceCertificate, DeviceCounts, DeviceRecord, DeviceStatus, DeviceStore, MAX_DEVICE_PAGE_ROWS,
    NewDevice,
};
use crate::error::{StoreError, StoreResult};
use crate::ids::now_millis;
use crate::model::Millis;
use crate::validate;

impl<R: DeviceRecords> Devices<R> {
    /// The stored device, or `DeviceNotFound`.
    async fn existing(&self, user_id: &str, device_id: &str) -> StoreResult<DeviceRecord> {
        self.0
            .device(user_id, device_id)
            .await?
            .ok_or(StoreError::DeviceNotFound)
    }
}

#[async_trait]
impl<R: DeviceRecords + KeyPackageRecords> DeviceStore for Devices<R> {
    async fn register(&self, device: NewDevice) -> StoreResult<DeviceRecord> {
        bounded(async {
            validate::new_device(&device)?;
            let now = now_millis();
            let status = match device.certificate {
                Some(_) => DeviceStatus::Active,
                None => DeviceStatus::Pending,
            };
            let record = DeviceRecord {
                approved_at: device.certificate.as_ref().map(|_| now),
                user_id: device.user_id,
                device_id: device.device_id,
                display_name: device.display_name,
                signature_key: device.signature_key,
                status,
                certificate: device.certificate,
                created_at: now,
                revoked_at: None,
            };
            if self.0.insert_device(&record).await? == Written::Inserted {
                return Ok(record);
            }
            let stored = self.existing(&record.user_id, &record.device_id).await?;
            if stored.status == DeviceStatus::Revoked {
                Err(StoreError::DeviceRevoked)
            } else if stored.signature_key == record.signature_key
                && stored.certificate == record.certificate
            {
                Ok(stored)
            } else {
                Err(StoreError::DeviceExists)
            }
        })
        .await
    }

    async fn approve(
        &self,
        user_id: &str,
        device_id: &str,
        certificate: DeviceCertificate,
    ) -> StoreResult<DeviceRecord> {
        bounded(async {
            validate::device_ref(user_id, device_id)?;
            validate::certificate(&certificate)?;
            let change = DeviceChange::Approve {
                certificate: certificate.clone(),
                approved_at: now_millis(),
            };
            self.0.change_device(user_id, device_id, &change).await?;
            // Read back whatever won: this approval, an earlier one, or a revocation.
            let stored = self.existing(user_id, device_id).await?;
            match stored.status {
                DeviceStatus::Active if stored.certificate.as_ref() == Some(&certificate) => {
                    Ok(stored)
                }
                DeviceStatus::Active => Err(StoreError::DeviceNotPending),
                DeviceStatus::Revoked => Err(StoreError::DeviceRevoked),
                DeviceStatus::Pending => Err(StoreError::Internal(
                    "a pending device did not take its approval".to_owned(),
                )),
            }
        })
        .await
    }

    async fn revoke(&self, user_id: &str, device_id: &str) -> StoreResult<DeviceRecord> {
        bounded(async {
            validate::device_ref(user_id, device_id)?;
            let change = DeviceChange::Revoke {
                revoked_at: now_millis(),
            };
            self.0.change_device(user_id, device_id, &change).await?;
            let stored = self.existing(user_id, device_id).await?;
            // Claims skip revoked devices already; deleting the packages (again, on a retry) only frees space.
            self.0
                .delete_device_key_packages(user_id, device_id)
                .await?;
            Ok(stored)
        })
        .await
    }

    async fn get(&self, user_id: &str, device_id: &str) -> StoreResult<Option<DeviceRecord>> {
        bounded(self.0.device(user_id, device_id)).await
    }

    async fn list_page(
        &self,
        user_id: &str,
        after: Option<(Millis, &str)>,
        limit: u32,
    ) -> StoreResult<Vec<DeviceRecord>> {
        bounded(async {
            // A user id with a placeholder device id when there is no position: the user id rule either way.
            validate::device_ref(user_id, after.map_or("start", |(_, device_id)| device_id))?;
            if !(1..=MAX_DEVICE_PAGE_ROWS).contains(&limit) {
                return Err(StoreError::invalid(
                    "limit",
                    format!("limit must be 1 to {MAX_DEVICE_PAGE_ROWS}"),
                ));
            }
            self.0.devices_page(user_id, after, limit).await
        })
        .await
    }

    async fn count_for_user(&self, user_id: &str) -> StoreResult<DeviceCounts> {
        bounded(async {
            // Bounded by the caps (and revoked devices by the registration quota), so reading the rows is cheap.
            let mut counts = DeviceCounts::default();
            for device in self.0.devices(user_id).await? {
                match device.status {
                    DeviceStatus::Pending => counts.pending += 1,
                    DeviceStatus::Active => counts.active += 1,
                    DeviceStatus::Revoked => {}
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn list_for_user(&self, user_id: &str) -> StoreResult<Vec<DeviceRecord>> {
        bounded(async {
            let mut devices = self.0.devices(user_id).await?;
            devices.retain(|device| device.status != DeviceStatus::Revoked);
            Ok(devices)
        })
        .await
    }
}
