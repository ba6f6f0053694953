//! Rotation chains (`e2ee_client_core::rotation`, review finding N2): a new active key is followed only if the
//! pinned key signed it, directly or link by link, before this device saw the pinned key replaced; anything
//! else is a key change.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{endorsement, key, key_id, key_view};
use e2ee_client_core::contacts::{Contacts, PreviousKey, Trust};
use e2ee_client_core::directory::Directory;
use e2ee_client_core::rotation::{MAX_ROTATION_CHAIN, rotation_chain};
use e2ee_crypto::PrivateKey;
use e2ee_protocol::{KeyEndorsementView, KeyStatus, KeyView};

const BOB: &str = "u_bob";

fn view(key: &PrivateKey, status: KeyStatus, endorsement: Option<KeyEndorsementView>) -> KeyView {
    let retired_at = (status == KeyStatus::Retired).then_some(2);
    KeyView {
        endorsement,
        ..key_view(key, status, 1, retired_at)
    }
}

fn listing(active: &PrivateKey, keys: Vec<KeyView>) -> Directory {
    Directory::from_listing(&common::listing_answer(BOB, active, keys))
}

fn pinned(key: &PrivateKey) -> Contacts {
    let mut contacts = Contacts::default();
    contacts.pin_first_use(BOB, "bob", &key_id(key), &key.key_id().fingerprint(), 10);
    contacts
}

#[test]
fn a_rotation_signed_by_the_pinned_key_is_followed() {
    let (old, new) = (key(), key());
    let listed = listing(
        &new,
        vec![
            view(
                &new,
                KeyStatus::Active,
                Some(endorsement(BOB, &old, &new, 500)),
            ),
            view(&old, KeyStatus::Retired, None),
        ],
    );
    let mut contacts = pinned(&old);
    assert_eq!(
        contacts.check(BOB, &key_id(&new)),
        Trust::Changed {
            pinned: contacts.get(BOB).unwrap().clone()
        }
    );
    let chain = rotation_chain(contacts.get(BOB).unwrap(), &listed).unwrap();
    assert_eq!(chain.len(), 1);
    assert!(contacts.follow_rotation(BOB, &listed, 900));
    assert_eq!(contacts.check(BOB, &key_id(&new)), Trust::Unchanged);
    let bob = contacts.get(BOB).unwrap();
    assert_eq!(bob.fingerprint, new.key_id().fingerprint());
    assert_eq!(
        (bob.accepted_at, bob.first_seen, bob.pinned_retired_at),
        (900, 10, None)
    );
    assert_eq!(
        bob.previous_keys,
        vec![PreviousKey {
            key_id: key_id(&old),
            fingerprint: old.key_id().fingerprint(),
            replaced_at: 500,
        }]
    );
    // The old key vouches for what it signed before it signed the new one.
    assert!(bob.lifetime(&key_id(&old)).unwrap().vouches_at(499));
    assert!(!bob.lifetime(&key_id(&old)).unwrap().vouches_at(500));
    // Nothing more to follow.
    assert!(!contacts.follow_rotation(BOB, &listed, 901));
}

#[test]
fn a_chain_of_rotations_is_followed_link_by_link() {
    let (first, second, third) = (key(), key(), key());
    let listed = listing(
        &third,
        vec![
            view(
                &third,
                KeyStatus::Active,
                Some(endorsement(BOB, &second, &third, 700)),
            ),
            view(
                &second,
                KeyStatus::Retired,
                Some(endorsement(BOB, &first, &second, 600)),
            ),
            view(&first, KeyStatus::Retired, None),
        ],
    );
    let mut contacts = pinned(&first);
    // This device saw the first key replaced at 650: the first link is older, so it counts.
    assert!(contacts.observe_listing(
        BOB,
        &listing(
            &second,
            vec![
                view(&second, KeyStatus::Active, None),
                view(&first, KeyStatus::Retired, None),
            ]
        ),
        650
    ));
    assert!(contacts.follow_rotation(BOB, &listed, 800));
    let bob = contacts.get(BOB).unwrap();
    assert_eq!(bob.key_id, key_id(&third));
    let replaced: Vec<(String, i64)> = bob
        .previous_keys
        .iter()
        .map(|k| (k.key_id.clone(), k.replaced_at))
        .collect();
    assert_eq!(replaced, [(key_id(&first), 600), (key_id(&second), 700)]);
}

#[test]
fn anything_but_a_signature_of_the_pinned_key_is_a_key_change() {
    let (pinned_key, new, server_made) = (key(), key(), key());
    let retired = view(&pinned_key, KeyStatus::Retired, None);
    let by = |endorsement| {
        listing(
            &new,
            vec![
                view(&new, KeyStatus::Active, Some(endorsement)),
                retired.clone(),
                view(&server_made, KeyStatus::Retired, None),
            ],
        )
    };
    let mut bad_signature = endorsement(BOB, &pinned_key, &new, 500);
    bad_signature.signature = endorsement(BOB, &pinned_key, &new, 501).signature;
    let mut named_wrongly = endorsement(BOB, &server_made, &new, 500);
    named_wrongly.key_id = key_id(&pinned_key);
    let refused = [
        (
            "no endorsement",
            listing(
                &new,
                vec![view(&new, KeyStatus::Active, None), retired.clone()],
            ),
        ),
        (
            "endorsed by another key",
            by(endorsement(BOB, &server_made, &new, 500)),
        ),
        ("a signature over another time", by(bad_signature)),
        (
            "a signature by another key under the pinned key's id",
            by(named_wrongly),
        ),
        (
            "a statement of another user",
            by(endorsement("u_eve", &pinned_key, &new, 500)),
        ),
        (
            "a statement of another key",
            by(endorsement(BOB, &pinned_key, &server_made, 500)),
        ),
        (
            "the pinned key revoked",
            listing(
                &new,
                vec![
                    view(
                        &new,
                        KeyStatus::Active,
                        Some(endorsement(BOB, &pinned_key, &new, 500)),
                    ),
                    view(&pinned_key, KeyStatus::Revoked, None),
                ],
            ),
        ),
        (
            "the pinned key not listed",
            listing(
                &new,
                vec![view(
                    &new,
                    KeyStatus::Active,
                    Some(endorsement(BOB, &pinned_key, &new, 500)),
                )],
            ),
        ),
    ];
    for (what, listed) in refused {
        let mut contacts = pinned(&pinned_key);
        assert_eq!(
            rotation_chain(contacts.get(BOB).unwrap(), &listed),
            None,
            "{what}"
        );
        assert!(!contacts.follow_rotation(BOB, &listed, 900), "{what}");
        assert_eq!(
            contacts.get(BOB).unwrap().key_id,
            key_id(&pinned_key),
            "{what}"
        );
        assert!(
            matches!(contacts.check(BOB, &key_id(&new)), Trust::Changed { .. }),
            "{what}"
        );
    }
}

#[test]
fn chains_are_followed_up_to_their_bound() {
    let keys: Vec<PrivateKey> = (0..=MAX_ROTATION_CHAIN + 1).map(|_| key()).collect();
    // keys[i + 1] endorsed by keys[i]; `active` = keys[links]: a chain of `links` rotations.
    let chain_of = |links: usize| {
        let views = (0..=links)
            .rev()
            .map(|i| {
                let status = if i == links {
                    KeyStatus::Active
                } else {
                    KeyStatus::Retired
                };
                let endorsement =
                    (i > 0).then(|| endorsement(BOB, &keys[i - 1], &keys[i], 100 + i as u64));
                view(&keys[i], status, endorsement)
            })
            .collect();
        listing(&keys[links], views)
    };
    let mut contacts = pinned(&keys[0]);
    assert!(!contacts.follow_rotation(BOB, &chain_of(MAX_ROTATION_CHAIN + 1), 900));
    assert!(contacts.follow_rotation(BOB, &chain_of(MAX_ROTATION_CHAIN), 900));
    let bob = contacts.get(BOB).unwrap();
    assert_eq!(bob.key_id, key_id(&keys[MAX_ROTATION_CHAIN]));
    assert_eq!(bob.previous_keys.len(), MAX_ROTATION_CHAIN);
}

#[test]
fn a_pinned_key_signs_rotations_only_until_this_device_saw_it_replaced() {
    let (old, new) = (key(), key());
    let listed = listing(
        &new,
        vec![
            view(
                &new,
                KeyStatus::Active,
                Some(endorsement(BOB, &old, &new, 500)),
            ),
            view(&old, KeyStatus::Retired, None),
        ],
    );
    // Seen replaced at 500: a rotation signed at 500 (or later) is not followed.
    let mut contacts = pinned(&old);
    contacts.observe_listing(BOB, &Directory::empty(), 500);
    assert!(!contacts.follow_rotation(BOB, &listed, 900));
    // Seen replaced at 501: followed, and the recorded moment is gone with the pin.
    let mut contacts = pinned(&old);
    contacts.observe_listing(BOB, &Directory::empty(), 501);
    assert!(contacts.follow_rotation(BOB, &listed, 900));
    assert_eq!(contacts.get(BOB).unwrap().pinned_retired_at, None);
    assert!(
        !contacts.follow_rotation("u_carol", &listed, 900),
        "unknown contact"
    );
}
