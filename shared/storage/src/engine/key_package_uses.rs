//! Key packages are single-use across the Delivery Service (docs/mls.md, "Key packages are single-use"): what a
//! commit checks and writes for the key packages it adds, before its log row.

use sha2::{Digest, Sha256};

use super::{GroupRecords, Groups, KeyPackageRecords, KeyPackageUse, Written};
use crate::error::{StoreError, StoreResult};

/// Reservations lost to concurrent commits before giving up with `Unavailable` (each loss means another commit
/// changed the package's use, so this only ends a commit under extreme contention).
const MAX_RESERVE_ATTEMPTS: usize = 64;

impl<R: GroupRecords + KeyPackageRecords> Groups<R> {
    /// The one-time packages among `key_packages`, once every one of them is granted to `committer_user` by a
    /// claim and unexpired (`KeyPackageNotClaimed` otherwise). Last-resort packages need the grant only.
    pub(super) async fn granted_one_time_packages(
        &self,
        committer_user: &str,
        key_packages: &[Vec<u8>],
        now: crate::model::Millis,
    ) -> StoreResult<Vec<Vec<u8>>> {
        let mut one_time = Vec::new();
        for key_package_ref in key_packages {
            let grant = self
                .0
                .key_package_grant(key_package_ref, committer_user)
                .await?
                .filter(|grant| grant.not_after > now)
                .ok_or(StoreError::KeyPackageNotClaimed)?;
            if !grant.last_resort && !one_time.contains(key_package_ref) {
                one_time.push(key_package_ref.clone());
            }
        }
        Ok(one_time)
    }

    /// Reserves each one-time package for this commit, or none of them: `KeyPackageReused` when another
    /// commit holds one (what was reserved so far is released).
    pub(super) async fn reserve_key_packages(&self, uses: &[KeyPackageUse]) -> StoreResult<()> {
        for (index, package_use) in uses.iter().enumerate() {
            if let Err(error) = self.reserve_key_package(package_use).await {
                self.release_key_packages(&uses[..index]).await;
                return Err(error);
            }
        }
        Ok(())
    }

    /// One conditional write decides who uses a one-time package: the insert of its use, unique on the
    /// package. A stored use counts while its commit is the stored commit of its epoch, or may still become it
    /// (the group has not reached that epoch: in flight, or crashed — then the package stays burned, never
    /// used twice). A use whose epoch went to another commit is stale: one conditional update takes it over.
    async fn reserve_key_package(&self, package_use: &KeyPackageUse) -> StoreResult<()> {
        for _ in 0..MAX_RESERVE_ATTEMPTS {
            if self.0.insert_key_package_use(package_use).await? == Written::Inserted {
                return Ok(());
            }
            let Some(stored) = self.0.key_package_use(&package_use.key_package_ref).await? else {
                continue; // released meanwhile: insert again
            };
            if stored.same_commit(package_use) {
                return Ok(()); // a retry of this very commit
            }
            let winner = self
                .0
                .commit_and_welcome(&stored.group_id, stored.epoch)
                .await?;
            match winner {
                Some((commit, _)) if Sha256::digest(&commit)[..] != stored.commit_hash[..] => {
                    if self.0.replace_key_package_use(&stored, package_use).await? {
                        return Ok(());
                    }
                }
                _ => return Err(StoreError::KeyPackageReused),
            }
        }
        Err(StoreError::Unavailable(
            "the key package is too busy; retry".to_owned(),
        ))
    }

    /// Best effort: a refused commit gives back the packages it reserved. What a failure here leaves is a
    /// stale use, which the package's next commit takes over once this commit's epoch is decided.
    pub(super) async fn release_key_packages(&self, uses: &[KeyPackageUse]) {
        for package_use in uses {
            let _ = self.0.delete_key_package_use(package_use).await;
        }
    }
}
