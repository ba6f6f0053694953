//! Key packages: uploads of an active device, and claims that consume exactly one one-time package per device
//! (the backend's atomic take) or fall back to the device's last-resort package.

use async_trait::async_trait;

use super::{
    DeviceRecords, KeyPackageGrant, KeyPackageRecord, KeyPackageRecords, KeyPackages, bounded,
};
use crate::devices::{
    ClaimedKeyPackage, DeviceStatus, KeyPackageStore, KeyPackageSupply, MAX_CLAIMED_DEVICES,
    NewKeyPackage,
};
use crate::error::{StoreError, StoreResult};
use crate::model::Millis;
use crate::validate;

impl<R: KeyPackageRecords> KeyPackages<R> {
    async fn supply_of(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<KeyPackageSupply> {
        Ok(KeyPackageSupply {
            one_time: self.0.count_one_time(user_id, device_id, now).await?,
            last_resort: self
                .0
                .newest_last_resort(user_id, device_id, now)
                .await?
                .is_some(),
        })
    }
}

fn claimed(package: KeyPackageRecord) -> ClaimedKeyPackage {
    ClaimedKeyPackage {
        device_id: package.device_id,
        key_package_ref: package.key_package_ref,
        message: package.message,
        last_resort: package.last_resort,
    }
}

#[async_trait]
impl<R: DeviceRecords + KeyPackageRecords> KeyPackageStore for KeyPackages<R> {
    async fn upload(
        &self,
        user_id: &str,
        device_id: &str,
        packages: Vec<NewKeyPackage>,
        now: Millis,
    ) -> StoreResult<KeyPackageSupply> {
        bounded(async {
            validate::device_ref(user_id, device_id)?;
            validate::key_packages(&packages, now)?;
            let device = self
                .0
                .device(user_id, device_id)
                .await?
                .ok_or(StoreError::DeviceNotFound)?;
            match device.status {
                DeviceStatus::Active => {}
                DeviceStatus::Pending => return Err(StoreError::DevicePending),
                DeviceStatus::Revoked => return Err(StoreError::DeviceRevoked),
            }
            let mut newest_last_resort = None;
            for package in packages {
                let record = KeyPackageRecord {
                    user_id: user_id.to_owned(),
                    device_id: device_id.to_owned(),
                    key_package_ref: package.key_package_ref,
                    message: package.message,
                    not_after: package.not_after,
                    last_resort: package.last_resort,
                    uploaded_at: now,
                };
                // A package already stored (a retried upload) is left as it is.
                self.0.insert_key_package(&record).await?;
                if record.last_resort {
                    newest_last_resort = Some(record.key_package_ref);
                }
            }
            // One last-resort package per device: the newest replaces the others. A crash before this leaves two
            // for a while, of which claims hand out the newest.
            if let Some(keep) = newest_last_resort {
                self.0
                    .delete_other_last_resorts(user_id, device_id, &keep)
                    .await?;
            }
            self.supply_of(user_id, device_id, now).await
        })
        .await
    }

    async fn supply(
        &self,
        user_id: &str,
        device_id: &str,
        now: Millis,
    ) -> StoreResult<KeyPackageSupply> {
        bounded(async {
            validate::device_ref(user_id, device_id)?;
            self.supply_of(user_id, device_id, now).await
        })
        .await
    }

    async fn claim(
        &self,
        claimer_user: &str,
        user_id: &str,
        now: Millis,
    ) -> StoreResult<Vec<ClaimedKeyPackage>> {
        bounded(async {
            validate::reference("user_id", claimer_user)?;
            validate::reference("user_id", user_id)?;
            let mut claimed_packages = Vec::new();
            let active = self
                .0
                .devices(user_id)
                .await?
                .into_iter()
                .filter(|device| device.status == DeviceStatus::Active)
                .take(MAX_CLAIMED_DEVICES);
            for device in active {
                let id = &device.device_id;
                let package = match self.0.take_one_time_key_package(user_id, id, now).await? {
                    Some(package) => Some(package),
                    None => self.0.newest_last_resort(user_id, id, now).await?,
                };
                let Some(package) = package else { continue };
                // The grant is what lets the claimer's commit add this package. A crash before it leaves a
                // taken one-time package nobody can add: lost, as a package taken and never returned always was.
                self.0
                    .insert_key_package_grant(&KeyPackageGrant {
                        key_package_ref: package.key_package_ref.clone(),
                        claimer_user: claimer_user.to_owned(),
                        owner_user: package.user_id.clone(),
                        owner_device: package.device_id.clone(),
                        last_resort: package.last_resort,
                        not_after: package.not_after,
                        granted_at: now,
                    })
                    .await?;
                claimed_packages.push(claimed(package));
            }
            Ok(claimed_packages)
        })
        .await
    }
}
