//! Backend-specific guarantees that the generic contract cannot observe: storage formats, indexes, migrations
//! and composition.

use e2ee_storage::{Order, PageRequest, StorageConfig, Stores};
use mongodb::bson::{Bson, Document, doc};
use sqlx::Connection;

use crate::support::{
    Backend, Namespace, cleaning_up, concurrently, create_user, new_message, open, public_key,
};

async fn raw_mongo_database(config: &StorageConfig) -> mongodb::Database {
    let client = mongodb::Client::with_uri_str(config.mongodb_uri.as_deref().expect("mongodb uri"))
        .await
        .expect("raw client");
    client.database(config.mongodb_database.as_deref().expect("database"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_stores_envelopes_as_documents_and_times_as_dates() {
    let Some(namespace) = Namespace::create(Backend::MongoDb).await else {
        return;
    };
    let config = namespace.config.clone();
    cleaning_up(vec![namespace], async move {
        let stores = open(&config).await;
        let message = stores
            .messages
            .insert(new_message("u_a", "u_b", "format"))
            .await
            .expect("insert")
            .message()
            .clone();
        stores
            .keys
            .put_active(public_key("u_a", "format"))
            .await
            .expect("put key");

        let database = raw_mongo_database(&config).await;
        let stored: Document = database
            .collection::<Document>("messages")
            .find_one(doc! { "_id": &message.id })
            .await
            .expect("raw find")
            .expect("message document");
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

        let key: Document = database
            .collection::<Document>("public_keys")
            .find_one(doc! { "user_id": "u_a" })
            .await
            .expect("raw find")
            .expect("key document");
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
                "key_id",
                "public_key_pem",
                "status",
                "user_id"
            ],
            "no field beyond the public record (never any private key material)"
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
    let Some(namespace) = Namespace::create(Backend::MySql).await else {
        return;
    };
    let config = namespace.config.clone();
    cleaning_up(vec![namespace], async move {
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
        assert_eq!(applied, 1, "the migration is recorded once");
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
        let history = stores
            .messages
            .history(&message.chat_id, Order::Asc, PageRequest::default())
            .await
            .expect("history");
        assert_eq!(history.items, vec![message]);

        drop(stores);
    })
    .await;
}
