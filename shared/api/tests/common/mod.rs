//! In-process harness: real stores, real handlers, requests built like API Gateway delivers them.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use e2ee_api::AppState;
use e2ee_api::config::{Config, JwtSettings, Quotas};
use e2ee_crypto::{KeyOperation, KeySize, KeyStatement, PrivateKey, Recipient, SealParams};
use e2ee_storage::StorageConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use zeroize::Zeroizing;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const ISSUER: &str = "e2ee-api";
pub const AUDIENCE: &str = "e2ee-api";
pub const PASSWORD: &str = "correct horse battery staple";

/// One test's backend: SQLite in a temp dir, or MySQL/MongoDB from the environment.
pub struct Backend {
    pub name: &'static str,
    pub storage: StorageConfig,
    _dir: tempfile::TempDir,
}

fn required(var: &str) -> Option<String> {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(value) => Some(value),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{var} must be set in CI (CI=true)")
        }
        None => {
            eprintln!("note: {var} is not set; skipping that backend");
            None
        }
    }
}

/// SQLite always; MySQL (users, keys and messages) with MYSQL_URL; MongoDB (keys and messages, users on
/// SQLite) with MONGODB_URI. Each gets fresh files or a fresh Mongo database; usernames are unique per test.
pub fn backends() -> Vec<Backend> {
    let sqlite = |dir: &tempfile::TempDir| Some(dir.path().join("e2ee.sqlite3"));
    let mut all = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    all.push(Backend {
        name: "sqlite",
        storage: StorageConfig {
            sqlite_path: sqlite(&dir),
            ..Default::default()
        },
        _dir: dir,
    });
    if let Some(url) = required("MYSQL_URL") {
        let dir = tempfile::tempdir().unwrap();
        all.push(Backend {
            name: "mysql",
            storage: StorageConfig {
                mysql_url: Some(url),
                ..Default::default()
            },
            _dir: dir,
        });
    }
    if let Some(uri) = required("MONGODB_URI") {
        let dir = tempfile::tempdir().unwrap();
        let database = format!("api_test_{}", random_hex(6));
        all.push(Backend {
            name: "mongodb",
            storage: StorageConfig {
                mongodb_uri: Some(uri),
                mongodb_database: Some(database),
                sqlite_path: sqlite(&dir),
                ..Default::default()
            },
            _dir: dir,
        });
    }
    all
}

pub fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn jwt_settings() -> JwtSettings {
    JwtSettings {
        secret: Zeroizing::new(JWT_SECRET.as_bytes().to_vec()),
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        ttl: Duration::from_secs(600),
    }
}

pub async fn state_for(backend: &Backend, server_assisted: bool) -> Arc<AppState> {
    state_with_quotas(backend, server_assisted, Quotas::default()).await
}

pub async fn state_with_quotas(
    backend: &Backend,
    server_assisted: bool,
    quotas: Quotas,
) -> Arc<AppState> {
    let config = Config {
        jwt: jwt_settings(),
        storage: backend.storage.clone(),
        server_assisted_crypto: server_assisted,
        quotas,
    };
    AppState::from_config(&config).await.unwrap()
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The statement `user_id` signs to perform `operation` on `key_id` now.
pub fn statement(
    operation: KeyOperation,
    user_id: &str,
    key_id: e2ee_crypto::KeyId,
) -> KeyStatement<'_> {
    KeyStatement {
        operation,
        user_id,
        key_id,
        created_at: now_ms(),
    }
}

/// A `register-key` body for `new_key` with its proof of possession and, when given, an authorization
/// signature by `authorized_by` (the active key).
pub fn register_key_body(
    user_id: &str,
    new_key: &PrivateKey,
    authorized_by: Option<&PrivateKey>,
) -> Value {
    let statement = statement(KeyOperation::Register, user_id, new_key.key_id());
    let mut body = json!({
        "publicKey": new_key.public_key().to_spki_pem().unwrap(),
        "createdAt": statement.created_at,
        "proof": b64(&statement.sign(new_key).unwrap()),
    });
    if let Some(signer) = authorized_by {
        body["authorization"] = json!({
            "keyId": signer.key_id().to_string(),
            "signature": b64(&statement.sign(signer).unwrap()),
        });
    }
    body
}

/// Registers `new_key` for `user` (authorized by `user.key` when `authorize`) and returns the reply.
pub async fn register_key(
    state: &Arc<AppState>,
    user_id: &str,
    token: &str,
    new_key: &PrivateKey,
    authorized_by: Option<&PrivateKey>,
) -> Reply {
    call(
        e2ee_api::handlers::keys::register_key,
        state,
        Call::new(Method::POST, "/api/crypto/register-key")
            .token(token)
            .body(register_key_body(user_id, new_key, authorized_by)),
    )
    .await
}

/// A request as API Gateway hands it to the function: path parameters filled in when given.
pub struct Call<'a> {
    pub method: Method,
    pub path: &'a str,
    pub token: Option<&'a str>,
    pub body: Option<Value>,
    pub path_params: &'a [(&'a str, &'a str)],
    pub query: &'a [(&'a str, &'a str)],
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: &'a str) -> Self {
        Call {
            method,
            path,
            token: None,
            body: None,
            path_params: &[],
            query: &[],
        }
    }
    pub fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn param(mut self, params: &'a [(&'a str, &'a str)]) -> Self {
        self.path_params = params;
        self
    }
    pub fn query(mut self, query: &'a [(&'a str, &'a str)]) -> Self {
        self.query = query;
        self
    }

    pub fn build(&self) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(self.method.clone())
            .uri(self.path);
        if let Some(token) = self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let body = match &self.body {
            Some(body) => {
                builder = builder.header("content-type", "application/json");
                Body::Text(body.to_string())
            }
            None => Body::Empty,
        };
        let mut request = builder.body(body).unwrap();
        if !self.path_params.is_empty() {
            let params: HashMap<String, String> = self
                .path_params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            request = request.with_path_parameters(params);
        }
        if !self.query.is_empty() {
            let query: HashMap<String, String> = self
                .query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            request = request.with_query_string_parameters(query);
        }
        request
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub response: Response<Body>,
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub async fn send<H, F>(handler: H, state: &Arc<AppState>, request: Request) -> Reply
where
    H: Fn(Arc<AppState>, Request) -> F,
    F: Future<Output = Result<Response<Body>, e2ee_api::ApiError>>,
{
    let response = e2ee_api::lambda::handle(handler, Arc::clone(state), request).await;
    let text = match response.body() {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8(bytes.clone()).unwrap(),
        _ => String::new(),
    };
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(
        response.status() != StatusCode::INTERNAL_SERVER_ERROR,
        "500: {text}"
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    Reply {
        status: response.status(),
        body,
        response,
    }
}

pub async fn call<H, F>(handler: H, state: &Arc<AppState>, call: Call<'_>) -> Reply
where
    H: Fn(Arc<AppState>, Request) -> F,
    F: Future<Output = Result<Response<Body>, e2ee_api::ApiError>>,
{
    send(handler, state, call.build()).await
}

/// A registered, logged-in user with a device key registered through the true E2EE path.
pub struct User {
    pub id: String,
    pub username: String,
    pub token: String,
    pub key: PrivateKey,
}

pub async fn user(state: &Arc<AppState>, prefix: &str) -> User {
    use e2ee_api::handlers::auth;
    let username = format!("{prefix}_{}", random_hex(4));
    let reply = call(
        auth::register,
        state,
        Call::new(Method::POST, "/api/auth/register")
            .body(json!({"username": username, "password": PASSWORD})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["userId"].as_str().unwrap().to_owned();
    let reply = call(
        auth::login,
        state,
        Call::new(Method::POST, "/api/auth/login")
            .body(json!({"username": username, "password": PASSWORD})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let key = test_key();
    let reply = register_key(state, &id, &token, &key, None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    User {
        id,
        username,
        token,
        key,
    }
}

pub fn test_key() -> PrivateKey {
    PrivateKey::generate(KeySize::Rsa2048).unwrap()
}

/// A client-side envelope from `from` to `to` (wrapped for both), as our SDK would build it.
pub fn envelope(from: &User, to: &User, text: &str, message_id: &str, signed: bool) -> Value {
    let recipients = [
        Recipient {
            user_id: &to.id,
            key: to.key.public_key(),
        },
        Recipient {
            user_id: &from.id,
            key: from.key.public_key(),
        },
    ];
    let sealed = e2ee_crypto::seal(
        text.as_bytes(),
        &SealParams {
            sender_id: &from.id,
            message_id,
            created_at: 1_764_145_653_000,
            recipients: &recipients,
            sign_with: signed.then_some(&from.key),
        },
    )
    .unwrap();
    serde_json::from_str(&sealed.to_json()).unwrap()
}
