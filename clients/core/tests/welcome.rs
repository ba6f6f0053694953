//! Joining from Welcomes through the core (`e2ee_client_core::welcome`): plain function calls over openmls
//! providers in memory, no server. Covers review findings N1 (a refused Welcome keeps its key package and is
//! reported, never an error of the whole sync) and N3 (a Welcome never replaces a group this device holds;
//! its group id must match the server's label).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Client;
use e2ee_client_core::welcome::{UNTRUSTED_WELCOME_KEPT_MS, WelcomeJoin, WelcomeRefusal};
use e2ee_mls::CIPHERSUITE;
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_traits::storage::StorageProvider as _;

impl Client {
    fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.identity.to_string().into_bytes()).into(),
            signature_key: self.signer.public().into(),
        }
    }

    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(CIPHERSUITE, &self.provider, &self.signer, self.credential())
            .unwrap()
            .key_package()
            .clone()
    }

    fn holds_key_package(&self, package: &KeyPackage) -> bool {
        let reference = package.hash_ref(self.provider.crypto()).unwrap();
        let stored: Option<KeyPackageBundle> =
            self.provider.storage().key_package(&reference).unwrap();
        stored.is_some()
    }

    /// A new group (with `group_id` if given) that adds `package`; returns its hex id and the Welcome.
    fn welcome(&self, group_id: Option<&[u8]>, package: KeyPackage) -> (String, Vec<u8>) {
        let mut builder = MlsGroup::builder()
            .ciphersuite(CIPHERSUITE)
            .use_ratchet_tree_extension(true);
        if let Some(id) = group_id {
            builder = builder.with_group_id(GroupId::from_slice(id));
        }
        let mut group = builder
            .build(&self.provider, &self.signer, self.credential())
            .unwrap();
        let (_, welcome, _) = group
            .add_members(&self.provider, &self.signer, &[package])
            .unwrap();
        group.merge_pending_commit(&self.provider).unwrap();
        (
            hex::encode(group.group_id().as_slice()),
            welcome.tls_serialize_detached().unwrap(),
        )
    }
}

fn config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .build()
}

/// Bob, the key package of his that Alice's new group adds, the group's id and the Welcome.
fn alice_welcomes_bob() -> (Client, KeyPackage, String, Vec<u8>) {
    let (alice, bob) = (
        Client::new("u_alice", "laptop"),
        Client::new("u_bob", "phone"),
    );
    let package = bob.key_package();
    let (group_id, welcome) = alice.welcome(None, package.clone());
    (bob, package, group_id, welcome)
}

fn nobody_holds(_: &str) -> bool {
    false
}

#[test]
fn a_welcome_whose_members_are_trusted_is_joined() {
    let (bob, package, group_id, welcome) = alice_welcomes_bob();

    let join =
        WelcomeJoin::open(&bob.provider, &config(), &welcome, &group_id, nobody_holds).unwrap();
    assert_eq!(join.group_id(), group_id);
    assert_eq!(
        join.other_users(&bob.identity)
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["u_alice".to_owned()]
    );
    let group = join
        .finish(&bob.provider, &bob.identity, |identity, _| {
            identity.user_id == "u_alice"
        })
        .unwrap();
    assert_eq!(hex::encode(group.group_id().as_slice()), group_id);
    assert!(
        !bob.holds_key_package(&package),
        "a joined Welcome uses its one-time package"
    );
}

#[test]
fn a_welcome_with_an_untrusted_member_is_refused_and_keeps_its_key_package() {
    let (bob, package, group_id, welcome) = alice_welcomes_bob();

    let join =
        WelcomeJoin::open(&bob.provider, &config(), &welcome, &group_id, nobody_holds).unwrap();
    let refusal = join
        .finish(&bob.provider, &bob.identity, |_, _| false)
        .unwrap_err();
    assert_eq!(
        refusal,
        WelcomeRefusal::UntrustedMember {
            member: "u_alice/laptop".into()
        }
    );
    assert!(
        bob.holds_key_package(&package),
        "a refused Welcome does not burn the key package"
    );
    // Kept in the inbox for a while (the user may accept a key change), then acknowledged.
    assert!(!refusal.is_final(1_000, 1_000 + UNTRUSTED_WELCOME_KEPT_MS - 1));
    assert!(refusal.is_final(1_000, 1_000 + UNTRUSTED_WELCOME_KEPT_MS));

    // The same Welcome joins once its members are trusted.
    let join =
        WelcomeJoin::open(&bob.provider, &config(), &welcome, &group_id, nobody_holds).unwrap();
    join.finish(&bob.provider, &bob.identity, |_, _| true)
        .unwrap();
}

#[test]
fn a_welcome_labelled_as_another_group_is_refused_for_good() {
    let (bob, package, group_id, welcome) = alice_welcomes_bob();
    let label = "00".repeat(16);

    let refusal =
        WelcomeJoin::open(&bob.provider, &config(), &welcome, &label, nobody_holds).unwrap_err();
    assert_eq!(
        refusal,
        WelcomeRefusal::GroupMismatch {
            labelled: label,
            actual: group_id
        }
    );
    assert!(refusal.is_final(0, 0));
    assert!(bob.holds_key_package(&package));
}

#[test]
fn a_welcome_never_replaces_a_group_this_device_holds() {
    let (alice, mallory, bob) = (
        Client::new("u_alice", "laptop"),
        Client::new("u_mallory", "phone"),
        Client::new("u_bob", "phone"),
    );
    let (group_id, welcome) = alice.welcome(None, bob.key_package());
    let mut held = WelcomeJoin::open(&bob.provider, &config(), &welcome, &group_id, nobody_holds)
        .unwrap()
        .finish(&bob.provider, &bob.identity, |_, _| true)
        .unwrap();
    let epoch = held.epoch();

    // Mallory makes a group with the same id and welcomes Bob into it.
    let package = bob.key_package();
    let raw_id = hex::decode(&group_id).unwrap();
    let (same_id, forged) = mallory.welcome(Some(&raw_id), package.clone());
    assert_eq!(same_id, group_id);
    let holds = |id: &str| id == group_id;
    let refusal =
        WelcomeJoin::open(&bob.provider, &config(), &forged, &group_id, holds).unwrap_err();
    assert_eq!(refusal, WelcomeRefusal::AlreadyHeld(group_id.clone()));
    assert!(refusal.is_final(0, 0));
    assert!(bob.holds_key_package(&package));

    // Bob's group is the one Alice made, unchanged: it still reads Alice's messages.
    held = MlsGroup::load(bob.provider.storage(), held.group_id())
        .unwrap()
        .unwrap();
    assert_eq!(held.epoch(), epoch);
    assert!(
        held.members()
            .any(|m| m.credential.serialized_content() == b"u_alice/laptop")
    );
    assert!(
        !held
            .members()
            .any(|m| m.credential.serialized_content() == b"u_mallory/phone")
    );
}

#[test]
fn bytes_that_are_not_a_welcome_are_refused_for_good() {
    let bob = Client::new("u_bob", "phone");
    for bytes in [
        &b""[..],
        b"\x00\x01garbage",
        &bob.key_package().tls_serialize_detached().unwrap(),
    ] {
        let refusal =
            WelcomeJoin::open(&bob.provider, &config(), bytes, "ab", nobody_holds).unwrap_err();
        assert!(
            matches!(refusal, WelcomeRefusal::Unreadable(_)),
            "{refusal:?}"
        );
        assert!(refusal.is_final(0, 0));
    }
    // A Welcome for another device's key package.
    let (alice, carol) = (
        Client::new("u_alice", "laptop"),
        Client::new("u_carol", "tablet"),
    );
    let (group_id, welcome) = alice.welcome(None, carol.key_package());
    let refusal =
        WelcomeJoin::open(&bob.provider, &config(), &welcome, &group_id, nobody_holds).unwrap_err();
    assert!(
        matches!(refusal, WelcomeRefusal::Unreadable(_)),
        "{refusal:?}"
    );
}
