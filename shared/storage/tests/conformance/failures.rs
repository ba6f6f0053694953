//! Failure behaviour: an unreachable, stopped or locked database gives `StoreError::Unavailable` within 5 s
//! (measured only to assert that bound), never a hang or a panic.

use std::future::Future;
use std::time::{Duration, Instant};

use e2ee_storage::{StorageConfig, StoreError, StoreResult, Stores};
use sqlx::Connection;

use crate::support::{
    Backend, Namespace, Proxy, cleaning_up, closed_port, create_user, mongodb_host_port,
    mysql_host_port, new_message, new_user, url_with_host,
};

const BOUND: Duration = Duration::from_secs(5);

/// Runs `operation` and asserts it fails with `Unavailable` within [`BOUND`].
async fn assert_unavailable_within_bound<T: std::fmt::Debug>(
    what: &str,
    operation: impl Future<Output = StoreResult<T>>,
) {
    let started = Instant::now();
    // The outer timeout only keeps a regression from hanging the suite; the assertion below is the bound.
    let result = tokio::time::timeout(BOUND * 3, operation).await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Ok(Err(StoreError::Unavailable(_)))),
        "{what}: expected Unavailable, got {result:?}"
    );
    assert!(
        elapsed <= BOUND,
        "{what}: took {elapsed:?}, more than {BOUND:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unusable_path_is_unavailable() {
    // A path under a regular file can never be created, not even by root.
    let config = StorageConfig {
        sqlite_path: Some("/dev/null/e2ee/e2ee.sqlite3".into()),
        ..StorageConfig::default()
    };
    assert_unavailable_within_bound("open under /dev/null", Stores::from_config(&config)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_is_unavailable() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("e2ee.sqlite3");
    let config = StorageConfig {
        sqlite_path: Some(path.clone()),
        ..StorageConfig::default()
    };
    let stores = Stores::from_config(&config).await.expect("open");
    create_user(&stores, "before").await;

    // Another "process" holds the write lock and never lets go.
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("second connection");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut holder)
        .await
        .expect("lock");

    assert_unavailable_within_bound(
        "create while locked",
        stores.users.create(new_user("during")),
    )
    .await;
    assert_unavailable_within_bound(
        "insert while locked",
        stores.messages.insert(new_message("u_a", "u_b", "locked")),
    )
    .await;

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("unlock");
    create_user(&stores, "after").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_closed_port_is_unavailable() {
    let port = closed_port().await;
    let config = StorageConfig {
        // With MySQL configured, SQLite is not used at all.
        mysql_url: Some(format!("mysql://root@127.0.0.1:{port}/e2ee")),
        ..StorageConfig::default()
    };
    assert_unavailable_within_bound("open at a closed port", Stores::from_config(&config)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_closed_port_is_unavailable() {
    let port = closed_port().await;
    let directory = tempfile::tempdir().expect("temporary directory");
    let config = StorageConfig {
        mongodb_uri: Some(format!("mongodb://127.0.0.1:{port}/")),
        sqlite_path: Some(directory.path().join("e2ee.sqlite3")),
        ..StorageConfig::default()
    };
    assert_unavailable_within_bound("open at a closed port", Stores::from_config(&config)).await;
}

/// Opens the stores through a proxy, checks they work, cuts the proxy and checks every concern fails fast.
async fn database_going_away_is_unavailable(backend: Backend) {
    let Some(namespace) = Namespace::create(backend).await else {
        return;
    };
    let mut config = namespace.config.clone();
    let proxy = match backend {
        Backend::MySql => {
            let url = config.mysql_url.clone().expect("mysql url");
            let proxy = Proxy::start(mysql_host_port(&url)).await;
            config.mysql_url = Some(url_with_host(&url, &format!("127.0.0.1:{}", proxy.port)));
            proxy
        }
        Backend::MongoDb => {
            let uri = config.mongodb_uri.clone().expect("mongodb uri");
            let Some(target) = mongodb_host_port(&uri) else {
                eprintln!("skipped: the proxy test needs a single-host mongodb:// URI");
                namespace.clean_up().await;
                return;
            };
            let proxy = Proxy::start(target).await;
            config.mongodb_uri = Some(url_with_host(&uri, &format!("127.0.0.1:{}", proxy.port)));
            proxy
        }
        Backend::Sqlite => unreachable!("SQLite has no server to lose"),
    };
    cleaning_up(vec![namespace], async move {
        let stores = Stores::from_config(&config)
            .await
            .expect("open through the proxy");
        let sent = stores
            .messages
            .insert(new_message("u_a", "u_b", "before"))
            .await
            .expect("insert while up");
        stores
            .keys
            .active_for_user("u_a")
            .await
            .expect("read while up");

        proxy.stop().await;
        assert_unavailable_within_bound("insert after the database went away", {
            stores.messages.insert(new_message("u_a", "u_b", "after"))
        })
        .await;
        assert_unavailable_within_bound(
            "get after the database went away",
            stores.messages.get(&sent.message().id),
        )
        .await;
        assert_unavailable_within_bound(
            "keys after the database went away",
            stores.keys.list_for_user("u_a"),
        )
        .await;
        if matches!(backend, Backend::MySql) {
            assert_unavailable_within_bound(
                "users after the database went away",
                stores.users.get("u_a"),
            )
            .await;
        }
        drop(stores);
    })
    .await;
}

per_backend!(database_going_away_is_unavailable:
    mysql_going_away_is_unavailable => MySql,
    mongodb_going_away_is_unavailable => MongoDb,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_urls_are_reported_without_echoing_them() {
    let directory = tempfile::tempdir().expect("temporary directory");
    for config in [
        StorageConfig {
            mysql_url: Some("mysql://user:s3cret-password@[not a host".into()),
            ..StorageConfig::default()
        },
        StorageConfig {
            mysql_url: Some("mysql://user:s3cret-password@127.0.0.1:3306".into()),
            ..StorageConfig::default()
        },
        StorageConfig {
            mongodb_uri: Some("mongodb://user:s3cret-password@/nohost?bogusOption=1".into()),
            sqlite_path: Some(directory.path().join("e2ee.sqlite3")),
            ..StorageConfig::default()
        },
    ] {
        let result = Stores::from_config(&config).await;
        let Err(error) = result else {
            panic!("{config:?} should be rejected");
        };
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
        assert!(
            !error.to_string().contains("s3cret"),
            "the error leaks the password: {error}"
        );
    }
}
