//! KeyStore conformance.

use e2ee_storage::{KeyEndorsement, KeyStatus, PublicKeyRecord, StoreError, Stores};

use crate::support::{
    active_key, active_key_id, assert_invalid, concurrently, get_key, list_keys, public_key,
    put_active, put_pending, revoke,
};

const USER: &str = "u_0123456789abcdef0123456789abcdef";
const OTHER_USER: &str = "u_fedcba9876543210fedcba9876543210";

fn statuses(keys: &[PublicKeyRecord]) -> Vec<KeyStatus> {
    keys.iter().map(|k| k.status).collect()
}

pub async fn keys_put_active_and_read_back(stores: Stores) {
    assert_eq!(active_key(&stores, USER).await, None);
    assert!(list_keys(&stores, USER).await.is_empty());

    let key = public_key(USER, "first");
    let stored = stores.keys.put_active(key.clone()).await.expect("put");
    assert_eq!(stored.user_id, USER);
    assert_eq!(stored.key_id, key.key_id);
    assert_eq!(stored.public_key_pem, key.public_key_pem);
    assert_eq!(stored.bits, 2048);
    assert_eq!(stored.status, KeyStatus::Active);

    assert_eq!(active_key(&stores, USER).await, Some(stored.clone()));
    assert_eq!(
        get_key(&stores, USER, &key.key_id).await,
        Some(stored.clone())
    );
    assert_eq!(list_keys(&stores, USER).await, vec![stored.clone()]);
    // Keys are per user: the same key id under another user is a different (absent) record.
    assert_eq!(get_key(&stores, OTHER_USER, &key.key_id).await, None);
    assert_eq!(active_key(&stores, OTHER_USER).await, None);
    assert_eq!(get_key(&stores, USER, &"0".repeat(64)).await, None);
}

pub async fn keys_rotation_retires_previous_and_keeps_old_keys_readable(stores: Stores) {
    let mut stored = Vec::new();
    for (index, seed) in ["one", "two", "three"].iter().enumerate() {
        let mut key = public_key(USER, seed);
        key.bits = [2048, 3072, 4096][index];
        stored.push(stores.keys.put_active(key).await.expect("put"));
    }
    let active = active_key(&stores, USER).await.expect("an active key");
    assert_eq!(active.key_id, stored[2].key_id);

    // Old keys stay readable, unchanged except for their status (old messages are wrapped to them).
    for old in &stored[..2] {
        let read = get_key(&stores, USER, &old.key_id)
            .await
            .expect("old key kept");
        assert_eq!(read.status, KeyStatus::Retired);
        assert_eq!(read.public_key_pem, old.public_key_pem);
        assert_eq!(read.bits, old.bits);
        assert_eq!(read.created_at, old.created_at);
    }

    // Newest first, even though all three were registered within a few milliseconds.
    let listed = list_keys(&stores, USER).await;
    let ids: Vec<_> = listed.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(
        ids,
        [&stored[2].key_id, &stored[1].key_id, &stored[0].key_id]
    );
    assert_eq!(
        statuses(&listed),
        [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Retired]
    );
    assert!(
        listed
            .windows(2)
            .all(|pair| pair[0].created_at > pair[1].created_at)
    );

    // Another user's rotation does not touch this user's keys.
    put_active(&stores, OTHER_USER, "other").await;
    assert_eq!(
        active_key_id(&stores, USER).await,
        Some(stored[2].key_id.clone())
    );
}

pub async fn keys_registering_the_active_key_again_is_a_no_op(stores: Stores) {
    let first = put_active(&stores, USER, "same").await;
    let again = put_active(&stores, USER, "same").await;
    assert_eq!(
        again, first,
        "the original record, including its created_at"
    );
    assert_eq!(list_keys(&stores, USER).await.len(), 1);
}

pub async fn keys_reactivating_a_retired_or_revoked_key_conflicts(stores: Stores) {
    put_active(&stores, USER, "old").await;
    put_active(&stores, USER, "new").await;
    let result = stores.keys.put_active(public_key(USER, "old")).await;
    assert!(
        matches!(result, Err(StoreError::KeyRetired)),
        "retired: {result:?}"
    );

    let new_id = public_key(USER, "new").key_id;
    revoke(&stores, USER, &new_id).await;
    let result = stores.keys.put_active(public_key(USER, "new")).await;
    assert!(
        matches!(result, Err(StoreError::KeyRevoked)),
        "revoked: {result:?}"
    );
    // The failed attempts changed nothing.
    assert_eq!(active_key(&stores, USER).await, None);
    assert_eq!(
        statuses(&list_keys(&stores, USER).await),
        [KeyStatus::Revoked, KeyStatus::Retired]
    );
}

pub async fn keys_revoke(stores: Stores) {
    let key = put_active(&stores, USER, "k").await;
    let revoked = revoke(&stores, USER, &key.key_id).await;
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.public_key_pem, key.public_key_pem);
    assert_eq!(
        active_key(&stores, USER).await,
        None,
        "no active key after revoking it"
    );
    // Idempotent.
    assert_eq!(revoke(&stores, USER, &key.key_id).await, revoked);
    // Unknown key, or a key of another user → KeyNotFound.
    let result = stores.keys.revoke(USER, &"0".repeat(64)).await;
    assert!(matches!(result, Err(StoreError::KeyNotFound)), "{result:?}");
    let result = stores.keys.revoke(OTHER_USER, &key.key_id).await;
    assert!(matches!(result, Err(StoreError::KeyNotFound)), "{result:?}");

    // Revoking a retired key works too, and a new key can become active afterwards.
    let second = put_active(&stores, USER, "k2").await;
    let third = put_active(&stores, USER, "k3").await;
    assert_eq!(
        revoke(&stores, USER, &second.key_id).await.status,
        KeyStatus::Revoked
    );
    assert_eq!(active_key_id(&stores, USER).await, Some(third.key_id));
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
        let listed = list_keys(&stores, USER).await;
        let active: Vec<_> = listed
            .iter()
            .filter(|k| k.status == KeyStatus::Active)
            .collect();
        assert_eq!(active.len(), 1, "round {round}: {listed:#?}");
        assert_eq!(listed[0].status, KeyStatus::Active, "the newest key wins");
        assert_eq!(active_key(&stores, USER).await.as_ref(), Some(active[0]));
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
        assert_invalid(stores.keys.put_active(key).await, what);
    }
    assert!(list_keys(&stores, USER).await.is_empty());
}

/// `put_pending` of the key of `seed`, stored with `status`, is refused.
async fn assert_not_pending(stores: &Stores, seed: &str, status: KeyStatus) {
    let result = stores.keys.put_pending(public_key(USER, seed)).await;
    assert!(
        matches!(result, Err(StoreError::KeyNotPending { status: found }) if found == status),
        "{seed} ({status:?}): {result:?}"
    );
}

/// Revoked, and never retired on the way.
fn assert_revoked_without_retirement(key: &PublicKeyRecord) {
    assert_eq!(key.status, KeyStatus::Revoked);
    assert_eq!(key.retired_at, None);
    assert!(key.revoked_at.is_some());
}

/// Lets the clock move on, so that times recorded before and after differ.
async fn tick() {
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
}

pub async fn keys_pending_keys_are_stored_but_never_active(stores: Stores) {
    let pending = put_pending(&stores, USER, "generated").await;
    assert_eq!(pending.status, KeyStatus::Pending);
    assert_eq!((pending.retired_at, pending.revoked_at), (None, None));
    assert_eq!(
        active_key(&stores, USER).await,
        None,
        "a pending key is never the active key"
    );
    assert_eq!(
        get_key(&stores, USER, &pending.key_id).await,
        Some(pending.clone())
    );
    assert_eq!(
        list_keys(&stores, USER).await,
        vec![pending.clone()],
        "listed, pending included"
    );
    // Idempotent while pending: the original record, unchanged.
    tick().await;
    assert_eq!(put_pending(&stores, USER, "generated").await, pending);

    // An active key next to it stays the active key; the pending key is left alone by rotation.
    let active = put_active(&stores, USER, "device").await;
    assert_eq!(
        active_key_id(&stores, USER).await,
        Some(active.key_id.clone())
    );
    assert_eq!(
        get_key(&stores, USER, &pending.key_id)
            .await
            .map(|k| k.status),
        Some(KeyStatus::Pending)
    );

    // A key that exists with another status cannot be stored as pending.
    assert_not_pending(&stores, "device", KeyStatus::Active).await;
    put_active(&stores, USER, "device-2").await;
    assert_not_pending(&stores, "device", KeyStatus::Retired).await;
    assert_not_pending(&stores, "device-2", KeyStatus::Active).await;

    // Input rules are the same as for active keys.
    let mut private = public_key(USER, "x");
    private.public_key_pem =
        "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".into();
    assert_invalid(stores.keys.put_pending(private).await, "private key");
}

pub async fn keys_activating_a_pending_key_makes_it_the_newest(stores: Stores) {
    let first = put_active(&stores, USER, "first").await;
    let pending = put_pending(&stores, USER, "generated").await;
    // Registered after the pending key was stored: newer than its original position.
    let second = put_active(&stores, USER, "second").await;
    assert!(second.created_at > pending.created_at);

    let activated = put_active(&stores, USER, "generated").await;
    assert_eq!(activated.status, KeyStatus::Active);
    assert_eq!(activated.key_id, pending.key_id);
    assert_eq!(activated.public_key_pem, pending.public_key_pem);
    assert!(
        activated.created_at > second.created_at,
        "a fresh position, newer than every key of the user"
    );
    assert_eq!(active_key(&stores, USER).await, Some(activated.clone()));
    let listed = list_keys(&stores, USER).await;
    let ids: Vec<_> = listed.iter().map(|k| k.key_id.as_str()).collect();
    assert_eq!(ids, [&activated.key_id, &second.key_id, &first.key_id]);
    assert_eq!(
        statuses(&listed),
        [KeyStatus::Active, KeyStatus::Retired, KeyStatus::Retired]
    );
    assert!(
        listed[1].retired_at.is_some(),
        "the rotation retired the previous key: {listed:#?}"
    );

    // Activating it again is the usual no-op.
    assert_eq!(put_active(&stores, USER, "generated").await, activated);
}

pub async fn keys_concurrent_activation_of_one_pending_key(stores: Stores) {
    put_active(&stores, USER, "old").await;
    let pending = put_pending(&stores, USER, "generated").await;
    let results = concurrently(8, |_| {
        let keys = stores.keys.clone();
        async move { keys.put_active(public_key(USER, "generated")).await }
    })
    .await;
    let results: Vec<_> = results.into_iter().map(|r| r.expect("activate")).collect();
    let active = active_key(&stores, USER).await.expect("an active key");
    assert_eq!(active.key_id, pending.key_id);
    assert!(
        results.iter().all(|k| k == &active),
        "every call reports the one activation: {results:#?}"
    );
    let listed = list_keys(&stores, USER).await;
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
    let first = put_active(&stores, USER, "first").await;
    assert_eq!((first.retired_at, first.revoked_at), (None, None));
    tick().await;
    let second = put_active(&stores, USER, "second").await;
    assert_eq!((second.retired_at, second.revoked_at), (None, None));
    let retired = get_key(&stores, USER, &first.key_id).await.expect("kept");
    assert_eq!(retired.status, KeyStatus::Retired);
    let retired_at = retired.retired_at.expect("retired_at is set on retirement");
    assert!(retired_at > first.created_at, "{retired:?}");
    assert_eq!(retired.revoked_at, None);

    // Revoking a retired key keeps its retired_at; revoking again keeps the first revoked_at.
    tick().await;
    let revoked = revoke(&stores, USER, &first.key_id).await;
    assert_eq!(revoked.status, KeyStatus::Revoked);
    assert_eq!(revoked.retired_at, Some(retired_at));
    let revoked_at = revoked.revoked_at.expect("revoked_at is set");
    assert!(revoked_at >= retired_at);
    tick().await;
    let again = revoke(&stores, USER, &first.key_id).await;
    assert_eq!(again, revoked, "unchanged, first revoked_at kept");

    // The active key: revoked without ever being retired.
    assert_revoked_without_retirement(&revoke(&stores, USER, &second.key_id).await);

    // A pending key can be revoked too, and then cannot be activated.
    let pending = put_pending(&stores, USER, "generated").await;
    let revoked_pending = revoke(&stores, USER, &pending.key_id).await;
    assert_revoked_without_retirement(&revoked_pending);
    let result = stores.keys.put_active(public_key(USER, "generated")).await;
    assert!(matches!(result, Err(StoreError::KeyRevoked)), "{result:?}");
    assert_not_pending(&stores, "generated", KeyStatus::Revoked).await;
    assert_eq!(active_key(&stores, USER).await, None);

    // The times survive a round trip through the listing as well.
    let listed = list_keys(&stores, USER).await;
    assert!(listed.contains(&revoked) && listed.contains(&revoked_pending));
}

/// An endorsement of a key by the key of `seed` (the signature bytes are opaque to the store).
fn endorsement_by(seed: &str, created_at: i64, signature_len: usize) -> KeyEndorsement {
    KeyEndorsement {
        key_id: public_key(USER, seed).key_id,
        created_at,
        signature: (0..signature_len).map(|i| (i % 251) as u8).collect(),
    }
}

pub async fn keys_endorsements_are_stored_with_the_key(stores: Stores) {
    // A first key and a password-authorized one have none.
    let first = put_active(&stores, USER, "first").await;
    assert_eq!(first.endorsement, None);
    assert_eq!(
        get_key(&stores, USER, &first.key_id)
            .await
            .unwrap()
            .endorsement,
        None
    );

    // A rotation authorized by the active key keeps its endorsement, byte for byte, whatever the path.
    let endorsed = endorsement_by("first", 1_764_145_653_123, 512);
    let mut second = public_key(USER, "second");
    second.endorsement = Some(endorsed.clone());
    let stored = stores.keys.put_active(second).await.expect("put");
    assert_eq!(stored.endorsement, Some(endorsed.clone()));
    assert_eq!(active_key(&stores, USER).await, Some(stored.clone()));
    assert_eq!(
        get_key(&stores, USER, &stored.key_id).await,
        Some(stored.clone())
    );
    let listed = list_keys(&stores, USER).await;
    assert_eq!(listed[0], stored);
    assert_eq!(
        listed[1].endorsement, None,
        "the first key is left as it was"
    );

    // The endorsement survives the key's retirement and revocation.
    let third = put_active(&stores, USER, "third").await;
    assert_eq!(third.endorsement, None);
    let retired = get_key(&stores, USER, &stored.key_id).await.unwrap();
    assert_eq!(retired.status, KeyStatus::Retired);
    assert_eq!(retired.endorsement, Some(endorsed.clone()));
    let revoked = revoke(&stores, USER, &stored.key_id).await;
    assert_eq!(revoked.endorsement, Some(endorsed.clone()));

    // Registering the active key again is a no-op: the stored (absent) endorsement is kept.
    let mut again = public_key(USER, "third");
    again.endorsement = Some(endorsement_by("second", 1, 256));
    assert_eq!(stores.keys.put_active(again).await.expect("again"), third);

    // A pending key gets the endorsement given when it is activated.
    let pending = put_pending(&stores, USER, "generated").await;
    assert_eq!(pending.endorsement, None);
    let by_third = endorsement_by("third", 1_764_145_700_000, 256);
    let mut activate = public_key(USER, "generated");
    activate.endorsement = Some(by_third.clone());
    let activated = stores.keys.put_active(activate).await.expect("activate");
    assert_eq!(activated.status, KeyStatus::Active);
    assert_eq!(activated.endorsement, Some(by_third.clone()));
    assert_eq!(active_key(&stores, USER).await, Some(activated.clone()));
    // And a pending key activated without one (the password) has none.
    put_pending(&stores, USER, "generated-2").await;
    let plain = put_active(&stores, USER, "generated-2").await;
    assert_eq!(plain.endorsement, None);
    assert_eq!(
        get_key(&stores, USER, &plain.key_id)
            .await
            .unwrap()
            .endorsement,
        None
    );

    // Malformed endorsements are refused, and write nothing.
    let mut uppercase = endorsement_by("third", 1, 256);
    uppercase.key_id = uppercase.key_id.to_uppercase();
    let mut negative = endorsement_by("third", 1, 256);
    negative.created_at = -1;
    for (what, endorsement) in [
        ("uppercase key id", uppercase),
        ("negative time", negative),
        ("empty signature", endorsement_by("third", 1, 0)),
        ("oversized signature", endorsement_by("third", 1, 513)),
    ] {
        let mut key = public_key(OTHER_USER, "bad");
        key.endorsement = Some(endorsement);
        assert_invalid(stores.keys.put_active(key).await, what);
    }
    assert!(list_keys(&stores, OTHER_USER).await.is_empty());
}
