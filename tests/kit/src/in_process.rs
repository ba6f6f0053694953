//! The API in-process: real stores, real handlers, requests built the way API Gateway delivers them.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use e2ee_api::config::{Config, JwtSettings, Quotas};
use e2ee_api::handlers::{assisted, auth, devices, groups, key_packages, keys, messages};
use e2ee_api::{ApiError, AppState};
use e2ee_crypto::PrivateKey;
use e2ee_storage::StorageConfig;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::account::{Api, Exchange, sign_up};

pub use crate::account::{User, authorization, register_key_body, statement, test_key};
pub use crate::envelopes::{envelope, seal_between, seal_json};
pub use crate::mls::{
    Ciphersuite, TestDevice, certificate_for, group_config, ratchet_tree, revocation,
};
pub use crate::{b64, now_ms, random_hex};

/// What every handler gets: the state a cold start builds.
pub type State = Arc<AppState>;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const ISSUER: &str = "e2ee-api";
pub const AUDIENCE: &str = "e2ee-api";
/// The password of every [`user`].
pub const PASSWORD: &str = "correct horse battery staple";

/// One test's backend: SQLite in a temp dir, or MySQL/MongoDB from the environment.
pub struct Backend {
    pub name: &'static str,
    pub storage: StorageConfig,
    _dir: tempfile::TempDir,
}

impl Backend {
    /// The embedded store in a fresh temporary directory.
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            name: "sqlite",
            storage: StorageConfig {
                sqlite_path: Some(dir.path().join("e2ee.sqlite3")),
                ..Default::default()
            },
            _dir: dir,
        }
    }
}

/// SQLite always; MySQL (users, keys and messages) with MYSQL_URL; MongoDB (keys and messages, users on
/// SQLite) with MONGODB_URI; both required in CI ([`crate::env`]). Each gets fresh files or a fresh Mongo
/// database; usernames are unique per test.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::sqlite()];
    if let Some(url) = crate::env::mysql_url() {
        all.push(Backend {
            name: "mysql",
            storage: StorageConfig {
                mysql_url: Some(url),
                ..Default::default()
            },
            _dir: tempfile::tempdir().unwrap(),
        });
    }
    if let Some(uri) = crate::env::mongodb_uri() {
        let mut backend = Backend::sqlite();
        backend.name = "mongodb";
        backend.storage.mongodb_uri = Some(uri);
        backend.storage.mongodb_database = Some(format!("api_test_{}", random_hex(6)));
        all.push(backend);
    }
    all
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

/// The state a cold start builds, on `backend`. Names the backend on stderr, so that a failure in a loop
/// over [`backends`] says which one it was.
pub async fn state_with_quotas(
    backend: &Backend,
    server_assisted: bool,
    quotas: Quotas,
) -> Arc<AppState> {
    eprintln!("backend: {}", backend.name);
    let config = Config {
        jwt: jwt_settings(),
        storage: backend.storage.clone(),
        server_assisted_crypto: server_assisted,
        quotas,
    };
    AppState::from_config(&config).await.unwrap()
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

fn string_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
            request = request.with_path_parameters(string_map(self.path_params));
        }
        if !self.query.is_empty() {
            request = request.with_query_string_parameters(string_map(self.query));
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

    /// The reply has `status` (the body is in the failure message).
    #[track_caller]
    pub fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// The reply is the error `code` with `status`.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.error_code()),
            (status, code),
            "{}",
            self.body
        );
    }

    /// The reply has `status` and, unless `code` is empty, is the error `code`.
    #[track_caller]
    pub fn assert_outcome(&self, status: StatusCode, code: &str) {
        if code.is_empty() {
            self.assert_status(status);
        } else {
            self.assert_error(status, code);
        }
    }

    /// The `Retry-After` header in seconds, if any.
    pub fn retry_after(&self) -> Option<u64> {
        self.response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
    }
}

/// Hands `request` to `handler` as the Lambda runtime would. Every reply must be JSON and never a 500.
pub async fn send<H, F>(handler: H, state: &State, request: Request) -> Reply
where
    H: Fn(Arc<AppState>, Request) -> F,
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let (method, path) = (
        request.method().to_string(),
        request.uri().path().to_owned(),
    );
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
    record_error_answer(&method, &path, response.status(), &body);
    Reply {
        status: response.status(),
        body,
        response,
    }
}

/// With `E2EE_ERROR_LOG` set, appends every error answer as one JSON line `{method, route, status, code}`
/// (`route` the template): `scripts/check_error_contract.py` then checks that `docs/openapi.yaml` documents
/// each code under that route and status (scripts/test.sh does both).
fn record_error_answer(method: &str, path: &str, status: StatusCode, body: &Value) {
    use std::io::Write as _;
    let Some(log) = std::env::var_os("E2EE_ERROR_LOG") else {
        return;
    };
    let (Some(route), Some(code)) = (
        e2ee_protocol::routes::Route::of_request(method, path),
        body["error"]["code"].as_str(),
    ) else {
        return;
    };
    if !status.is_client_error() && !status.is_server_error() {
        return;
    }
    let line = json!({"method": route.method, "route": route.path, "status": status.as_u16(), "code": code});
    // One write of one line to a file opened for appending: lines of concurrent tests do not interleave.
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("E2EE_ERROR_LOG is writable");
    file.write_all(format!("{line}\n").as_bytes())
        .expect("E2EE_ERROR_LOG is writable");
}

pub async fn call<H, F>(handler: H, state: &State, call: Call<'_>) -> Reply
where
    H: Fn(Arc<AppState>, Request) -> F,
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    send(handler, state, call.build()).await
}

/// `match function { "<function>" => send(<module>::<handler>, state, request).await, ... }`, from one
/// line per handler module: `module { handler = "<function>", ... }`.
macro_rules! dispatch {
    ($function:expr, $state:expr, $request:expr; $($module:ident { $($handler:ident = $name:literal),+ })+) => {
        match $function {
            $($($name => send($module::$handler, $state, $request).await,)+)+
            other => panic!("no function {other}"),
        }
    };
}

/// Calls the handler of the Lambda function `function` (`functions/<function>`) with `request`, as
/// `cargo lambda invoke <function>` would.
pub async fn invoke(state: &State, function: &str, request: Request) -> Reply {
    #[rustfmt::skip]
    let reply = dispatch!(function, state, request;
        auth { register = "auth-register", login = "auth-login", lookup_user = "lookup-user" }
        keys { generate_keys = "generate-keys", register_key = "register-key", revoke_key = "revoke-key", get_public_key = "get-public-key" }
        assisted { encrypt = "encrypt", decrypt = "decrypt" }
        messages { send = "send-message", receive = "receive-messages", mark_read = "mark-read", history = "chat-history" }
        devices { register_device = "register-device", device_session = "device-session", approve_device = "approve-device", revoke_device = "revoke-device", list_devices = "list-devices" }
        key_packages { upload_key_packages = "upload-key-packages", key_package_supply = "key-package-supply", claim_key_packages = "claim-key-packages" }
        groups { create_group = "create-group", get_group = "get-group", post_commit = "post-commit", post_group_message = "post-group-message", read_group_log = "read-group-log", list_groups = "list-groups", list_welcomes = "list-welcomes", ack_welcome = "ack-welcome" }
    );
    reply
}

/// The function that serves `method` `path`, by `e2ee_protocol::ROUTES`.
pub fn function_for(method: &str, path: &str) -> &'static str {
    // The route list every served description is checked against (scripts/check_routes.py), so in-process
    // routing is the served routing.
    e2ee_protocol::routes::Route::of_request(method, path)
        .unwrap_or_else(|| panic!("no route for {method} {path}"))
        .function
}

/// Calls the handler that serves `request`'s method and path. Query parameters go in [`Call::query`], not
/// in the path.
pub async fn route(state: &State, request: Call<'_>) -> Reply {
    assert!(
        !request.path.contains('?'),
        "{}: pass the query with Call::query",
        request.path
    );
    let function = function_for(request.method.as_str(), request.path);
    invoke(state, function, request.build()).await
}

impl Api for State {
    async fn exchange(&self, request: Exchange<'_>) -> (u16, Value) {
        let method = Method::from_bytes(request.method.as_bytes()).unwrap();
        let reply = route(
            self,
            Call {
                token: request.token,
                body: request.body,
                ..Call::new(method, request.path)
            },
        )
        .await;
        (reply.status.as_u16(), reply.body)
    }
}

/// A registered, logged-in user (password [`PASSWORD`]) with a device key registered through the true
/// E2EE path.
pub async fn user(state: &State, prefix: &str) -> User {
    sign_up(state, prefix, PASSWORD).await
}

/// One [`user`] per prefix, in order.
pub async fn users<const N: usize>(state: &State, prefixes: [&str; N]) -> [User; N] {
    let mut all = Vec::with_capacity(N);
    for prefix in prefixes {
        all.push(user(state, prefix).await);
    }
    all.try_into().ok().unwrap()
}

/// `POST /api/auth/register` with `body`.
pub async fn register(state: &State, body: Value) -> Reply {
    route(
        state,
        Call::new(Method::POST, "/api/auth/register").body(body),
    )
    .await
}

/// `POST /api/auth/login` as `username` with `password`.
pub async fn login(state: &State, username: &str, password: &str) -> Reply {
    route(
        state,
        Call::new(Method::POST, "/api/auth/login")
            .body(json!({"username": username, "password": password})),
    )
    .await
}

/// `POST` of `body` to `path` with `token`.
pub async fn post(state: &State, path: &str, token: &str, body: Value) -> Reply {
    route(state, Call::new(Method::POST, path).token(token).body(body)).await
}

/// `GET path` with `token` and `query`, the path parameter `param` in the event (as API Gateway fills it).
pub async fn get(
    state: &State,
    token: &str,
    path: &str,
    param: (&str, &str),
    query: &[(&str, &str)],
) -> Reply {
    let params = [param];
    route(
        state,
        Call::new(Method::GET, path)
            .token(token)
            .param(&params)
            .query(query),
    )
    .await
}

/// `POST /api/crypto/register-key` with `body` as it is.
pub async fn post_register_key(state: &State, token: &str, body: Value) -> Reply {
    post(state, "/api/crypto/register-key", token, body).await
}

/// Registers `new_key` for `user_id`, with its proof and, when given, the authorization of `authorized_by`
/// (the active key); returns the reply.
pub async fn register_key(
    state: &State,
    user_id: &str,
    token: &str,
    new_key: &PrivateKey,
    authorized_by: Option<&PrivateKey>,
) -> Reply {
    let body = register_key_body(user_id, new_key, authorized_by);
    post_register_key(state, token, body).await
}

/// `POST /api/crypto/generate-keys`, with `body` when given.
pub async fn generate_keys(state: &State, token: &str, body: Option<Value>) -> Reply {
    let mut request = Call::new(Method::POST, "/api/crypto/generate-keys").token(token);
    request.body = body;
    route(state, request).await
}

/// `GET /api/crypto/public-key/{userId}` (the parameter in the event), with `query`.
pub async fn public_key(
    state: &State,
    token: &str,
    user_id: &str,
    query: &[(&str, &str)],
) -> Reply {
    get(
        state,
        token,
        "/api/crypto/public-key/x",
        ("userId", user_id),
        query,
    )
    .await
}

/// `POST /api/messages/send`: `envelope` from `from` to `to`.
pub async fn send_envelope(state: &State, from: &User, to: &User, envelope: Value) -> Reply {
    let body = json!({"receiverId": to.id, "envelope": envelope});
    post(state, "/api/messages/send", &from.token, body).await
}

/// `POST /api/messages/send`: `text` from `from` to `to`, with `message_id`, signed when `signed` (see
/// [`envelope`]).
pub async fn send_text(
    state: &State,
    (from, to): (&User, &User),
    text: &str,
    message_id: &str,
    signed: bool,
) -> Reply {
    let envelope = envelope(from, to, text, message_id, signed);
    send_envelope(state, from, to, envelope).await
}

/// `GET /api/messages/receive/{userId}` of `who`'s own inbox (the parameter in the event), with `query`.
pub async fn inbox(state: &State, who: &User, query: &[(&str, &str)]) -> Reply {
    let path = format!("/api/messages/receive/{}", who.id);
    get(state, &who.token, &path, ("userId", &who.id), query).await
}

/// `GET /api/messages/history/{chatId}` as `who` (the parameter in the event), with `query`.
pub async fn history(state: &State, who: &User, chat_id: &str, query: &[(&str, &str)]) -> Reply {
    let path = format!("/api/messages/history/{chat_id}");
    get(state, &who.token, &path, ("chatId", chat_id), query).await
}

/// `GET` of `path` with `token`, no parameters in the event (routes whose only input is the token).
pub async fn get_plain(state: &State, token: &str, path: &str) -> Reply {
    route(state, Call::new(Method::GET, path).token(token)).await
}

/// `POST /api/devices/session` for `device` with `user`'s token; the device token.
pub async fn device_token(state: &State, user: &User, device: &TestDevice) -> String {
    let reply = post(
        state,
        "/api/devices/session",
        &user.token,
        device.session_request(),
    )
    .await;
    reply.assert_status(StatusCode::OK);
    reply.body["token"].as_str().unwrap().to_owned()
}

/// The user's first device, certified by the account's identity key: registered, and its device token.
pub async fn first_device(state: &State, user: &User, device_id: &str) -> (TestDevice, String) {
    let device = TestDevice::new(&user.id, device_id);
    let reply = post(
        state,
        "/api/devices",
        &user.token,
        device.registration(Some(&user.key)),
    )
    .await;
    reply.assert_status(StatusCode::CREATED);
    let token = device_token(state, user, &device).await;
    (device, token)
}

/// `POST /api/key-packages` of `packages` with a device token.
pub async fn upload_key_packages(state: &State, device_token: &str, packages: &[Vec<u8>]) -> Reply {
    let encoded: Vec<String> = packages.iter().map(|p| b64(p)).collect();
    post(
        state,
        "/api/key-packages",
        device_token,
        json!({ "keyPackages": encoded }),
    )
    .await
}

/// A group of `size` members: created by `creator` through the handler, the other members (devices that
/// never talk to the server) added with one commit written to the store directly.
pub async fn group_of_size(
    state: &State,
    creator: &TestDevice,
    token: &str,
    size: usize,
) -> (openmls::prelude::MlsGroup, String) {
    use openmls::prelude::*;

    let mut group = creator.new_group();
    let body = json!({
        "groupInfo": b64(&creator.group_info(&group)),
        "ratchetTree": b64(&ratchet_tree(&group)),
    });
    post(state, "/api/groups", token, body)
        .await
        .assert_status(StatusCode::CREATED);
    let group_id: String = group
        .group_id()
        .as_slice()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let others: Vec<TestDevice> = (1..size)
        .map(|i| TestDevice::new(&format!("u_member{i}"), "d"))
        .collect();
    let packages: Vec<KeyPackage> = others.iter().map(TestDevice::key_package_object).collect();
    let (commit, welcome, _) = group
        .add_members(&creator.provider, &creator.signer, &packages)
        .unwrap();
    group.merge_pending_commit(&creator.provider).unwrap();
    let current = state
        .stores
        .groups
        .current(&group_id)
        .await
        .unwrap()
        .unwrap();
    let (commit, welcome, info) = (
        commit.to_bytes().unwrap(),
        welcome.to_bytes().unwrap(),
        creator.group_info(&group),
    );
    let accepted =
        e2ee_mls::apply_commit(&current.public_state, &commit, Some(&welcome), &info).unwrap();
    let device = |user_id: &str, device_id: &str| e2ee_storage::GroupDevice {
        user_id: user_id.to_owned(),
        device_id: device_id.to_owned(),
    };
    state
        .stores
        .groups
        .commit(e2ee_storage::NewCommit {
            group_id: group_id.clone(),
            epoch: accepted.group.epoch,
            committer: device(&creator.user_id, &creator.device_id),
            commit,
            welcome: Some(welcome),
            group_info: info,
            members: accepted
                .group
                .members
                .iter()
                .map(|m| device(&m.identity.user_id, &m.identity.device_id))
                .collect(),
            welcome_for: others
                .iter()
                .map(|o| device(&o.user_id, &o.device_id))
                .collect(),
            // Built straight into the store: the packages were never claimed through the API.
            key_packages: Vec::new(),
            public_state: accepted.group.public_state,
        })
        .await
        .unwrap();
    (group, group_id)
}

/// `creator`'s next leaf update in `group` as a commit bundle body (merged on the device at once, as a client
/// does once the server has accepted it).
pub fn update_bundle(creator: &TestDevice, group: &mut openmls::prelude::MlsGroup) -> Value {
    use openmls::prelude::*;

    let bundle = group
        .self_update(
            &creator.provider,
            &creator.signer,
            LeafNodeParameters::default(),
        )
        .unwrap();
    group.merge_pending_commit(&creator.provider).unwrap();
    json!({
        "commit": b64(&bundle.into_commit().to_bytes().unwrap()),
        "groupInfo": b64(&creator.group_info(group)),
    })
}
