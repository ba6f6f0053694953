//! UserStore conformance.

use e2ee_storage::{NewUser, StoreError, Stores};

use crate::support::{
    PASSWORD_HASH, assert_invalid, assert_random_id, concurrently, create_user, new_user,
};

/// Creating `username` is refused: another user has that name, folded.
async fn assert_taken(stores: &Stores, username: &str) {
    let result = stores.users.create(new_user(username)).await;
    assert!(
        matches!(result, Err(StoreError::UsernameTaken)),
        "{username}: {result:?}"
    );
}

pub async fn users_create_and_get(stores: Stores) {
    let before = now();
    let alice = create_user(&stores, "Alice").await;
    assert_random_id(&alice.id, "u_");
    assert_eq!(
        alice.username, "Alice",
        "the username keeps the case it was registered with"
    );
    assert_eq!(alice.password_hash, PASSWORD_HASH);
    assert_eq!(alice.display_name.as_deref(), Some("Alice (display)"));
    assert!(alice.created_at >= before - 1000 && alice.created_at <= now() + 1000);

    assert_eq!(
        stores.users.get(&alice.id).await.expect("get"),
        Some(alice.clone())
    );
    assert_eq!(
        stores.users.get_by_username("Alice").await.expect("get"),
        Some(alice.clone())
    );
    assert_eq!(
        stores
            .users
            .get("u_00000000000000000000000000000000")
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        stores.users.get_by_username("nobody").await.expect("get"),
        None
    );

    let bob = stores
        .users
        .create(NewUser {
            username: "bob".into(),
            password_hash: PASSWORD_HASH.into(),
            display_name: None,
        })
        .await
        .expect("create without display name");
    assert_ne!(bob.id, alice.id);
    assert_eq!(bob.display_name, None);
    assert_eq!(
        stores
            .users
            .get(&bob.id)
            .await
            .expect("get")
            .map(|u| u.display_name),
        Some(None)
    );
}

pub async fn users_duplicate_usernames_conflict_case_insensitively(stores: Stores) {
    create_user(&stores, "Alice").await;
    for taken in ["Alice", "alice", "ALICE", "aLiCe"] {
        assert_taken(&stores, taken).await;
    }
    // Non-ASCII case folding.
    create_user(&stores, "Ärger").await;
    assert_taken(&stores, "äRGER").await;
    // Canonically equivalent spellings (decomposed vs precomposed) are the same username.
    create_user(&stores, "Ren\u{e9}e").await;
    assert_taken(&stores, "Rene\u{301}e").await;
    // A different name still works afterwards.
    create_user(&stores, "Alicia").await;
}

pub async fn users_unicode_usernames_are_normalized_and_folded(stores: Stores) {
    let decomposed = create_user(&stores, "Rene\u{301}e").await;
    assert_eq!(decomposed.username, "Ren\u{e9}e", "stored NFC");
    let found = stores
        .users
        .get_by_username("REN\u{c9}E")
        .await
        .expect("lookup");
    assert_eq!(found.map(|u| u.id), Some(decomposed.id.clone()));
    let found = stores
        .users
        .get_by_username("RENE\u{301}E")
        .await
        .expect("lookup");
    assert_eq!(found.map(|u| u.id), Some(decomposed.id));

    for (name, lookup) in [
        ("Ωmega", "ωMEGA"),
        ("日本語ユーザー", "日本語ユーザー"),
        ("हिन्दी", "हिन्दी"),
        ("Δ.x-9_z", "δ.X-9_Z"),
    ] {
        let user = create_user(&stores, name).await;
        assert_eq!(user.username, name);
        let found = stores.users.get_by_username(lookup).await.expect("lookup");
        assert_eq!(
            found.map(|u| u.id),
            Some(user.id),
            "{lookup} should find {name}"
        );
    }
    // An invalid name is simply not found.
    assert_eq!(
        stores
            .users
            .get_by_username("no spaces allowed")
            .await
            .expect("lookup"),
        None
    );
}

pub async fn users_invalid_input_is_bad_request(stores: Stores) {
    for username in [
        "ab",
        &"x".repeat(33),
        "has space",
        "semi;colon",
        "emoji😀",
        "",
        "\u{301}abc",
    ] {
        assert_invalid(stores.users.create(new_user(username)).await, username);
    }
    let mut plain_password = new_user("carol");
    plain_password.password_hash = "hunter2".into();
    assert_invalid(
        stores.users.create(plain_password).await,
        "non-argon2id hash",
    );
    let mut empty_display = new_user("carol");
    empty_display.display_name = Some(String::new());
    assert_invalid(
        stores.users.create(empty_display).await,
        "empty display name",
    );
    let mut control_display = new_user("carol");
    control_display.display_name = Some("bell\u{7}".into());
    assert_invalid(
        stores.users.create(control_display).await,
        "control character in display name",
    );
    // Nothing was stored by the failed attempts.
    assert_eq!(
        stores.users.get_by_username("carol").await.expect("lookup"),
        None
    );
    // 3 and 32 characters are the inclusive bounds.
    create_user(&stores, "abc").await;
    create_user(&stores, &"y".repeat(32)).await;
}

pub async fn users_concurrent_registration_of_one_name_has_one_winner(stores: Stores) {
    let results = concurrently(8, |index| {
        let users = stores.users.clone();
        // Different spellings of the same folded name race against each other.
        let name = if index % 2 == 0 { "Racer" } else { "rACER" };
        async move { users.create(new_user(name)).await }
    })
    .await;
    let winners = results.iter().filter(|result| result.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|result| matches!(result, Err(StoreError::UsernameTaken)))
        .count();
    assert_eq!((winners, conflicts), (1, 7), "{results:?}");
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
