//! Size and supply limits of the MLS routes (docs/security.md, "Rate limits and quotas"): rules as plain
//! functions over typed inputs, and the one call each handler makes.

use e2ee_protocol::ErrorCode;
use e2ee_storage::{MAX_GROUP_INFO_BYTES, NewKeyPackage};

use crate::auth::DeviceCaller;
use crate::error::ApiError;
use crate::state::AppState;

/// What any Welcome may take besides its per-member parts: the MLSMessage and Welcome headers, the encrypted
/// GroupInfo's group context (group id, hashes, extensions), its other extensions, confirmation tag, signer
/// and signature, and the AEAD tag.
pub const WELCOME_BASE_BYTES: usize = 16 * 1024;
/// Per added member: one `EncryptedGroupSecrets` (key package reference, HPKE KEM output and the encrypted
/// joiner secret, path secret and PSK ids), measured at about 160 bytes.
pub const WELCOME_BYTES_PER_ADDED: usize = 1024;
/// Per member of the new epoch: its part of the ratchet tree extension the GroupInfo may carry (a leaf node
/// and its share of parent nodes), measured at about 200 bytes.
pub const WELCOME_BYTES_PER_MEMBER: usize = 2 * 1024;

/// The largest Welcome a commit that adds `added` members to a group of `members` members (after the
/// commit) may carry: [`WELCOME_BASE_BYTES`] + `added` × [`WELCOME_BYTES_PER_ADDED`] + `members` ×
/// [`WELCOME_BYTES_PER_MEMBER`], never more than [`MAX_GROUP_INFO_BYTES`]. Real Welcomes stay below a quarter
/// of it (`real_welcomes_stay_below_a_quarter_of_the_bound` in `shared/api/tests/groups.rs` measures openmls'
/// with the ratchet tree extension).
pub fn max_welcome_bytes(added: usize, members: usize) -> usize {
    WELCOME_BASE_BYTES
        .saturating_add(added.saturating_mul(WELCOME_BYTES_PER_ADDED))
        .saturating_add(members.saturating_mul(WELCOME_BYTES_PER_MEMBER))
        .min(MAX_GROUP_INFO_BYTES)
}

/// A Welcome of `welcome_bytes` for a commit adding `added` members to a group of `members`: `413
/// welcome_too_large` above [`max_welcome_bytes`].
pub fn check_welcome_size(
    welcome_bytes: Option<usize>,
    added: usize,
    members: usize,
) -> Result<(), ApiError> {
    let max = max_welcome_bytes(added, members);
    match welcome_bytes {
        Some(bytes) if bytes > max => Err(ApiError::new(
            lambda_http::http::StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::WelcomeTooLarge,
            format!(
                "the Welcome has {bytes} bytes; a commit adding {added} members to a group of {members} may \
                 carry at most {max}"
            ),
        )),
        _ => Ok(()),
    }
}

/// A device that has `stored` unexpired one-time packages may store `uploading` more while the sum stays
/// within `max`; otherwise `409 key_package_supply_full` (nothing of the upload is stored).
pub fn check_supply_room(stored: u64, uploading: u64, max: u64) -> Result<(), ApiError> {
    if stored.saturating_add(uploading) > max {
        return Err(ApiError::conflict(
            ErrorCode::KeyPackageSupplyFull,
            format!(
                "the device has {stored} unclaimed one-time key packages and may store at most {max}; \
                 upload at most {} now",
                max.saturating_sub(stored)
            ),
        ));
    }
    Ok(())
}

/// Whether the calling device may store `packages`: its unexpired one-time packages plus the upload's stay
/// within `KEY_PACKAGE_SUPPLY_MAX` (last-resort packages replace each other and do not count).
pub async fn check_key_package_supply(
    state: &AppState,
    caller: &DeviceCaller,
    packages: &[NewKeyPackage],
    now: i64,
) -> Result<(), ApiError> {
    let uploading = packages.iter().filter(|p| !p.last_resort).count();
    if uploading == 0 {
        return Ok(());
    }
    let supply = state
        .stores
        .key_packages
        .supply(&caller.user_id, &caller.device_id, now)
        .await?;
    check_supply_room(
        supply.one_time,
        u64::try_from(uploading).unwrap_or(u64::MAX),
        state.quotas.key_package_supply,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_welcome_bound_grows_with_added_members_and_group_size_up_to_the_cap() {
        assert_eq!(max_welcome_bytes(1, 2), 16 * 1024 + 1024 + 4 * 1024);
        assert!(max_welcome_bytes(10, 2) > max_welcome_bytes(1, 2));
        assert!(max_welcome_bytes(1, 100) > max_welcome_bytes(1, 2));
        assert_eq!(max_welcome_bytes(5000, 5000), MAX_GROUP_INFO_BYTES);
        assert_eq!(
            max_welcome_bytes(usize::MAX, usize::MAX),
            MAX_GROUP_INFO_BYTES
        );
        assert!(check_welcome_size(None, 0, 2).is_ok());
        assert!(check_welcome_size(Some(max_welcome_bytes(1, 2)), 1, 2).is_ok());
        let refused = check_welcome_size(Some(max_welcome_bytes(1, 2) + 1), 1, 2);
        assert!(refused.is_err_and(
            |e| e.code == e2ee_protocol::ErrorCode::WelcomeTooLarge && e.status.as_u16() == 413
        ));
    }

    #[test]
    fn the_supply_may_fill_up_to_the_maximum_and_no_further() {
        assert!(check_supply_room(0, 100, 200).is_ok());
        assert!(check_supply_room(100, 100, 200).is_ok());
        let refused = check_supply_room(101, 100, 200);
        assert!(
            refused.is_err_and(|e| e.code == e2ee_protocol::ErrorCode::KeyPackageSupplyFull
                && e.status.as_u16() == 409)
        );
        assert!(check_supply_room(u64::MAX, 1, 200).is_err());
    }
}
