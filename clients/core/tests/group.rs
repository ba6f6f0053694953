//! A group's life through the core (`e2ee_client_core::group`): plain function calls over openmls providers in
//! memory, the server played by handing each device the log rows it would list. Intents staged as pending
//! commits, rows read into messages, commits merged only after the trust decision, lost answers settled by
//! the log (review N4).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::Client;
use e2ee_client_core::content::Content;
use e2ee_client_core::group::{
    self, GroupMeta, Intent, MessageStatus, RowOutcome, StagedIntent, commit_accepted, read_row,
    settle_pending_row, stage_intent,
};
use e2ee_client_core::welcome::WelcomeJoin;
use e2ee_mls::DeviceIdentity;
use e2ee_protocol::{GroupLogEntryView, LogKind};
use openmls::prelude::tls_codec::DeserializeBytes as _;
use openmls::prelude::*;

impl Client {
    /// Stages `intent` in `group` (which must leave something to commit).
    fn stage(&self, group: &mut MlsGroup, meta: &mut GroupMeta, intent: &Intent) -> StagedIntent {
        self.try_stage(group, meta, intent)
            .expect("something to commit")
    }

    /// `None`: nothing left to commit.
    fn try_stage(
        &self,
        group: &mut MlsGroup,
        meta: &mut GroupMeta,
        intent: &Intent,
    ) -> Option<StagedIntent> {
        stage_intent(&self.provider, &self.signer, group, meta, intent).unwrap()
    }

    fn key_package(&self) -> KeyPackage {
        let credential = group::credential(&self.identity, &self.signer);
        let bytes = e2ee_client_core::key_packages::key_packages(
            &self.provider,
            &self.signer,
            &credential,
            1,
            false,
        )
        .unwrap();
        let message = MlsMessageIn::tls_deserialize_exact_bytes(&bytes[0].message).unwrap();
        let MlsMessageBodyIn::KeyPackage(package) = message.extract() else {
            panic!("not a key package")
        };
        package
            .validate(self.provider.crypto(), ProtocolVersion::Mls10)
            .unwrap()
    }

    fn create(&self) -> MlsGroup {
        MlsGroup::new(
            &self.provider,
            &self.signer,
            &group::create_config(),
            group::credential(&self.identity, &self.signer),
        )
        .unwrap()
    }

    fn join(&self, welcome: &[u8], group_id: &str) -> MlsGroup {
        WelcomeJoin::open(
            &self.provider,
            &group::join_config(),
            welcome,
            group_id,
            |_| false,
        )
        .unwrap()
        .finish(&self.provider, &self.identity, |_, _| true)
        .unwrap()
    }

    fn send(&self, group: &mut MlsGroup, seq: u64, text: &str) -> GroupLogEntryView {
        let content = Content::Text { text: text.into() }.encode().unwrap();
        let message = group
            .create_message(&self.provider, &self.signer, &content)
            .unwrap();
        row(
            seq,
            LogKind::Application,
            group.epoch().as_u64(),
            &self.identity,
            &message.to_bytes().unwrap(),
        )
    }
}

fn row(
    seq: u64,
    kind: LogKind,
    epoch: u64,
    sender: &DeviceIdentity,
    bytes: &[u8],
) -> GroupLogEntryView {
    GroupLogEntryView {
        seq,
        kind,
        epoch,
        sender_user_id: sender.user_id.clone(),
        sender_device_id: sender.device_id.clone(),
        client_message_id: None,
        message: STANDARD.encode(bytes),
        created_at: 0,
    }
}

fn hex_id(group: &MlsGroup) -> String {
    hex::encode(group.group_id().as_slice())
}

/// The row the server lists for an accepted commit: the epoch the commit starts.
fn commit_row(
    seq: u64,
    group_epoch_before: u64,
    by: &DeviceIdentity,
    staged: &StagedIntent,
) -> GroupLogEntryView {
    row(
        seq,
        LogKind::Commit,
        group_epoch_before + 1,
        by,
        &staged.commit,
    )
}

/// Alice's group with Bob joined from the Welcome of Alice's staged (and accepted) add.
fn alice_and_bob() -> (Client, MlsGroup, GroupMeta, Client, MlsGroup) {
    let alice = Client::new("u_alice", "laptop");
    let bob = Client::new("u_bob", "phone");
    let mut group = alice.create();
    let mut meta = GroupMeta::default();
    let intent = Intent::Add(vec![bob.key_package()]);
    let staged = alice.stage(&mut group, &mut meta, &intent);
    assert_eq!(meta.pending_commit.as_ref().map(|p| p.epoch), Some(1));
    assert!(!staged.group_info.is_empty());
    commit_accepted(&alice.provider, &mut group, &mut meta, &intent, 0).unwrap();
    assert!(meta.pending_commit.is_none());
    let bobs = bob.join(staged.welcome.as_deref().unwrap(), &hex_id(&group));
    assert_eq!(bobs.epoch(), group.epoch());
    (alice, group, meta, bob, bobs)
}

#[test]
fn a_staged_add_lets_the_new_member_read_what_the_committer_sends() {
    let (alice, mut alices, _, bob, mut bobs) = alice_and_bob();
    let sent = alice.send(&mut alices, 7, "hello bob");
    match read_row(&bob.provider, &mut bobs, &bob.identity, &sent, "alice") {
        RowOutcome::Message(message) => {
            assert_eq!(message.status, MessageStatus::Ok);
            assert_eq!(message.text.as_deref(), Some("hello bob"));
            assert_eq!((message.sender.as_str(), message.seq), ("alice", 7));
        }
        other => panic!("expected a message, got {other:?}"),
    }
    // The same row again (a replay the server appended): its key is used up, it fails and is not shown twice.
    match read_row(&bob.provider, &mut bobs, &bob.identity, &sent, "alice") {
        RowOutcome::Message(message) => assert_eq!(message.status, MessageStatus::Failed),
        other => panic!("expected a failed row, got {other:?}"),
    }
    // The sender's own row is skipped: recorded when sent.
    assert!(matches!(
        read_row(
            &alice.provider,
            &mut alices,
            &alice.identity,
            &sent,
            "alice"
        ),
        RowOutcome::Skipped
    ));
}

#[test]
fn a_message_whose_leaf_is_not_the_named_sender_fails() {
    let (alice, mut alices, _, bob, mut bobs) = alice_and_bob();
    let mut sent = alice.send(&mut alices, 3, "from alice");
    sent.sender_user_id = "u_carol".into();
    match read_row(&bob.provider, &mut bobs, &bob.identity, &sent, "carol") {
        RowOutcome::Message(message) => {
            assert_eq!(message.status, MessageStatus::Failed);
            assert!(
                message
                    .reason
                    .unwrap()
                    .contains("not the device the server names")
            );
        }
        other => panic!("expected a failed row, got {other:?}"),
    }
}

#[test]
fn a_commit_is_merged_only_after_the_trust_decision() {
    let (alice, mut alices, mut meta, bob, mut bobs) = alice_and_bob();
    let ghost = Client::new("u_alice", "ghost");
    let before = alices.epoch().as_u64();
    let intent = Intent::Add(vec![ghost.key_package()]);
    let staged = alice.stage(&mut alices, &mut meta, &intent);
    commit_accepted(&alice.provider, &mut alices, &mut meta, &intent, 0).unwrap();
    let commit = commit_row(9, before, &alice.identity, &staged);

    let RowOutcome::Commit(check) =
        read_row(&bob.provider, &mut bobs, &bob.identity, &commit, "alice")
    else {
        panic!("expected a commit")
    };
    assert!(
        check
            .leaves()
            .iter()
            .any(|(identity, _)| *identity == ghost.identity)
    );
    let refused = check.refuse(&ghost.identity);
    assert_eq!(refused.status, MessageStatus::Failed);
    assert!(refused.reason.unwrap().contains("u_alice/ghost"));
    assert_eq!(
        bobs.epoch().as_u64(),
        before,
        "a refused commit leaves the group unchanged"
    );
    assert!(group::is_stuck(
        &commit,
        before,
        bobs.epoch().as_u64(),
        true
    ));
}

#[test]
fn an_update_commit_of_another_member_is_merged_and_both_stay_in_step() {
    let (alice, mut alices, mut meta, bob, mut bobs) = alice_and_bob();
    let before = alices.epoch().as_u64();
    let staged = alice.stage(&mut alices, &mut meta, &Intent::Update);
    assert!(staged.welcome.is_none());
    commit_accepted(
        &alice.provider,
        &mut alices,
        &mut meta,
        &Intent::Update,
        1234,
    )
    .unwrap();
    assert_eq!(meta.updated_at, 1234);
    let RowOutcome::Commit(check) = read_row(
        &bob.provider,
        &mut bobs,
        &bob.identity,
        &commit_row(4, before, &alice.identity, &staged),
        "alice",
    ) else {
        panic!("expected a commit")
    };
    assert_eq!(check.leaves().len(), 1, "the committer's new path leaf");
    check.merge(&bob.provider, &mut bobs).unwrap();
    assert_eq!(bobs.epoch(), alices.epoch());
    let sent = alice.send(&mut alices, 5, "after the update");
    assert!(matches!(
        read_row(&bob.provider, &mut bobs, &bob.identity, &sent, "alice"),
        RowOutcome::Message(m) if m.status == MessageStatus::Ok
    ));
}

#[test]
fn a_lost_answer_is_settled_by_the_log() {
    // The server stored the commit but the answer was lost: its row merges it (review N4).
    let (alice, mut alices, mut meta, bob, mut bobs) = alice_and_bob();
    let before = alices.epoch().as_u64();
    let staged = alice.stage(&mut alices, &mut meta, &Intent::Update);
    let own = commit_row(4, before, &alice.identity, &staged);
    assert!(settle_pending_row(&alice.provider, &mut alices, &mut meta, &own).unwrap());
    assert_eq!(alices.epoch().as_u64(), before + 1);
    assert!(meta.pending_commit.is_none());

    // Bob staged a commit of the same epoch, and Alice's took it: Bob's is dropped and Alice's row is read.
    let mut bobs_meta = GroupMeta::default();
    let losing = bob.stage(&mut bobs, &mut bobs_meta, &Intent::Update);
    assert!(!settle_pending_row(&bob.provider, &mut bobs, &mut bobs_meta, &own).unwrap());
    assert!(bobs_meta.pending_commit.is_none());
    let RowOutcome::Commit(check) =
        read_row(&bob.provider, &mut bobs, &bob.identity, &own, "alice")
    else {
        panic!("expected the winning commit")
    };
    check.merge(&bob.provider, &mut bobs).unwrap();
    assert_eq!(bobs.epoch(), alices.epoch());
    assert_ne!(losing.commit, staged.commit);
}

#[test]
fn an_add_of_devices_already_in_the_group_stages_nothing() {
    let (alice, mut alices, mut meta, bob, _) = alice_and_bob();
    let again = Intent::Add(vec![bob.key_package()]);
    assert!(alice.try_stage(&mut alices, &mut meta, &again).is_none());
    let gone = Intent::Remove(vec![DeviceIdentity::new("u_nobody", "x").unwrap()]);
    assert!(alice.try_stage(&mut alices, &mut meta, &gone).is_none());
    assert!(meta.pending_commit.is_none());
}
