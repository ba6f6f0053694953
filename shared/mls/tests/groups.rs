//! Groups run by real openmls clients, with the server's public view checking every commit bundle: the one a
//! correct member produces is accepted (and the server's state follows the members'), every tampered or
//! out-of-date one is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use e2ee_mls::{
    CIPHERSUITE, DeviceIdentity, GroupSnapshot, MlsError, MlsInput, application_message_epoch,
    apply_commit, create_group,
};
use openmls::prelude::tls_codec::{DeserializeBytes, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

struct Client {
    identity: DeviceIdentity,
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
    group: Option<MlsGroup>,
}

fn client(user: &str, device: &str) -> Client {
    let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
    let identity = DeviceIdentity::new(user, device).unwrap();
    let credential = CredentialWithKey {
        credential: BasicCredential::new(identity.to_bytes()).into(),
        signature_key: signer.public().into(),
    };
    Client {
        identity,
        provider: OpenMlsRustCrypto::default(),
        signer,
        credential,
        group: None,
    }
}

fn config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

fn bytes(message: &MlsMessageOut) -> Vec<u8> {
    message.to_bytes().unwrap()
}

impl Client {
    fn key_package(&self) -> KeyPackage {
        KeyPackage::builder()
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.signer,
                self.credential.clone(),
            )
            .unwrap()
            .key_package()
            .clone()
    }

    /// Creates a group; returns what the creator uploads: GroupInfo and ratchet tree.
    fn create(&mut self) -> (Vec<u8>, Vec<u8>) {
        let group = MlsGroup::new(
            &self.provider,
            &self.signer,
            &config(),
            self.credential.clone(),
        )
        .unwrap();
        self.group = Some(group);
        (self.group_info(), self.tree())
    }

    fn group_info(&mut self) -> Vec<u8> {
        let (provider, signer) = (&self.provider, &self.signer);
        let info = self
            .group
            .as_ref()
            .unwrap()
            .export_group_info(provider.crypto(), signer, false)
            .unwrap();
        bytes(&info)
    }

    fn tree(&self) -> Vec<u8> {
        self.group
            .as_ref()
            .unwrap()
            .export_ratchet_tree()
            .tls_serialize_detached()
            .unwrap()
    }

    /// Adds `packages`: the bundle (commit, Welcome, new GroupInfo), merged locally.
    fn add(&mut self, packages: &[KeyPackage]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().unwrap();
        let (commit, welcome, _) = group.add_members(provider, signer, packages).unwrap();
        group.merge_pending_commit(provider).unwrap();
        (bytes(&commit), bytes(&welcome), self.group_info())
    }

    fn remove(&mut self, leaf: u32) -> (Vec<u8>, Vec<u8>) {
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().unwrap();
        let (commit, _, _) = group
            .remove_members(provider, signer, &[LeafNodeIndex::new(leaf)])
            .unwrap();
        group.merge_pending_commit(provider).unwrap();
        (bytes(&commit), self.group_info())
    }

    fn update(&mut self) -> (Vec<u8>, Vec<u8>) {
        let (provider, signer) = (&self.provider, &self.signer);
        let group = self.group.as_mut().unwrap();
        let bundle = group
            .self_update(provider, signer, LeafNodeParameters::default())
            .unwrap();
        group.merge_pending_commit(provider).unwrap();
        (bytes(&bundle.into_commit()), self.group_info())
    }

    fn join(&mut self, welcome: &[u8], tree: &[u8]) {
        let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::tls_deserialize_exact_bytes(welcome)
            .unwrap()
            .extract()
        else {
            panic!("not a welcome");
        };
        let tree = RatchetTreeIn::tls_deserialize_exact_bytes(tree).unwrap();
        let join = MlsGroupJoinConfig::builder()
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let staged =
            StagedWelcome::new_from_welcome(&self.provider, &join, welcome, Some(tree)).unwrap();
        self.group = Some(staged.into_group(&self.provider).unwrap());
    }

    /// Processes a commit another member made (as a member would, through the DS).
    fn receive_commit(&mut self, commit: &[u8]) {
        let message = MlsMessageIn::tls_deserialize_exact_bytes(commit).unwrap();
        let provider = &self.provider;
        let group = self.group.as_mut().unwrap();
        let processed = group
            .process_message(provider, message.try_into_protocol_message().unwrap())
            .unwrap();
        let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
            panic!("not a commit");
        };
        group.merge_staged_commit(provider, *staged).unwrap();
    }

    /// Rejoins from the group's GroupInfo and ratchet tree with a fresh state (an external commit; openmls adds
    /// the Remove of this device's old leaf itself): the commit and the new GroupInfo.
    fn rejoin(&mut self, group_info: &[u8], tree: &[u8]) -> (Vec<u8>, Vec<u8>) {
        self.provider = OpenMlsRustCrypto::default();
        let MlsMessageBodyIn::GroupInfo(info) =
            MlsMessageIn::tls_deserialize_exact_bytes(group_info)
                .unwrap()
                .extract()
        else {
            panic!("not a GroupInfo");
        };
        let join = MlsGroupJoinConfig::builder()
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let (group, bundle) = MlsGroup::external_commit_builder()
            .with_ratchet_tree(RatchetTreeIn::tls_deserialize_exact_bytes(tree).unwrap())
            .with_config(join)
            .build_group(&self.provider, info, self.credential.clone())
            .unwrap()
            .load_psks(self.provider.storage())
            .unwrap()
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.signer,
                |_| true,
            )
            .unwrap()
            .finalize(&self.provider)
            .unwrap();
        self.group = Some(group);
        self.group
            .as_mut()
            .unwrap()
            .merge_pending_commit(&self.provider)
            .unwrap();
        let (commit, _, _) = bundle.into_contents();
        (bytes(&commit), self.group_info())
    }

    fn epoch(&self) -> u64 {
        self.group.as_ref().unwrap().epoch().as_u64()
    }
}

fn identities(snapshot: &GroupSnapshot) -> Vec<String> {
    snapshot
        .members
        .iter()
        .map(|m| m.identity.to_string())
        .collect()
}

#[test]
fn a_group_lives_through_add_update_and_remove_with_the_server_in_step() {
    let mut alice = client("u_alice", "laptop");
    let mut bob = client("u_bob", "phone");
    let carol = client("u_carol", "tablet");

    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    assert_eq!(
        (created.epoch, identities(&created)),
        (0, vec!["u_alice/laptop".to_owned()])
    );

    // Alice adds Bob and Carol: one commit, one Welcome for exactly their two packages.
    let packages = [bob.key_package(), carol.key_package()];
    let (commit, welcome, info) = alice.add(&packages);
    let added = apply_commit(&created.public_state, &commit, Some(&welcome), &info).unwrap();
    assert_eq!(added.group.epoch, 1);
    assert_eq!(added.committer, alice.identity);
    assert_eq!(
        identities(&added.group),
        ["u_alice/laptop", "u_bob/phone", "u_carol/tablet"]
    );
    let refs: Vec<_> = added
        .added
        .iter()
        .map(|a| a.key_package_ref.clone())
        .collect();
    let expected: Vec<_> = packages
        .iter()
        .map(|p| {
            p.hash_ref(bob.provider.crypto())
                .unwrap()
                .as_slice()
                .to_vec()
        })
        .collect();
    assert_eq!(refs, expected);
    assert!(added.removed.is_empty());
    bob.join(&welcome, &alice.tree());

    // Bob updates his leaf; Alice processes it; the server follows.
    let (commit, info) = bob.update();
    let updated = apply_commit(&added.group.public_state, &commit, None, &info).unwrap();
    assert_eq!(
        (updated.group.epoch, &updated.committer),
        (2, &bob.identity)
    );
    alice.receive_commit(&commit);
    assert_eq!((alice.epoch(), bob.epoch()), (2, 2));
    let bob_leaf = |s: &GroupSnapshot| {
        s.members
            .iter()
            .find(|m| m.identity == bob.identity)
            .unwrap()
            .signature_key
            .clone()
    };
    assert_eq!(
        bob_leaf(&updated.group),
        bob_leaf(&added.group),
        "same signature key, new encryption key"
    );
    assert_ne!(updated.group.public_state, added.group.public_state);

    // Alice removes Carol (leaf 2).
    let (commit, info) = alice.remove(2);
    let removed = apply_commit(&updated.group.public_state, &commit, None, &info).unwrap();
    assert_eq!(removed.removed, vec![carol.identity.clone()]);
    assert_eq!(
        identities(&removed.group),
        ["u_alice/laptop", "u_bob/phone"]
    );
    bob.receive_commit(&commit);
    assert_eq!(bob.epoch(), removed.group.epoch);

    // A replay of an old commit is for an old epoch.
    let replay = apply_commit(&removed.group.public_state, &commit, None, &info);
    assert!(
        matches!(
            replay,
            Err(MlsError::WrongEpoch {
                current: 3,
                found: 2
            })
        ),
        "{replay:?}"
    );
}

#[test]
fn tampered_or_mismatched_bundles_are_refused() {
    let mut alice = client("u_alice", "laptop");
    let bob = client("u_bob", "phone");
    let mallory = client("u_mallory", "ghost");
    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    let state = created.public_state.clone();

    // Build one honest bundle on a copy of Alice's state, then tamper with its parts.
    let (commit, welcome, new_info) = alice.add(&[bob.key_package()]);
    assert!(apply_commit(&state, &commit, Some(&welcome), &new_info).is_ok());

    // A PublicMessage commit ends with signature (1 + 64 bytes), confirmation tag (1 + 32) and membership tag
    // (1 + 32). The signature is checked; the two tags need group secrets the server does not have (the
    // documented limit: members reject such a commit, the server cannot).
    let mut bad_signature = commit.clone();
    let in_signature = bad_signature.len() - 66 - 10;
    bad_signature[in_signature] ^= 1;
    let mut bad_membership_tag = commit.clone();
    let last = bad_membership_tag.len() - 1;
    bad_membership_tag[last] ^= 1;
    assert!(apply_commit(&state, &bad_membership_tag, Some(&welcome), &new_info).is_ok());
    let refused = apply_commit(&state, &bad_signature, Some(&welcome), &new_info);
    assert!(
        matches!(refused, Err(MlsError::InvalidCommit(_))),
        "{refused:?}"
    );

    let truncated = apply_commit(
        &state,
        &commit[..commit.len() / 2],
        Some(&welcome),
        &new_info,
    );
    assert!(
        matches!(truncated, Err(MlsError::Malformed { .. })),
        "{truncated:?}"
    );
    assert!(matches!(
        apply_commit(&state, b"garbage", None, &new_info),
        Err(MlsError::Malformed { .. })
    ));

    // No Welcome for an add; a Welcome for a commit that adds nobody; a Welcome for someone else.
    assert!(matches!(
        apply_commit(&state, &commit, None, &new_info),
        Err(MlsError::WelcomeMismatch(_))
    ));
    let mut other = client("u_alice", "laptop");
    other.create();
    let (_, other_welcome, _) = other.add(&[mallory.key_package()]);
    let wrong = apply_commit(&state, &commit, Some(&other_welcome), &new_info);
    assert!(
        matches!(wrong, Err(MlsError::WelcomeMismatch(_))),
        "{wrong:?}"
    );

    // The GroupInfo of another epoch (the old one), or not a GroupInfo at all.
    let stale_info = apply_commit(&state, &commit, Some(&welcome), &info);
    assert!(
        matches!(stale_info, Err(MlsError::InvalidGroupInfo(_))),
        "{stale_info:?}"
    );
    let not_info = apply_commit(&state, &commit, Some(&welcome), &welcome);
    assert!(
        matches!(not_info, Err(MlsError::Malformed { .. })),
        "{not_info:?}"
    );

    // A commit of another group, applied to this one.
    let other_commit = other.update().0;
    let foreign = apply_commit(&state, &other_commit, None, &new_info);
    assert!(foreign.is_err(), "{foreign:?}");
}

#[test]
fn a_new_group_must_be_its_creators_alone_at_epoch_zero() {
    let mut alice = client("u_alice", "laptop");
    let bob = client("u_bob", "phone");
    let (info, tree) = alice.create();
    let someone_else = DeviceIdentity::new("u_bob", "phone").unwrap();
    assert!(matches!(
        create_group(&info, &tree, &someone_else),
        Err(MlsError::InvalidGroup(_))
    ));
    // Past epoch 0, with Bob in it.
    alice.add(&[bob.key_package()]);
    let (info, tree) = (alice.group_info(), alice.tree());
    assert!(matches!(
        create_group(&info, &tree, &alice.identity),
        Err(MlsError::InvalidGroup(_))
    ));
    // A tree that does not match the GroupInfo.
    let mut carol = client("u_carol", "x");
    let (_, carol_tree) = carol.create();
    let mismatch = create_group(&info, &carol_tree, &alice.identity);
    assert!(
        matches!(mismatch, Err(MlsError::InvalidGroup(_))),
        "{mismatch:?}"
    );
    assert!(matches!(
        create_group(b"junk", &tree, &alice.identity),
        Err(MlsError::Malformed { .. })
    ));
}

#[test]
fn application_messages_are_private_messages_of_their_group() {
    let mut alice = client("u_alice", "laptop");
    let bob = client("u_bob", "phone");
    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    let (commit, _, _) = alice.add(&[bob.key_package()]);
    let provider = &alice.provider;
    let signer = &alice.signer;
    let group = alice.group.as_mut().unwrap();
    let message = bytes(&group.create_message(provider, signer, b"hello").unwrap());
    assert_eq!(
        application_message_epoch(&message, &created.group_id),
        Ok(1)
    );
    // Another group's id, a commit (PublicMessage), and garbage are refused.
    assert!(matches!(
        application_message_epoch(&message, b"another group"),
        Err(MlsError::InvalidApplicationMessage(_))
    ));
    // A commit is the wrong wire format for an application message: a malformed one (400), not an invalid one.
    assert!(matches!(
        application_message_epoch(&commit, &created.group_id),
        Err(MlsError::Malformed {
            input: MlsInput::ApplicationMessage,
            ..
        })
    ));
    assert!(matches!(
        application_message_epoch(b"junk", &created.group_id),
        Err(MlsError::Malformed { .. })
    ));
}

#[test]
fn a_member_that_lost_its_state_rejoins_by_external_commit_and_nobody_else_can() {
    let mut alice = client("u_alice", "laptop");
    let mut bob = client("u_bob", "phone");
    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    let (commit, welcome, info) = alice.add(&[bob.key_package()]);
    let added = apply_commit(&created.public_state, &commit, Some(&welcome), &info).unwrap();
    bob.join(&welcome, &alice.tree());

    // Bob loses his state and rejoins from the server's GroupInfo and tree: his old leaf is replaced, nobody is
    // added or removed, and Alice follows.
    let server_tree = e2ee_mls::ratchet_tree(&added.group.public_state).unwrap();
    assert_eq!(
        server_tree,
        alice.tree(),
        "the server's tree is the members' tree"
    );
    let (commit, info) = bob.rejoin(&info, &server_tree);
    let rejoined = apply_commit(&added.group.public_state, &commit, None, &info).unwrap();
    assert!(rejoined.external);
    assert_eq!(rejoined.committer, bob.identity);
    assert_eq!(
        identities(&rejoined.group),
        ["u_alice/laptop", "u_bob/phone"]
    );
    assert!(rejoined.added.is_empty() && rejoined.removed.is_empty());
    assert!(
        rejoined.new_leaves.is_empty(),
        "same device, same signature key"
    );
    alice.receive_commit(&commit);
    assert_eq!((alice.epoch(), bob.epoch()), (2, 2));

    // Carol, not a member, cannot join by external commit.
    let mut carol = client("u_carol", "tablet");
    let info = alice.group_info();
    let (commit, carol_info) = carol.rejoin(&info, &alice.tree());
    let refused = apply_commit(&rejoined.group.public_state, &commit, None, &carol_info);
    assert!(
        matches!(refused, Err(MlsError::InvalidCommit(_))),
        "{refused:?}"
    );
}

#[test]
fn a_device_never_holds_two_leaves_and_new_signature_keys_are_reported() {
    let mut alice = client("u_alice", "laptop");
    let bob = client("u_bob", "phone");
    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    // Two leaves naming Bob's one device (under two signature keys; openmls itself refuses one key twice).
    let bob_again = client("u_bob", "phone");
    let (commit, welcome, info) = alice.add(&[bob.key_package(), bob_again.key_package()]);
    let refused = apply_commit(&created.public_state, &commit, Some(&welcome), &info);
    assert!(
        matches!(&refused, Err(MlsError::InvalidCommit(why)) if why.contains("two leaves")),
        "{refused:?}"
    );

    // The leaves an add brings in are reported (the server checks them against the directory).
    let mut alice = client("u_alice", "laptop");
    let (info, tree) = alice.create();
    let created = create_group(&info, &tree, &alice.identity).unwrap();
    let (commit, welcome, info) = alice.add(&[bob.key_package()]);
    let added = apply_commit(&created.public_state, &commit, Some(&welcome), &info).unwrap();
    assert_eq!(added.new_leaves.len(), 1);
    assert_eq!(added.new_leaves[0].identity, bob.identity);
    assert_eq!(added.new_leaves[0].signature_key, bob.signer.public());
    // Rejoining under another signature key leaves the old leaf in place (openmls replaces the leaf of the same
    // key): two leaves of one device, refused.
    let mut bob_elsewhere = client("u_bob", "phone");
    let (commit, info) = bob_elsewhere.rejoin(&info, &alice.tree());
    let refused = apply_commit(&added.group.public_state, &commit, None, &info);
    assert!(
        matches!(&refused, Err(MlsError::InvalidCommit(why)) if why.contains("two leaves")),
        "{refused:?}"
    );
}
