//! KeyPackageStore conformance: uploads, supply, and claims that hand each one-time package out once.

use std::collections::HashSet;

use e2ee_storage::{KeyPackageSupply, MAX_KEY_PACKAGE_BATCH, NewKeyPackage, StoreError, Stores};

use crate::devices::{USER, new_device, register};
use crate::support::{assert_invalid, concurrently};

/// Comfortably after any test's "now".
const FAR_FUTURE: i64 = 4_102_444_800_000;
const NOW: i64 = 1_764_145_653_000;
/// The user whose device claims packages (grants are recorded for it).
const CLAIMER: &str = "u_00000000000000000000000000c1a1e5";

/// A package whose reference and message are derived from `device` and `index`.
fn package(device_id: &str, index: usize, last_resort: bool) -> NewKeyPackage {
    let reference = format!("{device_id}/{index}/{last_resort}");
    NewKeyPackage {
        key_package_ref: reference.as_bytes().to_vec(),
        message: format!("MLSMessage of {reference}").into_bytes(),
        not_after: FAR_FUTURE,
        last_resort,
    }
}

fn packages(device_id: &str, range: std::ops::Range<usize>) -> Vec<NewKeyPackage> {
    range
        .map(|index| package(device_id, index, false))
        .collect()
}

async fn upload(
    stores: &Stores,
    device_id: &str,
    packages: Vec<NewKeyPackage>,
) -> KeyPackageSupply {
    stores
        .key_packages
        .upload(USER, device_id, packages, NOW)
        .await
        .expect("upload")
}

async fn supply(stores: &Stores, device_id: &str, now: i64) -> KeyPackageSupply {
    stores
        .key_packages
        .supply(USER, device_id, now)
        .await
        .expect("supply")
}

fn one_time(count: u64, last_resort: bool) -> KeyPackageSupply {
    KeyPackageSupply {
        one_time: count,
        last_resort,
    }
}

pub async fn key_packages_upload_supply_and_claim(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    register(&stores, new_device(USER, "phone", 2, true)).await;
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(0, false));
    assert_eq!(
        upload(&stores, "laptop", packages("laptop", 0..3)).await,
        one_time(3, false)
    );
    // A retried upload is skipped package by package; new ones in the same batch are added.
    assert_eq!(
        upload(&stores, "laptop", packages("laptop", 0..5)).await,
        one_time(5, false)
    );
    assert_eq!(
        upload(&stores, "phone", packages("phone", 0..1)).await,
        one_time(1, false)
    );

    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, NOW)
        .await
        .expect("claim");
    let devices: Vec<_> = claimed.iter().map(|p| p.device_id.as_str()).collect();
    assert_eq!(
        devices,
        ["laptop", "phone"],
        "one package per device, oldest device first"
    );
    let expected = package("phone", 0, false);
    assert_eq!(claimed[1].key_package_ref, expected.key_package_ref);
    assert_eq!(claimed[1].message, expected.message, "handed out unchanged");
    assert!(claimed.iter().all(|p| !p.last_resort));
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(4, false));
    assert_eq!(supply(&stores, "phone", NOW).await, one_time(0, false));

    // The phone has nothing left: it is left out, the laptop still gives one.
    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, NOW)
        .await
        .expect("claim");
    let devices: Vec<_> = claimed.iter().map(|p| p.device_id.as_str()).collect();
    assert_eq!(devices, ["laptop"]);
    assert!(
        stores
            .key_packages
            .claim(CLAIMER, "u_nobody", NOW)
            .await
            .expect("claim")
            .is_empty()
    );
}

pub async fn key_packages_concurrent_claims_never_hand_out_a_package_twice(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    register(&stores, new_device(USER, "phone", 2, true)).await;
    upload(&stores, "laptop", packages("laptop", 0..10)).await;
    upload(&stores, "phone", packages("phone", 0..20)).await;
    let claims = concurrently(16, |_| {
        let stores = stores.clone();
        async move {
            stores
                .key_packages
                .claim(CLAIMER, USER, NOW)
                .await
                .expect("claim")
        }
    })
    .await;
    let handed_out: Vec<_> = claims
        .iter()
        .flatten()
        .map(|p| p.key_package_ref.clone())
        .collect();
    let distinct: HashSet<_> = handed_out.iter().collect();
    assert_eq!(
        distinct.len(),
        handed_out.len(),
        "a package was handed out twice"
    );
    // Ten laptop packages for sixteen claims: ten claims get one, six find none; every claim gets a phone one.
    let count = |device: &str| {
        claims
            .iter()
            .flatten()
            .filter(|p| p.device_id == device)
            .count()
    };
    assert_eq!((count("laptop"), count("phone")), (10, 16));
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(0, false));
    assert_eq!(supply(&stores, "phone", NOW).await, one_time(4, false));
}

pub async fn key_packages_last_resort_is_handed_out_without_being_consumed(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    let mut batch = packages("laptop", 0..2);
    batch.push(package("laptop", 0, true));
    assert_eq!(upload(&stores, "laptop", batch).await, one_time(2, true));

    let mut handed_out = Vec::new();
    for _ in 0..4 {
        let claimed = stores
            .key_packages
            .claim(CLAIMER, USER, NOW)
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        handed_out.push((claimed[0].key_package_ref.clone(), claimed[0].last_resort));
    }
    let last_resort = package("laptop", 0, true).key_package_ref;
    // One-time packages first; then the last-resort one, again and again.
    assert!(!handed_out[0].1 && !handed_out[1].1);
    assert_eq!(handed_out[2], (last_resort.clone(), true));
    assert_eq!(handed_out[3], (last_resort, true));
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(0, true));

    // A newer last-resort package replaces the previous one.
    assert_eq!(
        upload(&stores, "laptop", vec![package("laptop", 1, true)]).await,
        one_time(0, true)
    );
    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, NOW)
        .await
        .expect("claim");
    assert_eq!(
        claimed[0].key_package_ref,
        package("laptop", 1, true).key_package_ref
    );
    // Fresh one-time packages are preferred again.
    upload(&stores, "laptop", packages("laptop", 5..6)).await;
    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, NOW)
        .await
        .expect("claim");
    assert_eq!(
        claimed[0].key_package_ref,
        package("laptop", 5, false).key_package_ref
    );
}

pub async fn key_packages_expired_packages_are_never_handed_out(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    let mut short = package("laptop", 0, false);
    short.not_after = NOW + 1_000;
    let mut short_last_resort = package("laptop", 0, true);
    short_last_resort.not_after = NOW + 1_000;
    let long = package("laptop", 1, false);
    upload(
        &stores,
        "laptop",
        vec![short, short_last_resort, long.clone()],
    )
    .await;
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(2, true));

    let later = NOW + 1_000; // not_after is the first instant the package is no longer valid
    assert_eq!(supply(&stores, "laptop", later).await, one_time(1, false));
    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, later)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].key_package_ref, long.key_package_ref);
    assert!(
        stores
            .key_packages
            .claim(CLAIMER, USER, later)
            .await
            .expect("claim")
            .is_empty()
    );

    // Uploading a package that is already expired is refused.
    let mut expired = package("laptop", 9, false);
    expired.not_after = NOW;
    assert_invalid(
        stores
            .key_packages
            .upload(USER, "laptop", vec![expired], NOW)
            .await,
        "expired package",
    );
}

pub async fn key_packages_belong_to_active_devices_only(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    register(&stores, new_device(USER, "phone", 2, false)).await;
    let pending = stores
        .key_packages
        .upload(USER, "phone", packages("phone", 0..1), NOW)
        .await;
    assert!(
        matches!(pending, Err(StoreError::DevicePending)),
        "{pending:?}"
    );
    let unknown = stores
        .key_packages
        .upload(USER, "tablet", packages("tablet", 0..1), NOW)
        .await;
    assert!(
        matches!(unknown, Err(StoreError::DeviceNotFound)),
        "{unknown:?}"
    );

    upload(&stores, "laptop", packages("laptop", 0..3)).await;
    stores.devices.revoke(USER, "laptop").await.expect("revoke");
    // Revocation deletes the packages and closes the device to uploads and claims.
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(0, false));
    assert!(
        stores
            .key_packages
            .claim(CLAIMER, USER, NOW)
            .await
            .expect("claim")
            .is_empty()
    );
    let revoked = stores
        .key_packages
        .upload(USER, "laptop", packages("laptop", 5..6), NOW)
        .await;
    assert!(
        matches!(revoked, Err(StoreError::DeviceRevoked)),
        "{revoked:?}"
    );
}

pub async fn key_packages_invalid_batches_are_bad_requests_and_write_nothing(stores: Stores) {
    register(&stores, new_device(USER, "laptop", 1, true)).await;
    let upload_result = |batch: Vec<NewKeyPackage>| {
        let stores = stores.clone();
        async move { stores.key_packages.upload(USER, "laptop", batch, NOW).await }
    };
    assert_invalid(upload_result(Vec::new()).await, "empty batch");
    assert_invalid(
        upload_result(packages("laptop", 0..MAX_KEY_PACKAGE_BATCH + 1)).await,
        "batch over the limit",
    );
    let mut oversize = packages("laptop", 0..2);
    oversize[1].message = vec![0; 16 * 1024 + 1];
    assert_invalid(upload_result(oversize).await, "oversize package");
    let mut no_reference = packages("laptop", 0..2);
    no_reference[1].key_package_ref.clear();
    assert_invalid(
        upload_result(no_reference).await,
        "package without a reference",
    );
    assert_eq!(supply(&stores, "laptop", NOW).await, one_time(0, false));

    let full = upload_result(packages("laptop", 0..MAX_KEY_PACKAGE_BATCH)).await;
    assert_eq!(full.ok(), Some(one_time(100, false)));
    assert_invalid(
        stores.key_packages.supply(USER, "bad id", NOW).await,
        "supply of a bad device id",
    );
}

/// A claim's answer stays bounded: packages of at most `MAX_CLAIMED_DEVICES` devices, the oldest; the others'
/// packages are not taken.
pub async fn key_packages_claims_take_from_at_most_the_oldest_hundred_devices(stores: Stores) {
    let max = e2ee_storage::MAX_CLAIMED_DEVICES;
    let ids: Vec<String> = (0..=max).map(|i| format!("d{i:03}")).collect();
    for (index, id) in ids.iter().enumerate() {
        let seed = u8::try_from(index % 250 + 1).expect("seed");
        register(&stores, new_device(USER, id, seed, true)).await;
        upload(&stores, id, packages(id, 0..1)).await;
    }
    let claimed = stores
        .key_packages
        .claim(CLAIMER, USER, NOW)
        .await
        .expect("claim");
    let devices: Vec<&str> = claimed.iter().map(|p| p.device_id.as_str()).collect();
    let expected: Vec<&str> = ids[..max].iter().map(String::as_str).collect();
    assert_eq!(devices, expected);
    let last = &ids[max];
    assert_eq!(supply(&stores, last, NOW).await, one_time(1, false));
}
