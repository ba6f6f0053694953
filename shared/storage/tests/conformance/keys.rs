//! KeyStore conformance.

use e2ee_storage::{KeyStatus, StoreError, Stores};

use crate::support::{concurrently, public_key};

const USER: &str = "u_0123456789abcdef0123456789abcdef";
const OTHER_USER: &str = "u_fedcba9876543210fedcba9876543210";

pub async fn keys_put_active_and_read_back(stores: Stores) {
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        None
    );
    assert!(
        stores
            .keys
            .list_for_user(USER)
            .await
            .expect("list")
            .is_empty()
    );

    let key = public_key(USER, "first");
    let stored = stores.keys.put_active(key.clone()).await.expect("put");
    assert_eq!(stored.user_id, USER);
    assert_eq!(stored.key_id, key.key_id);
    assert_eq!(stored.public_key_pem, key.public_key_pem);
    assert_eq!(stored.bits, 2048);
    assert_eq!(stored.status, KeyStatus::Active);

    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        Some(stored.clone())
    );
    assert_eq!(
        stores.keys.get(USER, &key.key_id).await.expect("get"),
        Some(stored.clone())
    );
    assert_eq!(
        stores.keys.list_for_user(USER).await.expect("list"),
        vec![stored.clone()]
    );
    // Keys are per user: the same key id under another user is a different (absent) record.
    assert_eq!(
        stores.keys.get(OTHER_USER, &key.key_id).await.expect("get"),
        None
    );
    assert_eq!(
        stores
            .keys
            .active_for_user(OTHER_USER)
            .await
            .expect("active"),
        None
    );
    assert_eq!(
        stores.keys.get(USER, &"0".repeat(64)).await.expect("get"),
        None
    );
}

pub async fn keys_rotation_retires_previous_and_keeps_old_keys_readable(stores: Stores) {
    let mut stored = Vec::new();
    for (index, seed) in ["one", "two", "three"].iter().enumerate() {
        let mut key = public_key(USER, seed);
        key.bits = [2048, 3072, 4096][index];
        stored.push(stores.keys.put_active(key).await.expect("put"));
    }
    let active = stores
        .keys
        .active_for_user(USER)
        .await
        .expect("active")
        .expect("an active key");
    assert_eq!(active.key_id, stored[2].key_id);

    // Old keys stay readable, unchanged except for their status (old messages are wrapped to them).
    for old in &stored[..2] {
        let read = stores
            .keys
            .get(USER, &old.key_id)
            .await
            .expect("get")
            .expect("old key kept");
        assert_eq!(read.status, KeyStatus::Retired);
        assert_eq!(read.public_key_pem, old.public_key_pem);
        assert_eq!(read.bits, old.bits);
        assert_eq!(read.created_at, old.created_at);
    }

    // Newest first, even though all three were registered within a few milliseconds.
    let listed = stores.keys.list_for_user(USER).await.expect("list");
    let ids: Vec<_> = listed.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(
        ids,
        [&stored[2].key_id, &stored[1].key_id, &stored[0].key_id]
    );
    let statuses: Vec<_> = listed.iter().map(|k| k.status).collect();
    assert_eq!(
        statuses,
        [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Retired]
    );
    assert!(
        listed
            .windows(2)
            .all(|pair| pair[0].created_at > pair[1].created_at)
    );

    // Another user's rotation does not touch this user's keys.
    stores
        .keys
        .put_active(public_key(OTHER_USER, "other"))
        .await
        .expect("put");
    assert_eq!(
        stores
            .keys
            .active_for_user(USER)
            .await
            .expect("active")
            .map(|k| k.key_id),
        Some(stored[2].key_id.clone())
    );
}

pub async fn keys_registering_the_active_key_again_is_a_no_op(stores: Stores) {
    let first = stores
        .keys
        .put_active(public_key(USER, "same"))
        .await
        .expect("put");
    let again = stores
        .keys
        .put_active(public_key(USER, "same"))
        .await
        .expect("put again");
    assert_eq!(
        again, first,
        "the original record, including its created_at"
    );
    assert_eq!(
        stores.keys.list_for_user(USER).await.expect("list").len(),
        1
    );
}

pub async fn keys_reactivating_a_retired_or_revoked_key_conflicts(stores: Stores) {
    stores
        .keys
        .put_active(public_key(USER, "old"))
        .await
        .expect("put");
    stores
        .keys
        .put_active(public_key(USER, "new"))
        .await
        .expect("put");
    let result = stores.keys.put_active(public_key(USER, "old")).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "retired: {result:?}"
    );

    let new_id = public_key(USER, "new").key_id;
    stores.keys.revoke(USER, &new_id).await.expect("revoke");
    let result = stores.keys.put_active(public_key(USER, "new")).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "revoked: {result:?}"
    );
    // The failed attempts changed nothing.
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        None
    );
    let statuses: Vec<_> = stores
        .keys
        .list_for_user(USER)
        .await
        .expect("list")
        .iter()
        .map(|k| k.status)
        .collect();
    assert_eq!(statuses, [KeyStatus::Revoked, KeyStatus::Retired]);
}

pub async fn keys_revoke(stores: Stores) {
    let key = stores
        .keys
        .put_active(public_key(USER, "k"))
        .await
        .expect("put");
    let revoked = stores.keys.revoke(USER, &key.key_id).await.expect("revoke");
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.public_key_pem, key.public_key_pem);
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        None,
        "no active key after revoking it"
    );
    // Idempotent.
    assert_eq!(
        stores
            .keys
            .revoke(USER, &key.key_id)
            .await
            .expect("revoke again"),
        revoked
    );
    // Unknown key, or a key of another user → NotFound.
    let result = stores.keys.revoke(USER, &"0".repeat(64)).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");
    let result = stores.keys.revoke(OTHER_USER, &key.key_id).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "{result:?}");

    // Revoking a retired key works too, and a new key can become active afterwards.
    let second = stores
        .keys
        .put_active(public_key(USER, "k2"))
        .await
        .expect("put");
    let third = stores
        .keys
        .put_active(public_key(USER, "k3"))
        .await
        .expect("put");
    assert_eq!(
        stores
            .keys
            .revoke(USER, &second.key_id)
            .await
            .expect("revoke")
            .status,
        KeyStatus::Revoked
    );
    assert_eq!(
        stores
            .keys
            .active_for_user(USER)
            .await
            .expect("active")
            .map(|k| k.key_id),
        Some(third.key_id)
    );
}

pub async fn keys_concurrent_rotation_leaves_exactly_one_active_key(stores: Stores) {
    // Several rounds, because a lost race needs an unlucky interleaving to show.
    const ROUNDS: usize = 8;
    const RACERS: usize = 12;
    for round in 0..ROUNDS {
        let results = concurrently(RACERS, |index| {
            let keys = stores.keys.clone();
            async move {
                keys.put_active(public_key(USER, &format!("race-{round}-{index}")))
                    .await
            }
        })
        .await;
        for result in &results {
            assert!(result.is_ok(), "{result:?}");
        }
        let listed = stores.keys.list_for_user(USER).await.expect("list");
        let active: Vec<_> = listed
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .collect();
        assert_eq!(active.len(), 1, "round {round}: {listed:#?}");
        assert_eq!(listed[0].status, KeyStatus::Active, "the newest key wins");
        assert_eq!(
            stores
                .keys
                .active_for_user(USER)
                .await
                .expect("active")
                .as_ref(),
            Some(active[0])
        );
        assert_eq!(listed.len(), RACERS * (round + 1), "every key is kept");
    }
}

pub async fn keys_invalid_input_is_bad_request(stores: Stores) {
    let mut uppercase_id = public_key(USER, "x");
    uppercase_id.key_id = uppercase_id.key_id.to_uppercase();
    let mut short_id = public_key(USER, "x");
    short_id.key_id.truncate(40);
    let mut private = public_key(USER, "x");
    private.public_key_pem =
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".into();
    let mut weak = public_key(USER, "x");
    weak.bits = 1024;
    let mut no_user = public_key("", "x");
    no_user.user_id = String::new();
    for (what, key) in [
        ("uppercase key id", uppercase_id),
        ("short key id", short_id),
        ("private key", private),
        ("1024 bits", weak),
        ("empty user id", no_user),
    ] {
        let result = stores.keys.put_active(key).await;
        assert!(
            matches!(result, Err(StoreError::BadRequest(_))),
            "{what}: {result:?}"
        );
    }
    assert!(
        stores
            .keys
            .list_for_user(USER)
            .await
            .expect("list")
            .is_empty()
    );
}

/// Lets the clock move on, so that times recorded before and after differ.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

pub async fn keys_pending_keys_are_stored_but_never_active(stores: Stores) {
    let pending = stores
        .keys
        .put_pending(public_key(USER, "generated"))
        .await
        .expect("put pending");
    assert_eq!(pending.status, KeyStatus::Pending);
    assert_eq!((pending.retired_at, pending.revoked_at), (None, None));
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        None,
        "a pending key is never the active key"
    );
    assert_eq!(
        stores.keys.get(USER, &pending.key_id).await.expect("get"),
        Some(pending.clone())
    );
    assert_eq!(
        stores.keys.list_for_user(USER).await.expect("list"),
        vec![pending.clone()],
        "listed, pending included"
    );
    // Idempotent while pending: the original record, unchanged.
    tick().await;
    assert_eq!(
        stores
            .keys
            .put_pending(public_key(USER, "generated"))
            .await
            .expect("put pending again"),
        pending
    );

    // An active key next to it stays the active key; the pending key is left alone by rotation.
    let active = stores
        .keys
        .put_active(public_key(USER, "device"))
        .await
        .expect("put active");
    assert_eq!(
        stores
            .keys
            .active_for_user(USER)
            .await
            .expect("active")
            .map(|k| k.key_id),
        Some(active.key_id.clone())
    );
    assert_eq!(
        stores
            .keys
            .get(USER, &pending.key_id)
            .await
            .expect("get")
            .map(|k| k.status),
        Some(KeyStatus::Pending)
    );

    // A key that exists with another status cannot be stored as pending.
    let result = stores.keys.put_pending(public_key(USER, "device")).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    stores
        .keys
        .put_active(public_key(USER, "device-2"))
        .await
        .expect("rotate");
    let result = stores.keys.put_pending(public_key(USER, "device")).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "retired: {result:?}"
    );
    let result = stores.keys.put_pending(public_key(USER, "device-2")).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "active: {result:?}"
    );

    // Input rules are the same as for active keys.
    let mut private = public_key(USER, "x");
    private.public_key_pem =
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".into();
    let result = stores.keys.put_pending(private).await;
    assert!(
        matches!(result, Err(StoreError::BadRequest(_))),
        "{result:?}"
    );
}

pub async fn keys_activating_a_pending_key_makes_it_the_newest(stores: Stores) {
    let first = stores
        .keys
        .put_active(public_key(USER, "first"))
        .await
        .expect("put");
    let pending = stores
        .keys
        .put_pending(public_key(USER, "generated"))
        .await
        .expect("put pending");
    // Registered after the pending key was stored: newer than its original position.
    let second = stores
        .keys
        .put_active(public_key(USER, "second"))
        .await
        .expect("put");
    assert!(second.created_at > pending.created_at);

    let activated = stores
        .keys
        .put_active(public_key(USER, "generated"))
        .await
        .expect("activate");
    assert_eq!(activated.status, KeyStatus::Active);
    assert_eq!(activated.key_id, pending.key_id);
    assert_eq!(activated.public_key_pem, pending.public_key_pem);
    assert!(
        activated.created_at > second.created_at,
        "a fresh position, newer than every key of the user"
    );
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        Some(activated.clone())
    );
    let listed = stores.keys.list_for_user(USER).await.expect("list");
    let ids: Vec<_> = listed.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(ids, [&activated.key_id, &second.key_id, &first.key_id]);
    let statuses: Vec<_> = listed.iter().map(|k| k.status).collect();
    assert_eq!(
        statuses,
        [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Retired]
    );
    assert!(
        listed[1].retired_at.is_some(),
        "the rotation retired the previous key: {listed:#?}"
    );

    // Activating it again is the usual no-op.
    assert_eq!(
        stores
            .keys
            .put_active(public_key(USER, "generated"))
            .await
            .expect("again"),
        activated
    );
}

pub async fn keys_concurrent_activation_of_one_pending_key(stores: Stores) {
    stores
        .keys
        .put_active(public_key(USER, "old"))
        .await
        .expect("put");
    let pending = stores
        .keys
        .put_pending(public_key(USER, "generated"))
        .await
        .expect("put pending");
    let results = concurrently(8, |_| {
        let keys = stores.keys.clone();
        async move { keys.put_active(public_key(USER, "generated")).await }
    })
    .await;
    let results: Vec<_> = results.into_iter().map(|r| r.expect("activate")).collect();
    let active = stores
        .keys
        .active_for_user(USER)
        .await
        .expect("active")
        .expect("an active key");
    assert_eq!(active.key_id, pending.key_id);
    assert!(
        results.iter().all(|k| k == &active),
        "every call reports the one activation: {results:#?}"
    );
    let listed = stores.keys.list_for_user(USER).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .count(),
        1
    );
}

pub async fn keys_retirement_and_revocation_times(stores: Stores) {
    let first = stores
        .keys
        .put_active(public_key(USER, "first"))
        .await
        .expect("put");
    assert_eq!((first.retired_at, first.revoked_at), (None, None));
    tick().await;
    let second = stores
        .keys
        .put_active(public_key(USER, "second"))
        .await
        .expect("put");
    assert_eq!((second.retired_at, second.revoked_at), (None, None));
    let retired = stores
        .keys
        .get(USER, &first.key_id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(retired.status, KeyStatus::Retired);
    let retired_at = retired.retired_at.expect("retired_at is set on retirement");
    assert!(retired_at > first.created_at, "{retired:?}");
    assert_eq!(retired.revoked_at, None);

    // Revoking a retired key keeps its retired_at; revoking again keeps the first revoked_at.
    tick().await;
    let revoked = stores
        .keys
        .revoke(USER, &first.key_id)
        .await
        .expect("revoke");
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.retired_at, Some(retired_at));
    let revoked_at = revoked.revoked_at.expect("revoked_at is set");
    assert!(revoked_at >= retired_at);
    tick().await;
    let again = stores
        .keys
        .revoke(USER, &first.key_id)
        .await
        .expect("revoke again");
    assert_eq!(again, revoked, "unchanged, first revoked_at kept");

    // The active key: revoked without ever being retired.
    let revoked_active = stores
        .keys
        .revoke(USER, &second.key_id)
        .await
        .expect("revoke");
    assert_eq!(revoked_active.status, KeyStatus::Revoked);
    assert_eq!(revoked_active.retired_at, None);
    assert!(revoked_active.revoked_at.is_some());

    // A pending key can be revoked too, and then cannot be activated.
    let pending = stores
        .keys
        .put_pending(public_key(USER, "generated"))
        .await
        .expect("put pending");
    let revoked_pending = stores
        .keys
        .revoke(USER, &pending.key_id)
        .await
        .expect("revoke pending");
    assert_eq!(revoked_pending.status, KeyStatus::Revoked);
    assert_eq!(revoked_pending.retired_at, None);
    assert!(revoked_pending.revoked_at.is_some());
    let result = stores.keys.put_active(public_key(USER, "generated")).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    let result = stores.keys.put_pending(public_key(USER, "generated")).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(
        stores.keys.active_for_user(USER).await.expect("active"),
        None
    );

    // The times survive a round trip through the listing as well.
    let listed = stores.keys.list_for_user(USER).await.expect("list");
    assert!(listed.contains(&revoked) && listed.contains(&revoked_pending));
}
