//! Per-operation latency of the message store: insert, unread page, history page of 50 and mark-read, against
//! SQLite (always), MySQL (`MYSQL_URL`) and MongoDB (`MONGODB_URI`). Each backend gets a fresh database that is
//! dropped afterwards (the conformance suite's namespaces). Medians are in
//! `target/criterion/store-<backend>/<operation>/new/estimates.json`.
//!
//! `cargo bench -p e2ee-storage --bench store`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_protocol::chat_id;
use e2ee_storage::{NewMessage, Order, PageRequest};

/// The conformance suite's fixtures: a fresh, isolated namespace per backend, cleaned up afterwards.
#[path = "../tests/conformance/support.rs"]
#[allow(dead_code)]
mod support;

use support::{Backend, Namespace};

const SENDER: &str = "u_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const RECEIVER: &str = "u_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const INSERT_RECEIVER: &str = "u_cccccccccccccccccccccccccccccccc";
const SEEDED_MESSAGES: usize = 300;

static CLIENT_IDS: AtomicU64 = AtomicU64::new(0);

fn message(sender: &str, receiver: &str) -> NewMessage {
    let client_message_id = format!("bench-{}", CLIENT_IDS.fetch_add(1, Ordering::Relaxed));
    NewMessage {
        sender_id: sender.to_owned(),
        receiver_id: receiver.to_owned(),
        envelope: serde_json::json!({
            "version": 1,
            "keyAlg": "RSA-OAEP-256",
            "contentAlg": "A256GCM",
            "senderId": sender,
            "messageId": client_message_id,
            "createdAt": 1_764_145_653_000_i64,
            "recipients": [
                { "userId": receiver, "keyId": "a".repeat(64), "wrappedKey": "A".repeat(344) },
                { "userId": sender, "keyId": "b".repeat(64), "wrappedKey": "B".repeat(344) }
            ],
            "nonce": "AAAAAAAAAAAAAAAA",
            "ciphertext": "C".repeat(256),
            "signature": { "alg": "PS256", "keyId": "b".repeat(64), "value": "D".repeat(344) }
        }),
        client_message_id,
    }
}

/// An unread page and a history page of 50 (the timed reads).
const PAGE_OF_50: PageRequest = PageRequest {
    limit: Some(50),
    cursor: None,
};

fn store_benchmarks(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    for (name, backend) in [
        ("sqlite", Backend::Sqlite),
        ("mysql", Backend::MySql),
        ("mongodb", Backend::MongoDb),
    ] {
        // A fresh database per backend (skipped when its URL is not set), dropped afterwards.
        let Some(namespace) = runtime.block_on(Namespace::create(backend)) else {
            continue;
        };
        let stores = runtime.block_on(async {
            let stores = support::open(&namespace.config).await;
            for _ in 0..SEEDED_MESSAGES {
                stores
                    .messages
                    .insert(message(SENDER, RECEIVER))
                    .await
                    .expect("seed");
            }
            stores
        });
        let chat = chat_id(SENDER, RECEIVER);
        let mut group = criterion.benchmark_group(format!("store-{name}"));
        group.sample_size(20);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));

        group.bench_function("insert", |bench| {
            bench.to_async(&runtime).iter(|| async {
                stores
                    .messages
                    .insert(message(SENDER, INSERT_RECEIVER))
                    .await
                    .expect("insert")
            });
        });
        group.bench_function("unread_page_50", |bench| {
            bench.to_async(&runtime).iter(|| async {
                let page = stores.messages.unread_for(RECEIVER, PAGE_OF_50).await;
                assert_eq!(page.expect("unread").items.len(), 50);
            });
        });
        group.bench_function("history_page_50", |bench| {
            bench.to_async(&runtime).iter(|| async {
                let page = stores
                    .messages
                    .history(&chat, Order::Desc, PAGE_OF_50)
                    .await;
                assert_eq!(page.expect("history").items.len(), 50);
            });
        });
        group.bench_function("mark_read", |bench| {
            // Each timed call marks a message that is still unread; creating them is not timed.
            bench.to_async(&runtime).iter_custom(|iterations| {
                let stores = stores.clone();
                async move {
                    let mut ids = Vec::new();
                    for _ in 0..iterations {
                        let inserted = stores
                            .messages
                            .insert(message(RECEIVER, SENDER))
                            .await
                            .expect("insert");
                        ids.push(inserted.message().id.clone());
                    }
                    let started = Instant::now();
                    for id in &ids {
                        stores
                            .messages
                            .mark_read(id, SENDER)
                            .await
                            .expect("mark read");
                    }
                    started.elapsed()
                }
            });
        });
        group.finish();
        drop(stores);
        runtime.block_on(namespace.clean_up());
    }
}

criterion_group!(benches, store_benchmarks);
criterion_main!(benches);
