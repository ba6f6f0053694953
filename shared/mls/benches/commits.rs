//! What the Delivery Service pays per commit bundle: `apply_commit` (restore the public state, validate the
//! commit, its Welcome and GroupInfo, merge, encode the new state) for groups of 2, 10, 100 and 1000 members,
//! for an update (a full path) and for an add (one new member, with its Welcome). Run with
//! `cargo bench -p e2ee-mls --bench commits` (release); medians are in the issue closing notes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use e2ee_mls::{CIPHERSUITE, DeviceIdentity, apply_commit, create_group};
use openmls::prelude::tls_codec::Serialize as _;
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

struct Device {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
    credential: CredentialWithKey,
}

fn device(index: usize) -> Device {
    let signer = SignatureKeyPair::new(CIPHERSUITE.signature_algorithm()).unwrap();
    let identity = DeviceIdentity::new(&format!("u_{index}"), "d").unwrap();
    Device {
        provider: OpenMlsRustCrypto::default(),
        credential: CredentialWithKey {
            credential: BasicCredential::new(identity.to_bytes()).into(),
            signature_key: signer.public().into(),
        },
        signer,
    }
}

fn key_package(device: &Device) -> KeyPackage {
    KeyPackage::builder()
        .build(
            CIPHERSUITE,
            &device.provider,
            &device.signer,
            device.credential.clone(),
        )
        .unwrap()
        .key_package()
        .clone()
}

/// A group of `size` members created by device 0, and the server's public state of it.
fn group_of(size: usize) -> (Device, MlsGroup, Vec<u8>) {
    let creator = device(0);
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(CIPHERSUITE)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build();
    let mut group = MlsGroup::new(
        &creator.provider,
        &creator.signer,
        &config,
        creator.credential.clone(),
    )
    .unwrap();
    let info = group
        .export_group_info(creator.provider.crypto(), &creator.signer, false)
        .unwrap();
    let tree = group
        .export_ratchet_tree()
        .tls_serialize_detached()
        .unwrap();
    let identity = DeviceIdentity::new("u_0", "d").unwrap();
    let mut state = create_group(&info.to_bytes().unwrap(), &tree, &identity)
        .unwrap()
        .public_state;
    if size > 1 {
        let packages: Vec<KeyPackage> = (1..size).map(|i| key_package(&device(i))).collect();
        let (commit, welcome, _) = group
            .add_members(&creator.provider, &creator.signer, &packages)
            .unwrap();
        group.merge_pending_commit(&creator.provider).unwrap();
        let info = group
            .export_group_info(creator.provider.crypto(), &creator.signer, false)
            .unwrap();
        state = apply_commit(
            &state,
            &commit.to_bytes().unwrap(),
            Some(&welcome.to_bytes().unwrap()),
            &info.to_bytes().unwrap(),
        )
        .unwrap()
        .group
        .public_state;
    }
    (creator, group, state)
}

fn commits(c: &mut Criterion) {
    let mut updates = c.benchmark_group("apply_commit/update");
    for size in [2, 10, 100, 1000] {
        let (creator, mut group, state) = group_of(size);
        let bundle = group
            .self_update(
                &creator.provider,
                &creator.signer,
                LeafNodeParameters::default(),
            )
            .unwrap();
        group.merge_pending_commit(&creator.provider).unwrap();
        let commit = bundle.into_commit().to_bytes().unwrap();
        let info = group
            .export_group_info(creator.provider.crypto(), &creator.signer, false)
            .unwrap()
            .to_bytes()
            .unwrap();
        eprintln!(
            "group of {size}: public state {} bytes, update commit {} bytes",
            state.len(),
            commit.len()
        );
        updates.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| apply_commit(&state, &commit, None, &info).unwrap());
        });
    }
    updates.finish();

    let mut adds = c.benchmark_group("apply_commit/add_one");
    for size in [2, 10, 100, 1000] {
        let (creator, mut group, state) = group_of(size);
        let newcomer = key_package(&device(size + 1));
        let (commit, welcome, _) = group
            .add_members(&creator.provider, &creator.signer, &[newcomer])
            .unwrap();
        group.merge_pending_commit(&creator.provider).unwrap();
        let (commit, welcome) = (commit.to_bytes().unwrap(), welcome.to_bytes().unwrap());
        let info = group
            .export_group_info(creator.provider.crypto(), &creator.signer, false)
            .unwrap()
            .to_bytes()
            .unwrap();
        adds.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.iter(|| apply_commit(&state, &commit, Some(&welcome), &info).unwrap());
        });
    }
    adds.finish();
}

criterion_group!(benches, commits);
criterion_main!(benches);
