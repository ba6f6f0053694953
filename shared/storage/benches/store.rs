//! Per-operation latency of the message store: insert, unread page, history page of 50 and mark-read, against
//! SQLite (always), MySQL (`MYSQL_URL`) and MongoDB (`MONGODB_URI`). Each backend gets a fresh database that is
//! dropped afterwards. Medians are in
//! `target/criterion/store-<backend>/<operation>/new/estimates.json`.
//!
//! `cargo bench -p e2ee-storage --bench store`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use e2ee_storage::{NewMessage, Order, PageRequest, StorageConfig, Stores, chat_id};
use sqlx::Connection;

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

struct Target {
    name: &'static str,
    config: StorageConfig,
    drop_mysql: Option<(String, String)>,
    drop_mongo: Option<(String, String)>,
    _directory: tempfile::TempDir,
}

async fn targets() -> Vec<Target> {
    let suffix = hex::encode(rand::random::<[u8; 4]>());
    let mut targets = Vec::new();
    let sqlite_dir = tempfile::tempdir().expect("temporary directory");
    targets.push(Target {
        name: "sqlite",
        config: StorageConfig {
            sqlite_path: Some(sqlite_dir.path().join("bench.sqlite3")),
            ..StorageConfig::default()
        },
        drop_mysql: None,
        drop_mongo: None,
        _directory: sqlite_dir,
    });
    if let Ok(server_url) = std::env::var("MYSQL_URL") {
        let database = format!("e2ee_bench_{suffix}");
        let mut connection = sqlx::MySqlConnection::connect(&server_url)
            .await
            .expect("connect MYSQL_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
            .execute(&mut connection)
            .await
            .expect("create bench database");
        let base = server_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&server_url);
        targets.push(Target {
            name: "mysql",
            config: StorageConfig {
                mysql_url: Some(format!("{base}/{database}")),
                ..StorageConfig::default()
            },
            drop_mysql: Some((server_url.clone(), database)),
            drop_mongo: None,
            _directory: tempfile::tempdir().expect("temporary directory"),
        });
    }
    if let Ok(uri) = std::env::var("MONGODB_URI") {
        let directory = tempfile::tempdir().expect("temporary directory");
        let database = format!("e2ee_bench_{suffix}");
        targets.push(Target {
            name: "mongodb",
            config: StorageConfig {
                mongodb_uri: Some(uri.clone()),
                mongodb_database: Some(database.clone()),
                sqlite_path: Some(directory.path().join("users.sqlite3")),
                ..StorageConfig::default()
            },
            drop_mysql: None,
            drop_mongo: Some((uri, database)),
            _directory: directory,
        });
    }
    targets
}

async fn clean_up(target: &Target) {
    if let Some((server_url, database)) = &target.drop_mysql {
        let mut connection = sqlx::MySqlConnection::connect(server_url)
            .await
            .expect("connect");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{database}`"
        )))
        .execute(&mut connection)
        .await
        .expect("drop bench database");
    }
    if let Some((uri, database)) = &target.drop_mongo {
        let client = mongodb::Client::with_uri_str(uri).await.expect("connect");
        client
            .database(database)
            .drop()
            .await
            .expect("drop bench database");
    }
}

fn store_benchmarks(criterion: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let targets = runtime.block_on(targets());
    for target in &targets {
        let stores = runtime.block_on(async {
            let stores = Stores::from_config(&target.config)
                .await
                .expect("open stores");
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
        let mut group = criterion.benchmark_group(format!("store-{}", target.name));
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
                let page = PageRequest {
                    limit: Some(50),
                    cursor: None,
                };
                let page = stores
                    .messages
                    .unread_for(RECEIVER, page)
                    .await
                    .expect("unread");
                assert_eq!(page.items.len(), 50);
            });
        });
        group.bench_function("history_page_50", |bench| {
            bench.to_async(&runtime).iter(|| async {
                let page = PageRequest {
                    limit: Some(50),
                    cursor: None,
                };
                let page = stores
                    .messages
                    .history(&chat, Order::Desc, page)
                    .await
                    .expect("history");
                assert_eq!(page.items.len(), 50);
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
        runtime.block_on(clean_up(target));
    }
}

criterion_group!(benches, store_benchmarks);
criterion_main!(benches);
