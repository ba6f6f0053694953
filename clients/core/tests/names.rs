//! Usernames of users met by id (group members, senders): shown and pinned from the key listing only under the
//! name pins (`Contacts::listed_username`, `shown_username`, `pin_from_listing`): a server cannot rename a contact
//! nor give a second user a pinned name.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{key, key_id, key_view, listing_answer};
use e2ee_client_core::contacts::Contacts;
use e2ee_client_core::directory::Directory;
use e2ee_crypto::PrivateKey;
use e2ee_protocol::KeyStatus;

const BOB: &str = "u_bob";

/// The listing of Bob's one active key, naming `username` (as the server's key listing does).
fn named_listing(active: &PrivateKey, username: &str) -> Directory {
    let mut answer = listing_answer(
        BOB,
        active,
        vec![key_view(active, KeyStatus::Active, 1, None)],
    );
    answer.username = Some(username.into());
    Directory::from_listing(&answer)
}

#[test]
fn a_user_met_by_id_is_pinned_and_shown_under_the_listed_name() {
    let bob_key = key();
    let listed = named_listing(&bob_key, "bob");
    let mut contacts = Contacts::default();
    // Before pinning, the name is what pinning would record; a name the server never registers is not.
    assert_eq!(
        contacts.shown_username(BOB, Some(&listed)),
        Some("bob".into())
    );
    assert_eq!(contacts.shown_username(BOB, None), None);
    let spoofed = named_listing(&bob_key, "bob\u{202e}kcilc");
    assert_eq!(spoofed.username, None);
    assert_eq!(contacts.shown_username(BOB, Some(&spoofed)), None);

    assert!(contacts.pin_from_listing(BOB, None, &listed, 10));
    let bob = contacts.get(BOB).unwrap();
    assert_eq!(
        (bob.username.as_str(), bob.key_id.as_str()),
        ("bob", key_id(&bob_key).as_str())
    );
    // The pinned name binds both ways: the name now finds the user id.
    assert_eq!(
        contacts.by_username("BOB").map(|c| c.user_id.as_str()),
        Some(BOB)
    );
    // A later listing under another name renames nobody.
    let renamed = named_listing(&bob_key, "robert");
    assert!(!contacts.pin_from_listing(BOB, None, &renamed, 20));
    assert_eq!(
        contacts.shown_username(BOB, Some(&renamed)),
        Some("bob".into())
    );
}

#[test]
fn a_listed_name_pinned_to_another_user_is_not_taken_over() {
    let (bob_key, mallory_key) = (key(), key());
    let mut contacts = Contacts::default();
    contacts.pin_first_use(
        BOB,
        "bob",
        &key_id(&bob_key),
        &bob_key.key_id().fingerprint(),
        10,
    );
    // The server lists Mallory's user id under Bob's pinned name.
    const MALLORY: &str = "u_mallory";
    let claim = named_listing(&mallory_key, "Bob");
    assert_eq!(contacts.listed_username(MALLORY, &claim), None);
    assert_eq!(contacts.shown_username(MALLORY, Some(&claim)), None);
    // Mallory is pinned by key, without a name; Bob keeps his.
    assert!(contacts.pin_from_listing(MALLORY, None, &claim, 20));
    assert_eq!(contacts.username(MALLORY), Some(""));
    assert_eq!(contacts.username(BOB), Some("bob"));
    assert_eq!(
        contacts.by_username("bob").map(|c| c.user_id.as_str()),
        Some(BOB)
    );
}

#[test]
fn a_contact_pinned_without_a_name_takes_the_listed_one_once() {
    let bob_key = key();
    let mut contacts = Contacts::default();
    contacts.pin_first_use(
        BOB,
        "",
        &key_id(&bob_key),
        &bob_key.key_id().fingerprint(),
        10,
    );
    assert_eq!(contacts.shown_username(BOB, None), None);
    assert!(contacts.pin_from_listing(BOB, None, &named_listing(&bob_key, "bob"), 20));
    assert_eq!(contacts.username(BOB), Some("bob"));
    assert!(!contacts.pin_from_listing(BOB, None, &named_listing(&bob_key, "eve"), 30));
    assert_eq!(contacts.username(BOB), Some("bob"));
}
