//! Client-side MLS costs on this device's provider (`cargo bench -p e2ee-client --bench mls`): sealing one
//! 1 KiB application message, reading one, creating a group of 10 and of 100 members (the creator's add commit
//! for everyone, with the Welcome), processing another member's update commit, and saving the sealed state.
//! No network: what the SDK adds to each command on top of its HTTP round trips.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use e2ee_client::mls::{MlsState, create_config, join_config};
use e2ee_mls::{CIPHERSUITE, DeviceIdentity};
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
    c.bench_function("client/read one message (1 KiB)", |b| {
        b.iter_batched(
            || {
                let message = bob_group
                    .create_message(&bob.provider, &bob.signer, &[0x42; 1024])
                    .unwrap();
                MlsMessageIn::from(message)
                    .try_into_protocol_message()
                    .unwrap()
            },
            |message| group.process_message(state.provider(), message).unwrap(),
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
                    group
                        .add_members(state.provider(), state.signer(), &packages)
                        .unwrap();
                    group.merge_pending_commit(state.provider()).unwrap();
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
                MlsMessageIn::from(bundle.into_commit())
                    .try_into_protocol_message()
                    .unwrap()
            },
            |commit| {
                let processed = ten.process_message(state.provider(), commit).unwrap();
                let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content()
                else {
                    panic!("a commit")
                };
                ten.merge_staged_commit(state.provider(), *staged).unwrap();
            },
            BatchSize::SmallInput,
        )
    });

    // Saving a realistic state (the other benchmarks filled `state` with hundreds of groups): a device in one
    // group of 10, with 50 key packages waiting.
    let fresh = device();
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
    let profile = e2ee_client::profile::Profile::open(profiles.path(), "bench").unwrap();
    c.bench_function(
        "client/save the sealed state (one group of 10, 50 key packages)",
        |b| b.iter(|| fresh.save(&profile).unwrap()),
    );
}

criterion_group!(client_mls, benches);
criterion_main!(client_mls);
