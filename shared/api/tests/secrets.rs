//! Configuration from AWS Secrets Manager, against a local emulator (moto_server), through the real SDK.
//! One test in this binary: it sets process environment variables.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2ee_api::config::{Config, ConfigError};
use e2ee_test_kit::env::missing;
use e2ee_test_kit::free_port;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_moto() -> Option<(Moto, u16)> {
    let port = free_port();
    let child = match Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) => {
            let what = format!("moto_server cannot start ({error}; pip install 'moto[server]')");
            return missing(&what, "the Secrets Manager test");
        }
    };
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((moto, port))
}

fn set(name: &str, value: &str) {
    // SAFETY: this test binary has a single test, and it runs on a current-thread runtime; nothing else
    // reads the environment concurrently.
    unsafe { std::env::set_var(name, value) }
}

#[tokio::test]
async fn configuration_comes_from_the_named_secret() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    set("AWS_REGION", "us-east-1");
    set("AWS_ACCESS_KEY_ID", "testing");
    set("AWS_SECRET_ACCESS_KEY", "testing");
    set(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        &format!("http://127.0.0.1:{port}"),
    );
    set(
        "SQLITE_PATH",
        dir.path().join("e2ee.sqlite3").to_str().unwrap(),
    );
    for name in ["JWT_SECRET", "MYSQL_URL", "MONGODB_URI"] {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var(name) }
    }

    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let jwt_secret = "a-jwt-secret-from-secrets-manager-0123456789";
    let secrets = [
        (
            "e2ee/good",
            format!(r#"{{"jwtSecret":"{jwt_secret}","mongodbDatabase":"chat"}}"#),
        ),
        (
            "e2ee/not-json",
            "jwtSecret=hunter2-hunter2-hunter2-hunter2-hunter2".to_owned(),
        ),
        (
            "e2ee/missing-field",
            r#"{"mysqlUrl":"mysql://u:p4ssw0rd@db/e2ee"}"#.to_owned(),
        ),
        (
            "e2ee/short-secret",
            r#"{"jwtSecret":"too-short"}"#.to_owned(),
        ),
    ];
    for (name, value) in &secrets {
        client
            .create_secret()
            .name(*name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    set("APP_SECRET_ID", "e2ee/good");
    let config = Config::load().await.unwrap();
    assert_eq!(config.jwt.secret.as_slice(), jwt_secret.as_bytes());
    assert_eq!(config.storage.mongodb_database.as_deref(), Some("chat"));
    assert!(
        !format!("{config:?}").contains(jwt_secret),
        "Debug must redact the secret"
    );
    // The whole cold start works from it.
    let state = e2ee_api::AppState::from_config(&config).await.unwrap();
    let issued = state.tokens.issue("u_someone").unwrap();
    assert_eq!(
        state.tokens.verify(&issued.token).unwrap().user_id,
        "u_someone"
    );

    // Malformed secrets fail the init with a message that names the problem but not the content.
    for (name, leak) in [
        ("e2ee/not-json", "hunter2"),
        ("e2ee/missing-field", "p4ssw0rd"),
    ] {
        set("APP_SECRET_ID", name);
        let error = Config::load().await.unwrap_err();
        assert!(
            matches!(error, ConfigError::Secret { .. }),
            "{name}: {error}"
        );
        assert!(!error.to_string().contains(leak), "{name}: {error}");
    }
    set("APP_SECRET_ID", "e2ee/short-secret");
    assert!(matches!(
        Config::load().await.unwrap_err(),
        ConfigError::Invalid(_)
    ));
    set("APP_SECRET_ID", "e2ee/does-not-exist");
    assert!(matches!(
        Config::load().await.unwrap_err(),
        ConfigError::Secret { .. }
    ));

    // An unreachable Secrets Manager fails within the configured timeouts, not after minutes.
    set(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    set("APP_SECRET_ID", "e2ee/good");
    let started = Instant::now();
    assert!(matches!(
        Config::load().await.unwrap_err(),
        ConfigError::Secret { .. }
    ));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
}
