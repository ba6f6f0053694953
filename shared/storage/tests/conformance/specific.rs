//! Backend-specific guarantees that the generic contract cannot observe: storage formats, indexes, migrations
//! and composition.

use std::path::Path;

use e2ee_protocol::chat_id;
use e2ee_storage::{KeyEndorsement, KeyStatus, Order, PageRequest, StorageConfig, Stores};
use mongodb::bson::{Bson, Document, doc};
use sqlx::Connection;

use crate::support::{
    Backend, Namespace, active_key_id, cleaning_up, concurrently, create_user, get_message,
    history, hit, in_namespace, list_keys, new_message, new_user, open, participants, public_key,
    put_active, put_pending,
};

/// How many migration files the crate ships for `dialect` (`mysql`, `sqlite`): every one must be applied.
fn migration_count(dialect: &str) -> i64 {
    let directory = format!("{}/migrations/{dialect}", env!("CARGO_MANIFEST_DIR"));
    let files = std::fs::read_dir(directory).expect("migrations directory");
    let sql = files
        .filter_map(Result::ok)
        .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "sql"))
        .count();
    i64::try_from(sql).expect("a few migrations")
}

async fn raw_mongo_database(config: &StorageConfig) -> mongodb::Database {
    let client = mongodb::Client::with_uri_str(config.mongodb_uri.as_deref().expect("mongodb uri"))
        .await
        .expect("raw client");
    client.database(config.mongodb_database.as_deref().expect("database"))
}

/// The one document of `collection` that matches `filter`, read past the store.
async fn raw_find_one(
    database: &mongodb::Database,
    collection: &str,
    filter: Document,
) -> Document {
    let found = database
        .collection::<Document>(collection)
        .find_one(filter)
        .await
        .expect("raw find");
    found.unwrap_or_else(|| panic!("no document in {collection}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_stores_envelopes_as_documents_and_times_as_dates() {
    in_namespace(Backend::MongoDb, |config| async move {
        let stores = open(&config).await;
        let message = stores
            .messages
            .insert(new_message("u_a", "u_b", "format"))
            .await
            .expect("insert")
            .message()
            .clone();
        put_active(&stores, "u_a", "format").await;

        let database = raw_mongo_database(&config).await;
        let stored = raw_find_one(&database, "messages", doc! { "_id": &message.id }).await;
        assert!(
            matches!(stored.get("envelope"), Some(Bson::Document(_))),
            "{stored:?}"
        );
        assert!(
            matches!(stored.get("created_at"), Some(Bson::DateTime(_))),
            "{stored:?}"
        );
        assert_eq!(stored.get("read_at"), Some(&Bson::Null));
        assert_eq!(
            stored.get_str("chat_id").ok(),
            Some(message.chat_id.as_str())
        );

        let chat = raw_find_one(&database, "chats", doc! { "chat_id": &message.chat_id }).await;
        assert_eq!(chat.get_str("user_low").ok(), Some("u_a"));
        assert_eq!(chat.get_str("user_high").ok(), Some("u_b"));
        assert!(
            matches!(chat.get("created_at"), Some(Bson::DateTime(_))),
            "{chat:?}"
        );

        let key = raw_find_one(&database, "public_keys", doc! { "user_id": "u_a" }).await;
        assert!(
            matches!(key.get("created_at"), Some(Bson::DateTime(_))),
            "{key:?}"
        );
        let mut fields: Vec<&str> = key.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "_id",
                "bits",
                "created_at",
                "endorsement",
                "key_id",
                "public_key_pem",
                "retired_at",
                "revoked_at",
                "status",
                "user_id"
            ],
            "no field beyond the public record (never any private key material)"
        );
        assert_eq!(key.get("endorsement"), Some(&Bson::Null));
        // An endorsement is a subdocument: the endorsing key id, a date and the signature as binary data.
        let mut endorsed = public_key("u_e", "endorsed");
        endorsed.endorsement = Some(KeyEndorsement {
            key_id: "ab".repeat(32),
            created_at: 1_764_145_653_000,
            signature: vec![7; 256],
        });
        stores
            .keys
            .put_active(endorsed)
            .await
            .expect("put endorsed");
        let key = raw_find_one(&database, "public_keys", doc! { "user_id": "u_e" }).await;
        let endorsement = key.get_document("endorsement").expect("a subdocument");
        assert_eq!(
            endorsement.get_str("key_id").ok(),
            Some("ab".repeat(32).as_str())
        );
        assert!(
            matches!(endorsement.get("created_at"), Some(Bson::DateTime(_))),
            "{endorsement:?}"
        );
        assert_eq!(
            endorsement.get_binary_generic("signature").ok(),
            Some(&vec![7; 256])
        );

        for (collection, unique, plain) in [
            (
                "public_keys",
                vec!["user_id_1_key_id_1"],
                vec!["user_id_1_status_1"],
            ),
            (
                "messages",
                vec!["sender_id_1_client_message_id_1"],
                vec![
                    "chat_id_1_created_at_1__id_1",
                    "receiver_id_1_read_at_1_created_at_1",
                ],
            ),
            ("chats", vec!["chat_id_1"], vec![]),
        ] {
            let indexes: Vec<_> = {
                use futures_util::TryStreamExt;
                database
                    .collection::<Document>(collection)
                    .list_indexes()
                    .await
                    .expect("list indexes")
                    .try_collect()
                    .await
                    .expect("indexes")
            };
            let find = |name: &str| {
                indexes
                    .iter()
                    .find(|index| {
                        index.options.as_ref().and_then(|o| o.name.as_deref()) == Some(name)
                    })
                    .unwrap_or_else(|| panic!("index {name} missing on {collection}: {indexes:?}"))
            };
            for name in unique {
                assert_eq!(
                    find(name).options.as_ref().and_then(|o| o.unique),
                    Some(true),
                    "{name} is unique"
                );
            }
            for name in plain {
                assert_ne!(
                    find(name).options.as_ref().and_then(|o| o.unique),
                    Some(true),
                    "{name} is not unique"
                );
            }
        }

        // Opening again (another cold start) re-creates the same indexes without error.
        drop(open(&config).await);
        drop(stores);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_migrations_are_safe_across_concurrent_cold_starts() {
    in_namespace(Backend::MySql, |config| async move {
        let results = concurrently(4, |_| {
            let config = config.clone();
            async move { Stores::from_config(&config).await.map(|_| ()) }
        })
        .await;
        for result in results {
            result.expect("every cold start succeeds");
        }
        let stores = open(&config).await;
        create_user(&stores, "after-migrations").await;

        let url = config.mysql_url.clone().expect("mysql url");
        let mut connection = sqlx::MySqlConnection::connect(&url).await.expect("connect");
        let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&mut connection)
            .await
            .expect("migration bookkeeping");
        assert_eq!(
            applied,
            migration_count("mysql"),
            "each migration is recorded once"
        );
        connection.close().await.ok();
        drop(stores);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_cold_starts_share_one_file() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let config = StorageConfig {
        // The nested directory does not exist yet: opening creates it.
        sqlite_path: Some(directory.path().join("a").join("b").join("e2ee.sqlite3")),
        ..StorageConfig::default()
    };
    let opened = concurrently(4, |_| {
        let config = config.clone();
        async move { Stores::from_config(&config).await }
    })
    .await;
    let stores: Vec<Stores> = opened
        .into_iter()
        .map(|r| r.expect("every cold start succeeds"))
        .collect();
    // Separate pools ("processes") see each other's writes.
    let user = create_user(&stores[0], "shared").await;
    assert_eq!(
        stores[3].users.get(&user.id).await.expect("get"),
        Some(user)
    );
    let journal_mode: (String,) = {
        let path = config.sqlite_path.as_ref().expect("path");
        let mut connection =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("connect");
        sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut connection)
            .await
            .expect("pragma")
    };
    assert_eq!(journal_mode.0, "wal");
}

/// Production composition: users in MySQL, keys and messages in MongoDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composition_puts_users_in_mysql_and_messages_in_mongodb() {
    let Some(mysql) = Namespace::create(Backend::MySql).await else {
        return;
    };
    let Some(mongo) = Namespace::create(Backend::MongoDb).await else {
        mysql.clean_up().await;
        return;
    };
    let config = StorageConfig {
        mysql_url: mysql.config.mysql_url.clone(),
        mongodb_uri: mongo.config.mongodb_uri.clone(),
        mongodb_database: mongo.config.mongodb_database.clone(),
        sqlite_path: None,
    };
    cleaning_up(vec![mysql, mongo], async move {
        let stores = open(&config).await;
        let user = create_user(&stores, "composed").await;
        let message = stores
            .messages
            .insert(new_message(&user.id, "u_b", "composed"))
            .await
            .expect("insert")
            .message()
            .clone();

        let mut connection =
            sqlx::MySqlConnection::connect(config.mysql_url.as_deref().expect("url"))
                .await
                .expect("connect");
        let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE id = ?")
            .bind(&user.id)
            .fetch_one(&mut connection)
            .await
            .expect("count users");
        let (mysql_messages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages")
            .fetch_one(&mut connection)
            .await
            .expect("count messages");
        connection.close().await.ok();
        assert_eq!(
            (users, mysql_messages),
            (1, 0),
            "the user is in MySQL, the message is not"
        );

        let in_mongo = raw_mongo_database(&config)
            .await
            .collection::<Document>("messages")
            .count_documents(doc! { "_id": &message.id })
            .await
            .expect("count");
        assert_eq!(in_mongo, 1, "the message is in MongoDB");
        let history = history(
            &stores,
            &message.chat_id,
            Order::Asc,
            PageRequest::default(),
        )
        .await;
        assert_eq!(history.items, vec![message]);

        drop(stores);
    })
    .await;
}

/// The values of `results`, which must all be `Ok` (else a panic naming `what` and the index).
fn all_ok<T, E: std::fmt::Debug>(results: Vec<Result<T, E>>, what: &str) -> Vec<T> {
    let ok = |(index, result): (usize, Result<T, E>)| {
        result.unwrap_or_else(|error| panic!("{what} {index}: {error:?}"))
    };
    results.into_iter().enumerate().map(ok).collect()
}

/// 16 "processes" (separate pools) open one new file at the same moment, 50 times over; every one of them must
/// open, write and read. Before the WAL switch and the migrations were retried under their own locking, about
/// one round in ten failed with `database is locked`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_many_concurrent_cold_starts_of_a_new_file() {
    const ROUNDS: usize = 50;
    const OPENERS: usize = 16;
    for round in 0..ROUNDS {
        let directory = tempfile::tempdir().expect("temporary directory");
        let config = StorageConfig {
            sqlite_path: Some(directory.path().join("new").join("e2ee.sqlite3")),
            ..StorageConfig::default()
        };
        let opened = concurrently(OPENERS, |_| {
            let config = config.clone();
            async move { Stores::from_config(&config).await }
        })
        .await;
        let stores: Vec<Stores> = all_ok(opened, &format!("round {round}, opener"));

        // Every store writes at once (a user, and a message: a chat record and the message) ...
        let written = concurrently(OPENERS, |index| {
            let stores = stores[index].clone();
            async move {
                let user = stores
                    .users
                    .create(new_user(&format!("user{index}")))
                    .await?;
                let message = stores
                    .messages
                    .insert(new_message(&user.id, "u_reader", "first"))
                    .await?;
                Ok::<_, e2ee_storage::StoreError>((user, message.message().clone()))
            }
        })
        .await;
        let written = all_ok(written, &format!("round {round}, writer"));
        // ... and every store reads what another one wrote.
        for (index, (user, message)) in written.iter().enumerate() {
            let reader = &stores[(index + 1) % OPENERS];
            assert_eq!(
                reader
                    .users
                    .get(&user.id)
                    .await
                    .expect("read user")
                    .as_ref(),
                Some(user),
                "round {round}"
            );
            assert_eq!(
                get_message(reader, &message.id).await.as_ref(),
                Some(message),
                "round {round}"
            );
        }
        drop(stores);
    }
}

/// A raw connection to the SQL database of a namespace, for checks the contract cannot observe.
enum RawSql {
    Sqlite(sqlx::SqliteConnection),
    MySql(sqlx::MySqlConnection),
}

impl RawSql {
    async fn connect(config: &StorageConfig) -> RawSql {
        match &config.mysql_url {
            Some(url) => RawSql::MySql(sqlx::MySqlConnection::connect(url).await.expect("connect")),
            None => {
                let path = config.sqlite_path.as_ref().expect("sqlite path");
                if let Some(directory) = path.parent() {
                    std::fs::create_dir_all(directory).expect("create the directory");
                }
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true);
                RawSql::Sqlite(
                    sqlx::SqliteConnection::connect_with(&options)
                        .await
                        .expect("connect"),
                )
            }
        }
    }

    async fn execute(&mut self, sql: &'static str) -> Result<u64, sqlx::Error> {
        match self {
            RawSql::Sqlite(connection) => sqlx::query(sql)
                .execute(connection)
                .await
                .map(|r| r.rows_affected()),
            RawSql::MySql(connection) => sqlx::query(sql)
                .execute(connection)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    async fn count(&mut self, sql: &'static str) -> i64 {
        let (count,): (i64,) = match self {
            RawSql::Sqlite(connection) => sqlx::query_as(sql).fetch_one(connection).await,
            RawSql::MySql(connection) => sqlx::query_as(sql).fetch_one(connection).await,
        }
        .expect("count");
        count
    }

    async fn chats(&mut self) -> Vec<(String, String, String, i64)> {
        const SQL: &str =
            "SELECT chat_id, user_low, user_high, created_at FROM chats ORDER BY chat_id";
        match self {
            RawSql::Sqlite(connection) => sqlx::query_as(SQL).fetch_all(connection).await,
            RawSql::MySql(connection) => sqlx::query_as(SQL).fetch_all(connection).await,
        }
        .expect("chats")
    }

    /// Applies only the first migration, as the previous version of the crate did.
    async fn migrate_to_first_version(&mut self) {
        let directory = match self {
            RawSql::Sqlite(_) => "migrations/sqlite",
            RawSql::MySql(_) => "migrations/mysql",
        };
        let migrator =
            sqlx::migrate::Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(directory))
                .await
                .expect("read migrations");
        match self {
            RawSql::Sqlite(connection) => migrator.run_to(1, connection).await,
            RawSql::MySql(connection) => migrator.run_to(1, connection).await,
        }
        .expect("apply the first migration");
    }
}

const LEGACY_USER: &str = "u_11111111111111111111111111111111";

/// Data written by the previous version (schema 0001 only) survives the new migration: keys keep their statuses
/// (no times: they were not recorded), chats are backfilled from the messages, and the new status is allowed
/// while the constraint still refuses anything else.
async fn legacy_data_survives_the_migration(backend: Backend) {
    in_namespace(backend, |config| async move {
        let mut raw = RawSql::connect(&config).await;
        raw.migrate_to_first_version().await;
        for statement in [
            "INSERT INTO public_keys (user_id, key_id, public_key_pem, bits, created_at, status) VALUES \
             ('u_11111111111111111111111111111111', \
              '1111111111111111111111111111111111111111111111111111111111111111', \
              '-----BEGIN PUBLIC KEY-----\nMIIBold\n-----END PUBLIC KEY-----\n', 2048, 1000, 'retired'), \
             ('u_11111111111111111111111111111111', \
              '2222222222222222222222222222222222222222222222222222222222222222', \
              '-----BEGIN PUBLIC KEY-----\nMIIBnew\n-----END PUBLIC KEY-----\n', 4096, 2000, 'active'), \
             ('u_11111111111111111111111111111111', \
              '3333333333333333333333333333333333333333333333333333333333333333', \
              '-----BEGIN PUBLIC KEY-----\nMIIBbad\n-----END PUBLIC KEY-----\n', 2048, 1500, 'revoked')",
            "INSERT INTO messages \
             (id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at) VALUES \
             ('m_00000000000000000000000000000001', \
              'c_3d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f', \
              'u_bbbb', 'u_aaaa', 'one', '{\"v\":1}', 3000, NULL), \
             ('m_00000000000000000000000000000002', \
              'c_3d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f', \
              'u_aaaa', 'u_bbbb', 'two', '{\"v\":1}', 3500, 3600), \
             ('m_00000000000000000000000000000003', \
              'c_9d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f', \
              'u_a', 'u_Z', 'three', '{\"v\":1}', 4000, NULL)",
        ] {
            raw.execute(statement).await.expect("legacy rows");
        }

        let stores = open(&config).await;
        let dialect = match raw {
            RawSql::Sqlite(_) => "sqlite",
            RawSql::MySql(_) => "mysql",
        };
        assert_eq!(
            raw.count("SELECT COUNT(*) FROM _sqlx_migrations").await,
            migration_count(dialect)
        );

        let keys = list_keys(&stores, LEGACY_USER).await;
        let summary: Vec<_> = keys
            .iter()
            .map(|k| (&k.key_id[..1], k.status, k.bits, k.created_at, k.retired_at, k.revoked_at))
            .collect();
        assert_eq!(
            summary,
            [
                ("2", KeyStatus::Active, 4096, 2000, None, None),
                ("3", KeyStatus::Revoked, 2048, 1500, None, None),
                // Retired when the next key (the later revoked one) was registered.
                ("1", KeyStatus::Retired, 2048, 1000, Some(1500), None),
            ]
        );
        assert!(keys[0].public_key_pem.contains("MIIBnew"));
        assert!(
            keys.iter().all(|k| k.endorsement.is_none()),
            "keys from before endorsements were stored have none"
        );
        assert_eq!(
            active_key_id(&stores, LEGACY_USER).await,
            Some("2".repeat(64))
        );

        // Backfilled chats: bytewise sorted participants, the time of the first message.
        assert_eq!(
            raw.chats().await,
            [
                (
                    "c_3d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f".to_owned(),
                    "u_aaaa".to_owned(),
                    "u_bbbb".to_owned(),
                    3000
                ),
                (
                    "c_9d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f".to_owned(),
                    "u_Z".to_owned(),
                    "u_a".to_owned(),
                    4000
                ),
            ]
        );
        assert_eq!(
            participants(&stores, "c_3d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f"
                ).await,
            Some(["u_aaaa".to_owned(), "u_bbbb".to_owned()])
        );
        let history = history(&stores, "c_3d3f5b1b9c0d9d5e1c1a4b0b2f6c5f5e2f7f4f0b0a9b8c7d6e5f4a3b2c1d0e0f", Order::Asc, PageRequest::default()).await;
        assert_eq!(history.items.len(), 2);
        assert_eq!(history.items[1].read_at, Some(3600));

        // The new status is accepted, the constraint still refuses others, and the new store works.
        let pending = put_pending(&stores, LEGACY_USER, "pending").await;
        assert_eq!(pending.status, KeyStatus::Pending);
        assert!(
            raw.execute("UPDATE public_keys SET status = 'bogus'")
                .await
                .is_err(),
            "the status constraint is still in place"
        );
        assert_eq!(hit(&stores, "after-migration", 0).await, 1);
        drop(stores);
    })
    .await;
}

per_backend!(legacy_data_survives_the_migration:
    sqlite_legacy_data_survives_the_migration => Sqlite,
    mysql_legacy_data_survives_the_migration => MySql,
);

async fn chat_record_count(config: &StorageConfig) -> u64 {
    if config.mongodb_uri.is_some() {
        return raw_mongo_database(config)
            .await
            .collection::<Document>("chats")
            .count_documents(doc! {})
            .await
            .expect("count");
    }
    let count = RawSql::connect(config)
        .await
        .count("SELECT COUNT(*) FROM chats")
        .await;
    u64::try_from(count).expect("a count")
}

async fn delete_chat_records(config: &StorageConfig) {
    if config.mongodb_uri.is_some() {
        raw_mongo_database(config)
            .await
            .collection::<Document>("chats")
            .delete_many(doc! {})
            .await
            .expect("delete");
        return;
    }
    RawSql::connect(config)
        .await
        .execute("DELETE FROM chats")
        .await
        .expect("delete");
}

/// Concurrent first messages of one chat leave exactly one chat record; a message whose chat was never
/// recorded (MongoDB data from before chats existed, or an older instance during a rolling deploy) still
/// names its participants, and the record is written on that first lookup.
async fn chat_records(backend: Backend) {
    in_namespace(backend, |config| async move {
        let stores = open(&config).await;
        let results = concurrently(16, |index| {
            let messages = stores.messages.clone();
            async move {
                messages
                    .insert(new_message("u_a", "u_b", &format!("first-{index}")))
                    .await
            }
        })
        .await;
        for result in results {
            result.expect("insert");
        }
        assert_eq!(chat_record_count(&config).await, 1);

        delete_chat_records(&config).await;
        assert_eq!(chat_record_count(&config).await, 0);
        let chat = chat_id("u_b", "u_a");
        assert_eq!(
            participants(&stores, &chat).await,
            Some(["u_a".to_owned(), "u_b".to_owned()])
        );
        assert_eq!(chat_record_count(&config).await, 1, "recorded on lookup");
        assert_eq!(
            participants(&stores, &chat).await,
            Some(["u_a".to_owned(), "u_b".to_owned()])
        );
        assert_eq!(participants(&stores, &chat_id("u_a", "u_c")).await, None);
        assert_eq!(chat_record_count(&config).await, 1);
        drop(stores);
    })
    .await;
}

per_backend!(chat_records:
    sqlite_chat_records => Sqlite,
    mysql_chat_records => MySql,
    mongodb_chat_records => MongoDb,
);
