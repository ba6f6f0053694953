//! DeviceStore conformance: the MLS device directory.

use e2ee_storage::{DeviceCertificate, DeviceStatus, NewDevice, StoreError, Stores};

use crate::support::{assert_invalid, concurrently};

pub const USER: &str = "u_0123456789abcdef0123456789abcdef";
const OTHER_USER: &str = "u_fedcba9876543210fedcba9876543210";

pub fn certificate(seed: u8) -> DeviceCertificate {
    DeviceCertificate {
        issuer_key_id: "a".repeat(64),
        issued_at: 1_764_145_653_000,
        signature: vec![seed; 256],
        link_proof: None,
    }
}

/// A device with a signature key derived from `seed`; certified (active at once) or pending.
pub fn new_device(user_id: &str, device_id: &str, seed: u8, certified: bool) -> NewDevice {
    NewDevice {
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
        display_name: format!("{device_id} phone"),
        signature_key: vec![seed; 32],
        certificate: certified.then(|| certificate(seed)),
    }
}

pub async fn register(stores: &Stores, device: NewDevice) -> e2ee_storage::DeviceRecord {
    stores.devices.register(device).await.expect("register")
}

pub async fn devices_register_get_and_list(stores: Stores) {
    let first = register(&stores, new_device(USER, "laptop", 1, true)).await;
    assert_eq!(first.status, DeviceStatus::Active);
    assert_eq!(first.certificate, Some(certificate(1)));
    assert_eq!(first.signature_key, vec![1; 32]);
    assert_eq!(first.display_name, "laptop phone");
    assert_eq!(first.approved_at, Some(first.created_at));
    assert_eq!(first.revoked_at, None);

    let second = register(&stores, new_device(USER, "phone", 2, false)).await;
    assert_eq!(second.status, DeviceStatus::Pending);
    assert_eq!(
        (second.certificate.clone(), second.approved_at),
        (None, None)
    );

    let get = |device_id: &'static str| {
        let stores = stores.clone();
        async move { stores.devices.get(USER, device_id).await.expect("get") }
    };
    assert_eq!(get("laptop").await, Some(first.clone()));
    assert_eq!(get("phone").await, Some(second.clone()));
    assert_eq!(get("tablet").await, None);
    // Devices are per user.
    assert_eq!(
        stores.devices.get(OTHER_USER, "laptop").await.expect("get"),
        None
    );
    let listed = stores.devices.list_for_user(USER).await.expect("list");
    assert_eq!(listed, vec![first, second]);
    assert!(
        stores
            .devices
            .list_for_user(OTHER_USER)
            .await
            .expect("list")
            .is_empty()
    );
}

pub async fn devices_registration_is_idempotent_and_ids_are_not_reused(stores: Stores) {
    let stored = register(&stores, new_device(USER, "laptop", 1, true)).await;
    // A retry (same key and certificate) returns the stored record unchanged.
    let again = register(&stores, new_device(USER, "laptop", 1, true)).await;
    assert_eq!(again, stored);
    // The same id with another key, or without the certificate, is a different device.
    let other_key = stores
        .devices
        .register(new_device(USER, "laptop", 9, true))
        .await;
    assert!(
        matches!(other_key, Err(StoreError::DeviceExists)),
        "{other_key:?}"
    );
    let uncertified = stores
        .devices
        .register(new_device(USER, "laptop", 1, false))
        .await;
    assert!(
        matches!(uncertified, Err(StoreError::DeviceExists)),
        "{uncertified:?}"
    );
    assert_eq!(
        stores.devices.get(USER, "laptop").await.expect("get"),
        Some(stored)
    );

    // A revoked id stays taken, even with the very same key.
    stores.devices.revoke(USER, "laptop").await.expect("revoke");
    let reused = stores
        .devices
        .register(new_device(USER, "laptop", 1, true))
        .await;
    assert!(
        matches!(reused, Err(StoreError::DeviceRevoked)),
        "{reused:?}"
    );
}

pub async fn devices_concurrent_registrations_of_one_id_have_one_winner(stores: Stores) {
    let results = concurrently(16, |index| {
        let stores = stores.clone();
        // Two of the sixteen carry the same key as each other; every registrant differs from most others.
        let seed = u8::try_from(index / 2).expect("small");
        async move {
            stores
                .devices
                .register(new_device(USER, "laptop", seed, true))
                .await
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::DeviceExists)))
        .count();
    // The winner and its twin succeed with one and the same record; the other fourteen conflict.
    assert_eq!((winners.len(), losers), (2, 14), "{results:?}");
    assert_eq!(winners[0], winners[1]);
    let stored = stores.devices.get(USER, "laptop").await.expect("get");
    assert_eq!(stored.as_ref(), Some(winners[0]));
}

pub async fn devices_approval(stores: Stores) {
    register(&stores, new_device(USER, "phone", 2, false)).await;
    let approved = stores
        .devices
        .approve(USER, "phone", certificate(7))
        .await
        .expect("approve");
    assert_eq!(approved.status, DeviceStatus::Active);
    assert_eq!(approved.certificate, Some(certificate(7)));
    assert!(
        approved
            .approved_at
            .is_some_and(|at| at >= approved.created_at)
    );
    assert_eq!(
        stores.devices.get(USER, "phone").await.expect("get"),
        Some(approved.clone())
    );

    // Approving again with the same certificate is a harmless retry; another certificate is refused.
    let retry = stores.devices.approve(USER, "phone", certificate(7)).await;
    assert_eq!(retry.ok(), Some(approved.clone()));
    let other = stores.devices.approve(USER, "phone", certificate(8)).await;
    assert!(
        matches!(other, Err(StoreError::DeviceNotPending)),
        "{other:?}"
    );
    assert_eq!(
        stores.devices.get(USER, "phone").await.expect("get"),
        Some(approved)
    );

    let unknown = stores.devices.approve(USER, "tablet", certificate(7)).await;
    assert!(
        matches!(unknown, Err(StoreError::DeviceNotFound)),
        "{unknown:?}"
    );
    // Another user's device of the same id is a different device.
    let foreign = stores
        .devices
        .approve(OTHER_USER, "phone", certificate(7))
        .await;
    assert!(
        matches!(foreign, Err(StoreError::DeviceNotFound)),
        "{foreign:?}"
    );

    // A link proof is stored with the certificate and read back (get and every listing), as given.
    register(&stores, new_device(USER, "tablet", 4, false)).await;
    let linked = DeviceCertificate {
        link_proof: Some(vec![0xA5; 32]),
        ..certificate(4)
    };
    let approved = stores
        .devices
        .approve(USER, "tablet", linked.clone())
        .await
        .expect("approve with a link proof");
    assert_eq!(approved.certificate.as_ref(), Some(&linked));
    assert_eq!(
        stores
            .devices
            .get(USER, "tablet")
            .await
            .expect("get")
            .and_then(|d| d.certificate)
            .and_then(|c| c.link_proof),
        Some(vec![0xA5; 32])
    );
    let page = stores
        .devices
        .list_page(USER, None, 10)
        .await
        .expect("page");
    let listed = page.iter().find(|d| d.device_id == "tablet");
    assert_eq!(listed.and_then(|d| d.certificate.as_ref()), Some(&linked));
    // The phone's certificate has none.
    assert_eq!(
        page.iter()
            .find(|d| d.device_id == "phone")
            .and_then(|d| d.certificate.as_ref())
            .map(|c| c.link_proof.is_none()),
        Some(true)
    );

    register(&stores, new_device(USER, "old", 3, false)).await;
    stores.devices.revoke(USER, "old").await.expect("revoke");
    let revoked = stores.devices.approve(USER, "old", certificate(3)).await;
    assert!(
        matches!(revoked, Err(StoreError::DeviceRevoked)),
        "{revoked:?}"
    );
}

pub async fn devices_concurrent_approvals_have_one_winner(stores: Stores) {
    register(&stores, new_device(USER, "phone", 2, false)).await;
    let results = concurrently(16, |index| {
        let stores = stores.clone();
        let seed = u8::try_from(index).expect("small");
        async move {
            stores
                .devices
                .approve(USER, "phone", certificate(seed))
                .await
        }
    })
    .await;
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::DeviceNotPending)))
    );
    let stored = stores.devices.get(USER, "phone").await.expect("get");
    assert_eq!(stored.as_ref(), Some(winners[0]));
}

pub async fn devices_revocation_is_final_and_removes_the_device_from_the_list(stores: Stores) {
    let laptop = register(&stores, new_device(USER, "laptop", 1, true)).await;
    register(&stores, new_device(USER, "phone", 2, false)).await;
    let revoked = stores.devices.revoke(USER, "phone").await.expect("revoke");
    assert_eq!(revoked.status, DeviceStatus::Revoked);
    let revoked_at = revoked.revoked_at.expect("revoked_at");
    assert_eq!(
        stores.devices.list_for_user(USER).await.expect("list"),
        vec![laptop]
    );
    // Still readable by id (its history is checked against it), and revoking again keeps the first time.
    assert_eq!(
        stores.devices.get(USER, "phone").await.expect("get"),
        Some(revoked.clone())
    );
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let again = stores
        .devices
        .revoke(USER, "phone")
        .await
        .expect("revoke again");
    assert_eq!(again.revoked_at, Some(revoked_at));
    let unknown = stores.devices.revoke(USER, "tablet").await;
    assert!(
        matches!(unknown, Err(StoreError::DeviceNotFound)),
        "{unknown:?}"
    );
}

pub async fn devices_invalid_input_is_bad_request(stores: Stores) {
    let bad_ids = ["", "has space", "dot.ted", &"d".repeat(65), "ünï"];
    for device_id in bad_ids {
        let result = stores
            .devices
            .register(new_device(USER, device_id, 1, true))
            .await;
        assert_invalid(result, &format!("device id {device_id:?}"));
    }
    let mut longest_id = new_device(USER, &"d".repeat(64), 1, true);
    longest_id.display_name = "Longest id".into();
    assert!(stores.devices.register(longest_id).await.is_ok());

    let mut no_key = new_device(USER, "a", 1, true);
    no_key.signature_key.clear();
    let mut long_key = new_device(USER, "b", 1, true);
    long_key.signature_key = vec![1; 257];
    let mut bad_name = new_device(USER, "c", 1, true);
    bad_name.display_name = "line\nbreak".into();
    let mut empty_name = new_device(USER, "d", 1, true);
    empty_name.display_name.clear();
    let mut bad_user = new_device("", "e", 1, true);
    bad_user.user_id.clear();
    let mut bad_issuer = new_device(USER, "f", 1, true);
    if let Some(certificate) = bad_issuer.certificate.as_mut() {
        certificate.issuer_key_id = "A".repeat(64);
    }
    let mut long_signature = new_device(USER, "g", 1, true);
    if let Some(certificate) = long_signature.certificate.as_mut() {
        certificate.signature = vec![1; 513];
    }
    for (what, device) in [
        ("no key", no_key),
        ("long key", long_key),
        ("control character in name", bad_name),
        ("empty name", empty_name),
        ("empty user", bad_user),
        ("uppercase issuer key id", bad_issuer),
        ("long signature", long_signature),
    ] {
        assert_invalid(stores.devices.register(device).await, what);
    }
    let mut empty_signature = certificate(1);
    empty_signature.signature.clear();
    assert_invalid(
        stores.devices.approve(USER, "x", empty_signature).await,
        "empty certificate signature",
    );
    for length in [0, 31, 33] {
        let short_proof = DeviceCertificate {
            link_proof: Some(vec![1; length]),
            ..certificate(1)
        };
        assert_invalid(
            stores.devices.approve(USER, "x", short_proof).await,
            &format!("a link proof of {length} bytes"),
        );
    }
    assert_invalid(stores.devices.revoke(USER, "a b").await, "revoke a bad id");
    // Nothing of the refused registrations was written.
    let listed = stores.devices.list_for_user(USER).await.expect("list");
    assert_eq!(listed.len(), 1, "{listed:?}");
}

/// `list_page` walks the pending and active devices by `(created_at, device_id)` from a position, revoked ones
/// left out (their position still continues a walk); `count_for_user` counts them by status.
pub async fn devices_pages_and_counts(stores: Stores) {
    for (index, certified) in [true, false, true, false, false, true, false]
        .into_iter()
        .enumerate()
    {
        register(
            &stores,
            new_device(USER, &format!("d{index}"), 1, certified),
        )
        .await;
    }
    register(&stores, new_device(OTHER_USER, "x", 1, true)).await;
    stores.devices.revoke(USER, "d2").await.expect("revoke");
    let all: Vec<(i64, String)> = stores
        .devices
        .list_for_user(USER)
        .await
        .expect("list")
        .into_iter()
        .map(|d| (d.created_at, d.device_id))
        .collect();
    assert_eq!(all.len(), 6);
    let mut walked = Vec::new();
    let mut after: Option<(i64, String)> = None;
    loop {
        let page = stores
            .devices
            .list_page(USER, after.as_ref().map(|(at, id)| (*at, id.as_str())), 4)
            .await
            .expect("page");
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.device_id.clone()));
        walked.extend(page.into_iter().map(|d| (d.created_at, d.device_id)));
    }
    assert_eq!(walked, all);
    // From a revoked device's position: the devices after it.
    let revoked = stores
        .devices
        .get(USER, "d2")
        .await
        .expect("get")
        .expect("d2");
    let rest = stores
        .devices
        .list_page(USER, Some((revoked.created_at, "d2")), 10)
        .await
        .expect("page");
    let ids: Vec<&str> = rest.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(ids, ["d3", "d4", "d5", "d6"]);
    let counts = stores.devices.count_for_user(USER).await.expect("count");
    assert_eq!((counts.pending, counts.active), (4, 2));
    for limit in [0, e2ee_storage::MAX_DEVICE_PAGE_ROWS + 1] {
        assert_invalid(stores.devices.list_page(USER, None, limit).await, "limit");
    }
}
