//! Client-side MLS costs on this device's provider (`cargo bench -p e2ee-client --bench mls`), through the client
//! core (`e2ee_client_core::group`): sealing one 1 KiB application message, reading one log row of it, creating a
//! group of 10 and of 100 members (the creator's staged add commit for everyone, with the Welcome and GroupInfo),
//! processing another member's update commit, and saving the sealed state; then one commit as the SDK posts it
//! (with its sealed saves), the way before the core staged the GroupInfo (merge, export, reload the saved state)
//! beside the way now. No network: what the SDK adds to each command on top of its HTTP round trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use e2ee_client::mls::{MlsState, create_config, join_config};
use e2ee_client_core::content::Content;
use e2ee_client_core::group::{
    GroupMeta, Intent, MessageStatus, RowOutcome, commit_accepted, read_row, stage_intent,
};
use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
use e2ee_protocol::{GroupLogEntryView, LogKind};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

/// Another member's device: plain openmls (its state is not sealed; only the measured device's is).
struct Peer {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn peer(index: usize) -> Peer {
    let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
    let identity = DeviceIdentity::new(&format!("u_peer{index}"), "d").unwrap();
    Peer {
        provider: OpenMlsRustCrypto::default(),
        credential: CredentialWithKey {
            credential: BasicCredential::new(identity.to_bytes()).into(),
            signature_key: signer.public().into(),
        },
        signer,
    }
}

fn key_package(peer: &Peer) -> KeyPackage {
    KeyPackage::builder()
        .build(
            CIPHERSUITE,
            &peer.provider,
            &peer.signer,
            peer.credential.clone(),
        )
        .unwrap()
        .key_package()
        .clone()
}

fn device() -> MlsState {
    MlsState::create(b"bench passphrase", "u_bench", "laptop").unwrap()
}

/// A group of the device and `peers`, created by the device.
fn group_with(state: &MlsState, peers: &[Peer]) -> (MlsGroup, MlsMessageOut) {
    let mut group = MlsGroup::new(
        state.provider(),
        state.signer(),
        &create_config(),
        state.credential(),
    )
    .unwrap();
    let packages: Vec<KeyPackage> = peers.iter().map(key_package).collect();
    let (_, welcome, _) = group
        .add_members(state.provider(), state.signer(), &packages)
        .unwrap();
    group.merge_pending_commit(state.provider()).unwrap();
    (group, welcome)
}

fn join(peer: &Peer, welcome: MlsMessageOut) -> MlsGroup {
    let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::from(welcome).extract() else {
        panic!("a Welcome")
    };
    StagedWelcome::new_from_welcome(&peer.provider, &join_config(), welcome, None)
        .unwrap()
        .into_group(&peer.provider)
        .unwrap()
}

fn benches(c: &mut Criterion) {
    let state = device();
    let bob = peer(1);
    let (mut group, welcome) = group_with(&state, std::slice::from_ref(&bob));
    let mut bob_group = join(&bob, welcome);

    c.bench_function("client/send one message (1 KiB)", |b| {
        b.iter(|| {
            group
                .create_message(state.provider(), state.signer(), &[0x42; 1024])
                .unwrap()
        })
    });
    let me = state.identity();
    let text = Content::Text {
        text: "x".repeat(1024),
    }
    .encode()
    .unwrap();
    c.bench_function("client/read one message (1 KiB)", |b| {
        b.iter_batched(
            || {
                let message = bob_group
                    .create_message(&bob.provider, &bob.signer, &text)
                    .unwrap();
                row(LogKind::Application, 0, "u_peer1", &message)
            },
            |row| match read_row(state.provider(), &mut group, &me, &row, "peer") {
                RowOutcome::Message(message) => assert_eq!(message.status, MessageStatus::Ok),
                other => panic!("{other:?}"),
            },
            BatchSize::SmallInput,
        )
    });

    let mut creates = c.benchmark_group("client/create a group");
    creates.sample_size(10);
    for size in [10usize, 100] {
        let peers: Vec<Peer> = (1..size).map(peer).collect();
        creates.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter_batched(
                || peers.iter().map(key_package).collect::<Vec<_>>(),
                |packages| {
                    let mut group = MlsGroup::new(
                        state.provider(),
                        state.signer(),
                        &create_config(),
                        state.credential(),
                    )
                    .unwrap();
                    let mut meta = GroupMeta::default();
                    let intent = Intent::Add(packages);
                    let (provider, signer) = (state.provider(), state.signer());
                    stage_intent(provider, signer, &mut group, &mut meta, &intent)
                        .unwrap()
                        .unwrap();
                    commit_accepted(provider, &mut group, &mut meta, &intent, 0).unwrap();
                },
                BatchSize::SmallInput,
            )
        });
    }
    creates.finish();

    // Bob updates his leaf; the device processes and merges the commit (10 members).
    let peers: Vec<Peer> = (1..10).map(peer).collect();
    let (mut ten, welcome) = group_with(&state, &peers);
    let mut first = join(&peers[0], welcome);
    c.bench_function("client/process an update commit (10 members)", |b| {
        b.iter_batched(
            || {
                let bundle = first
                    .self_update(
                        &peers[0].provider,
                        &peers[0].signer,
                        LeafNodeParameters::default(),
                    )
                    .unwrap();
                first.merge_pending_commit(&peers[0].provider).unwrap();
                // The row carries the epoch the commit starts: the committer's, once merged.
                row(
                    LogKind::Commit,
                    first.epoch().as_u64(),
                    "u_peer1",
                    &bundle.into_commit(),
                )
            },
            |commit| match read_row(state.provider(), &mut ten, &me, &commit, "peer") {
                RowOutcome::Commit(check) => check.merge(state.provider(), &mut ten).unwrap(),
                other => panic!("{other:?}"),
            },
            BatchSize::SmallInput,
        )
    });

    // Saving a realistic state (the other benchmarks filled `state` with hundreds of groups): a device in one
    // group of 10, with 50 key packages waiting.
    let mut fresh = device();
    let _ = fresh.key_packages(50, false).unwrap();
    let peers: Vec<Peer> = (1..10).map(peer).collect();
    let _group = group_with(&fresh, &peers);
    let state_bytes = e2ee_mls::encode_storage(fresh.provider().storage())
        .unwrap()
        .len();
    let tree = ten.export_ratchet_tree().tls_serialize_detached().unwrap();
    eprintln!(
        "the saved device holds {state_bytes} bytes of openmls storage (a 10-member tree is {} bytes)",
        tree.len()
    );
    let profiles = tempfile::tempdir().unwrap();
    let mut profile = e2ee_client::profile::Profile::open(profiles.path(), "bench").unwrap();
    // The sealed state names its account; reloading checks it against the profile's.
    profile.data.user_id = Some("u_bench".into());
    c.bench_function(
        "client/save the sealed state (one group of 10, 50 key packages)",
        |b| b.iter(|| fresh.save(&profile).unwrap()),
    );

    // One update commit in that group as the SDK makes it, with the saves it does around posting (the post
    // itself left out). Before the core: openmls' self_update, save, merge to export the next epoch's GroupInfo,
    // reload the saved state, merge again once accepted, save. Now: the core stages the commit with its GroupInfo,
    // save, merge once accepted, save.
    let mut fresh = fresh;
    let (ours, _) = group_with(&fresh, &peers);
    let ours_id = hex::encode(ours.group_id().as_slice());
    fresh
        .meta
        .groups
        .insert(ours_id.clone(), GroupMeta::default());
    fresh.save(&profile).unwrap();
    let mut commits = c.benchmark_group("client/an update commit as the SDK posts it (10 members)");
    commits.sample_size(20);
    commits.bench_function("before: merge, export, reload", |b| {
        b.iter(|| {
            let mut group = fresh.group(&ours_id).unwrap();
            let bundle = group
                .self_update(
                    fresh.provider(),
                    fresh.signer(),
                    LeafNodeParameters::default(),
                )
                .unwrap();
            let _commit = bundle.into_commit().to_bytes().unwrap();
            fresh.save(&profile).unwrap();
            group.merge_pending_commit(fresh.provider()).unwrap();
            let _info = group
                .export_group_info(fresh.provider().crypto(), fresh.signer(), false)
                .unwrap();
            fresh.reload(&profile).unwrap();
            fresh
                .group(&ours_id)
                .unwrap()
                .merge_pending_commit(fresh.provider())
                .unwrap();
            fresh.save(&profile).unwrap();
        })
    });
    commits.bench_function("now: staged by the core", |b| {
        b.iter(|| {
            let mut group = fresh.group(&ours_id).unwrap();
            let (provider, signer, meta) = fresh.parts(&ours_id).unwrap();
            let _staged = stage_intent(provider, signer, &mut group, meta, &Intent::Update)
                .unwrap()
                .unwrap();
            fresh.save(&profile).unwrap();
            let (provider, _, meta) = fresh.parts(&ours_id).unwrap();
            commit_accepted(provider, &mut group, meta, &Intent::Update, 0).unwrap();
            fresh.save(&profile).unwrap();
        })
    });
    commits.finish();
}

/// A log row as the server lists it.
fn row(kind: LogKind, epoch: u64, sender: &str, message: &MlsMessageOut) -> GroupLogEntryView {
    GroupLogEntryView {
        seq: 1,
        kind,
        epoch,
        sender_user_id: sender.into(),
        sender_device_id: "d".into(),
        client_message_id: None,
        message: STANDARD.encode(message.to_bytes().unwrap()),
        created_at: 0,
    }
}

criterion_group!(client_mls, benches);
criterion_main!(client_mls);
