//! Fixtures: a fresh, isolated `Stores` per test and backend, cleaned up afterwards, plus test data builders.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use e2ee_storage::{
    Failures, Inserted, Message, NewMessage, NewPublicKey, NewUser, Order, Page, PageRequest,
    PublicKeyRecord, StorageConfig, StoreError, StoreResult, Stores, User,
};
use futures_util::FutureExt;
use sha2::{Digest, Sha256};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// Everything in a temporary SQLite file.
    Sqlite,
    /// Everything in a fresh MySQL/MariaDB database on the `MYSQL_URL` server.
    MySql,
    /// Keys and messages in a fresh database on the `MONGODB_URI` server; users in a temporary SQLite file.
    MongoDb,
}

/// The value of `name`, or `None` (test skipped) when unset outside CI. With `CI=true` a missing variable is a
/// failure: CI must exercise every backend.
pub fn required_env(name: &str) -> Option<String> {
    match std::env::var(name).ok().filter(|value| !value.is_empty()) {
        Some(value) => Some(value),
        None if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "{name} must be set when CI=true (source scripts/services.sh to start the test databases)"
            )
        }
        None => {
            eprintln!("skipped: {name} is not set");
            None
        }
    }
}

pub fn random_suffix() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// `url` with its database path replaced by `/database` (query string kept).
pub fn url_with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let (location, query) = match rest.split_once('?') {
        Some((location, query)) => (location, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = location.split('/').next().unwrap_or(location);
    format!("{scheme}://{authority}/{database}{query}")
}

/// `url` with its (single) host:port replaced by `host_port`, credentials, path and query kept.
pub fn url_with_host(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let userinfo = authority
        .rfind('@')
        .map(|at| &authority[..=at])
        .unwrap_or("");
    format!("{scheme}://{userinfo}{host_port}{tail}")
}

enum Cleanup {
    Nothing,
    DropMySqlDatabase {
        server_url: String,
        database: String,
    },
    DropMongoDatabase {
        uri: String,
        database: String,
    },
}

/// One isolated storage namespace for one test.
pub struct Namespace {
    pub config: StorageConfig,
    cleanup: Cleanup,
    _directory: tempfile::TempDir,
}

impl Namespace {
    /// `None` when the backend is not configured outside CI (the test is then skipped).
    pub async fn create(backend: Backend) -> Option<Namespace> {
        let directory = tempfile::tempdir().expect("temporary directory");
        let sqlite_path: PathBuf = directory.path().join("data").join("e2ee.sqlite3");
        let mut config = StorageConfig {
            sqlite_path: Some(sqlite_path),
            ..StorageConfig::default()
        };
        let cleanup = match backend {
            Backend::Sqlite => Cleanup::Nothing,
            Backend::MySql => {
                let server_url = required_env("MYSQL_URL")?;
                let database = format!("e2ee_test_{}", random_suffix());
                let mut connection = sqlx::MySqlConnection::connect(&server_url)
                    .await
                    .expect("connect to MYSQL_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{database}`")))
                    .execute(&mut connection)
                    .await
                    .expect("create the test database");
                connection.close().await.ok();
                config.mysql_url = Some(url_with_database(&server_url, &database));
                Cleanup::DropMySqlDatabase {
                    server_url,
                    database,
                }
            }
            Backend::MongoDb => {
                let uri = required_env("MONGODB_URI")?;
                let database = format!("e2ee_test_{}", random_suffix());
                config.mongodb_uri = Some(uri.clone());
                config.mongodb_database = Some(database.clone());
                Cleanup::DropMongoDatabase { uri, database }
            }
        };
        Some(Namespace {
            config,
            cleanup,
            _directory: directory,
        })
    }

    pub async fn clean_up(self) {
        match &self.cleanup {
            Cleanup::Nothing => {}
            Cleanup::DropMySqlDatabase {
                server_url,
                database,
            } => {
                let mut connection = sqlx::MySqlConnection::connect(server_url)
                    .await
                    .expect("connect to MYSQL_URL for cleanup");
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS `{database}`"
                )))
                .execute(&mut connection)
                .await
                .expect("drop the test database");
                connection.close().await.ok();
            }
            Cleanup::DropMongoDatabase { uri, database } => {
                let client = mongodb::Client::with_uri_str(uri)
                    .await
                    .expect("connect to MONGODB_URI for cleanup");
                client
                    .database(database)
                    .drop()
                    .await
                    .expect("drop the test database");
            }
        }
    }
}

pub async fn open(config: &StorageConfig) -> Stores {
    Stores::from_config(config).await.expect("open the stores")
}

/// Runs `body`, then cleans up `namespaces` even if `body` panicked.
pub async fn cleaning_up<Fut: Future<Output = ()>>(namespaces: Vec<Namespace>, body: Fut) {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    for namespace in namespaces {
        namespace.clean_up().await;
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` with the configuration of a fresh namespace of `backend`, and cleans up even if it panics.
/// Nothing runs when the backend is not configured (outside CI).
pub async fn in_namespace<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(StorageConfig) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(namespace) = Namespace::create(backend).await else {
        return;
    };
    let config = namespace.config.clone();
    cleaning_up(vec![namespace], body(config)).await;
}

/// Runs one conformance case against `backend` in a fresh namespace, and cleans up even if the case panics.
pub async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Stores) -> Fut,
    Fut: Future<Output = ()>,
{
    in_namespace(
        backend,
        |config| async move { case(open(&config).await).await },
    )
    .await;
}

/// Runs `count` copies of an operation as separate tasks (truly in parallel on the multi-thread runtime).
pub async fn concurrently<T, F, Fut>(count: usize, make: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..count).map(|index| tokio::spawn(make(index))).collect();
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(handle.await.expect("task panicked"));
    }
    results
}

// ---- test data ----

pub const PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA";

pub fn new_user(username: &str) -> NewUser {
    NewUser {
        username: username.to_owned(),
        password_hash: PASSWORD_HASH.to_owned(),
        display_name: Some(format!("{username} (display)")),
    }
}

pub async fn create_user(stores: &Stores, username: &str) -> User {
    stores
        .users
        .create(new_user(username))
        .await
        .expect("create user")
}

/// A public key record whose id is derived from `seed` (the PEM body is not a real key: the store does not
/// parse keys, the crypto crate does).
pub fn public_key(user_id: &str, seed: &str) -> NewPublicKey {
    let key_id = hex::encode(Sha256::digest(seed.as_bytes()));
    NewPublicKey {
        user_id: user_id.to_owned(),
        public_key_pem: format!(
            "-----BEGIN PUBLIC KEY-----\nMIIB{key_id}\n-----END PUBLIC KEY-----\n"
        ),
        key_id,
        bits: 2048,
        endorsement: None,
    }
}

/// An envelope-shaped JSON document (docs/envelope.md); the store treats it as opaque structured data.
pub fn envelope(sender_id: &str, receiver_id: &str, client_message_id: &str) -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "keyAlg": "RSA-OAEP-256",
        "contentAlg": "A256GCM",
        "senderId": sender_id,
        "messageId": client_message_id,
        "createdAt": 1_764_145_653_000_i64,
        "recipients": [
            { "userId": receiver_id, "keyId": "a".repeat(64), "wrappedKey": "AAAA" },
            { "userId": sender_id, "keyId": "b".repeat(64), "wrappedKey": "BBBB" }
        ],
        "nonce": "AAAAAAAAAAAAAAAA",
        "ciphertext": "Y2lwaGVydGV4dCB3aXRoIHRhZw==",
        "signature": { "alg": "PS256", "keyId": "b".repeat(64), "value": "c2ln" }
    })
}

pub fn new_message(sender_id: &str, receiver_id: &str, client_message_id: &str) -> NewMessage {
    NewMessage {
        sender_id: sender_id.to_owned(),
        receiver_id: receiver_id.to_owned(),
        client_message_id: client_message_id.to_owned(),
        envelope: envelope(sender_id, receiver_id, client_message_id),
    }
}

// ---- assertions and short forms of store calls that must succeed ----

/// `prefix` + 32 lowercase hex characters: the shape of a server-assigned id.
pub fn assert_random_id(id: &str, prefix: &str) {
    assert!(id.starts_with(prefix) && id.len() == 34, "id shape: {id}");
    assert!(id[2..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
}

/// `result` is `Invalid` (the field does not matter here).
pub fn assert_invalid<T: std::fmt::Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Invalid { .. })),
        "{what}: expected Invalid, got {result:?}"
    );
}

pub async fn put_active(stores: &Stores, user_id: &str, seed: &str) -> PublicKeyRecord {
    let key = public_key(user_id, seed);
    stores.keys.put_active(key).await.expect("put active")
}

pub async fn put_pending(stores: &Stores, user_id: &str, seed: &str) -> PublicKeyRecord {
    let key = public_key(user_id, seed);
    stores.keys.put_pending(key).await.expect("put pending")
}

pub async fn active_key(stores: &Stores, user_id: &str) -> Option<PublicKeyRecord> {
    stores.keys.active_for_user(user_id).await.expect("active")
}

pub async fn active_key_id(stores: &Stores, user_id: &str) -> Option<String> {
    active_key(stores, user_id).await.map(|k| k.key_id)
}

pub async fn get_key(stores: &Stores, user_id: &str, key_id: &str) -> Option<PublicKeyRecord> {
    stores.keys.get(user_id, key_id).await.expect("get key")
}

pub async fn list_keys(stores: &Stores, user_id: &str) -> Vec<PublicKeyRecord> {
    stores.keys.list_for_user(user_id).await.expect("list keys")
}

pub async fn revoke(stores: &Stores, user_id: &str, key_id: &str) -> PublicKeyRecord {
    stores.keys.revoke(user_id, key_id).await.expect("revoke")
}

/// Sends a new message (it must be created, not a retry).
pub async fn send(
    stores: &Stores,
    sender: &str,
    receiver: &str,
    client_message_id: &str,
) -> Message {
    let message = new_message(sender, receiver, client_message_id);
    created(stores.messages.insert(message).await)
}

/// The message of an insert that must have created one.
pub fn created(result: StoreResult<Inserted>) -> Message {
    match result {
        Ok(Inserted::Created(message)) => message,
        other => panic!("expected a new message, got {other:?}"),
    }
}

pub async fn get_message(stores: &Stores, id: &str) -> Option<Message> {
    stores.messages.get(id).await.expect("get message")
}

pub async fn participants(stores: &Stores, chat_id: &str) -> Option<[String; 2]> {
    let participants = stores.messages.chat_participants(chat_id).await;
    participants.expect("chat participants")
}

pub fn page(limit: Option<u32>, cursor: Option<String>) -> PageRequest {
    PageRequest { limit, cursor }
}

pub async fn history(
    stores: &Stores,
    chat_id: &str,
    order: Order,
    request: PageRequest,
) -> Page<Message> {
    let page = stores.messages.history(chat_id, order, request).await;
    page.expect("history")
}

pub async fn unread(stores: &Stores, receiver_id: &str, request: PageRequest) -> Page<Message> {
    let page = stores.messages.unread_for(receiver_id, request).await;
    page.expect("unread")
}

pub fn ids(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.id.as_str()).collect()
}

pub async fn hit(stores: &Stores, key: &str, window_start: i64) -> u64 {
    stores.throttle.hit(key, window_start).await.expect("hit")
}

pub async fn record_failure(stores: &Stores, key: &str, now: i64) -> Failures {
    let failures = stores.throttle.record_failure(key, now).await;
    failures.expect("record failure")
}

pub async fn failures(stores: &Stores, key: &str) -> Option<Failures> {
    stores.throttle.failures(key).await.expect("failures")
}

// ---- a TCP proxy that can be cut, to make a live database "go away" ----

pub struct Proxy {
    pub port: u16,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let connection_tasks = Arc::clone(&tasks);
        let accept_loop = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let forward = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                connection_tasks
                    .lock()
                    .expect("proxy task list")
                    .push(forward.abort_handle());
            }
        });
        tasks
            .lock()
            .expect("proxy task list")
            .push(accept_loop.abort_handle());
        Proxy { port, tasks }
    }

    /// Closes the listening socket and every forwarded connection, like a database that stopped.
    pub async fn stop(&self) {
        for task in self.tasks.lock().expect("proxy task list").drain(..) {
            task.abort();
        }
        // Let the aborted tasks drop their sockets.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `host:port` of the (first) server in a MySQL URL.
pub fn mysql_host_port(url: &str) -> String {
    let options = sqlx::mysql::MySqlConnectOptions::from_str(url).expect("valid MYSQL_URL");
    format!("{}:{}", options.get_host(), options.get_port())
}

/// `host:port` of a single-host `mongodb://` URI, or `None` for SRV or multi-host URIs (no proxy possible).
pub fn mongodb_host_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("mongodb://")?;
    let authority = rest.split(['/', '?']).next()?;
    let hosts = authority.rsplit('@').next()?;
    if hosts.contains(',') {
        return None;
    }
    Some(if hosts.contains(':') {
        hosts.to_owned()
    } else {
        format!("{hosts}:27017")
    })
}

/// A local port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    port
}
