//! Envelope and primitive costs. `cargo bench -p e2ee-crypto`; medians are what we report.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use e2ee_crypto::{
    Envelope, KeySize, PrivateKey, PublicKey, Recipient, SealParams, hazmat, open, seal,
};

fn seal_for(
    plaintext: &[u8],
    recipients: &[Recipient<'_>],
    sign_with: Option<&PrivateKey>,
) -> Envelope {
    let params = SealParams {
        sender_id: "alice",
        message_id: "m-1",
        created_at: 1,
        recipients,
        sign_with,
    };
    seal(plaintext, &params).expect("seal")
}

fn benches(c: &mut Criterion) {
    let alice = PrivateKey::generate(KeySize::Rsa2048).expect("keygen");
    let bob = PrivateKey::generate(KeySize::Rsa2048).expect("keygen");
    let one = [Recipient {
        user_id: "bob",
        key: bob.public_key(),
    }];
    let two = [
        one[0],
        Recipient {
            user_id: "alice",
            key: alice.public_key(),
        },
    ];

    let mut group = c.benchmark_group("keygen");
    group.sample_size(20);
    group.bench_function("rsa2048", |b| {
        b.iter(|| PrivateKey::generate(KeySize::Rsa2048).expect("keygen"))
    });
    group.finish();

    let content_key = [7u8; 32];
    let wrapped = hazmat::oaep_wrap(bob.public_key(), &content_key).expect("wrap");
    c.bench_function("oaep_wrap/2048", |b| {
        b.iter(|| hazmat::oaep_wrap(bob.public_key(), black_box(&content_key)))
    });
    c.bench_function("oaep_unwrap/2048", |b| {
        b.iter(|| hazmat::oaep_unwrap(&bob, black_box(&wrapped)))
    });

    let message = vec![1u8; 1024];
    let signature = hazmat::pss_sign(&alice, &message).expect("sign");
    c.bench_function("pss_sign/2048", |b| {
        b.iter(|| hazmat::pss_sign(&alice, black_box(&message)))
    });
    c.bench_function("pss_verify/2048", |b| {
        b.iter(|| hazmat::pss_verify(alice.public_key(), black_box(&message), &signature))
    });

    let pem = alice.public_key().to_spki_pem().expect("pem");
    c.bench_function("public_pem_parse/2048", |b| {
        b.iter(|| PublicKey::from_spki_pem(black_box(&pem)))
    });

    let mut group = c.benchmark_group("seal");
    for size in [1024usize, 64 * 1024] {
        let plaintext = vec![0x42u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("one_recipient", size),
            &plaintext,
            |b, p| b.iter(|| seal_for(p, &one, None)),
        );
        group.bench_with_input(
            BenchmarkId::new("two_recipients", size),
            &plaintext,
            |b, p| b.iter(|| seal_for(p, &two, None)),
        );
    }
    group.finish();

    let envelope = seal_for(&[0x42u8; 1024], &two, None);
    c.bench_function("open/1024", |b| {
        b.iter(|| open(black_box(&envelope), &bob, None))
    });

    let mut group = c.benchmark_group("aes256gcm");
    let key = [9u8; 32];
    let nonce = [3u8; 12];
    let plaintext = vec![0x42u8; 64 * 1024];
    group.throughput(Throughput::Bytes(plaintext.len() as u64));
    group.bench_function("seal/65536", |b| {
        b.iter(|| hazmat::aes_gcm_seal(&key, &nonce, black_box(&plaintext), b"aad"))
    });
    group.finish();
}

criterion_group!(crypto, benches);
criterion_main!(crypto);
