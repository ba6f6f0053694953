//! The SDK against a scripted HTTP server: the retries the real server rarely provokes (a receiver's key
//! rotating between fetch and send, a response lost in transit), and what a hostile or broken server can do
//! that the real one never does (remap a username, replay a message, lie about times and recipients, page
//! forever, answer with huge bodies), plus the signed key operations.

use std::sync::{Arc, Mutex};

use base64::Engine;
use e2ee_client::device::Device;
use e2ee_client::error::{ClientError, IdentityChange};
use e2ee_client::messages::Verification;
use e2ee_client::profile::{Profile, SessionData};
use e2ee_crypto::{
    Envelope, KeyOperation, KeySize, KeyStatement, PrivateKey, Recipient, SealParams,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

type Handler = dyn Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync;

/// A request as the scripted server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    /// Without the query string.
    path: String,
    query: String,
    /// Lowercase names.
    headers: Vec<(String, String)>,
    body: Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| {
                percent_encoding::percent_decode_str(value)
                    .decode_utf8_lossy()
                    .into_owned()
            })
        })
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }
}

type FullHandler = dyn Fn(&Request) -> Reply + Send + Sync;

/// Serves HTTP/1.1 (keep-alive) on a free port; every request goes to `handler`.
async fn serve(handler: Arc<Handler>) -> String {
    serve_full(Arc::new(move |request: &Request| {
        let path = if request.query.is_empty() {
            request.path.clone()
        } else {
            format!("{}?{}", request.path, request.query)
        };
        let (status, body) = handler(&request.method, &path, &request.body);
        Reply::json(status, body)
    }))
    .await
}

async fn serve_full(handler: Arc<FullHandler>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let (reader, mut writer) = socket.into_split();
                let mut reader = BufReader::new(reader);
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = request_line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_owned();
                    let target = parts.next().unwrap_or("").to_owned();
                    let (path, query) = match target.split_once('?') {
                        Some((path, query)) => (path.to_owned(), query.to_owned()),
                        None => (target, String::new()),
                    };
                    let mut length = 0usize;
                    let mut headers = Vec::new();
                    loop {
                        let mut header = String::new();
                        if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':') {
                            let name = name.trim().to_ascii_lowercase();
                            if name == "content-length" {
                                length = value.trim().parse().unwrap();
                            }
                            headers.push((name, value.trim().to_owned()));
                        }
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let request = Request {
                        method,
                        path,
                        query,
                        headers,
                        body,
                    };
                    let reply = handler(&request);
                    let mut head = format!(
                        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                        reply.status,
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    if writer.write_all(head.as_bytes()).await.is_err()
                        || writer.write_all(&reply.body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}")
}

struct Fixture {
    root: tempfile::TempDir,
    device: Device,
}

impl Fixture {
    /// The same profile, opened again (a later run of the command).
    fn reopen(&self, server: &str) -> Device {
        Device::open(
            Profile::open(self.root.path(), "alice").unwrap(),
            Some(server),
        )
        .unwrap()
    }
}

/// A logged-in profile for `u_alice` with a key (passphrase "pass phrase").
fn alice(server: &str, key: &PrivateKey) -> Fixture {
    alice_with(server, Some(key))
}

/// A logged-in profile for `u_alice` on `server`, with or without a key.
fn alice_with(server: &str, key: Option<&PrivateKey>) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let mut profile = Profile::open(root.path(), "alice").unwrap();
    profile.data.server = Some(server.to_owned());
    profile.data.user_id = Some("u_alice".into());
    profile.data.username = Some("alice".into());
    if let Some(key) = key {
        let local = profile.write_key(key, "pass phrase", 1).unwrap();
        profile.add_key(local);
    }
    profile.save().unwrap();
    profile
        .save_session(&SessionData {
            token: Zeroizing::new("token".into()),
            expires_at: i64::MAX,
        })
        .unwrap();
    let device = Device::open(profile, Some(server)).unwrap();
    Fixture { root, device }
}

fn key_response(user_id: &str, key: &PrivateKey) -> Value {
    json!({
        "userId": user_id,
        "keyId": key.key_id().to_string(),
        "fingerprint": key.key_id().fingerprint(),
        "bits": 2048,
        "publicKey": key.public_key().to_spki_pem().unwrap(),
        "createdAt": 1,
    })
}

fn error(code: &str) -> Value {
    json!({"error": {"code": code, "message": code}})
}

struct Keys {
    alice: PrivateKey,
    bob_old: PrivateKey,
    bob_new: PrivateKey,
}

fn keys() -> Keys {
    Keys {
        alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob_old: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob_new: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
    }
}

/// Bob's key rotates between alice's key fetch and her send: `stale_recipient_key` once, then success.
/// Returns the envelopes the server received.
fn rotating_bob(keys: &Keys) -> (Arc<Handler>, Arc<Mutex<Vec<Value>>>) {
    let sends = Arc::new(Mutex::new(Vec::<Value>::new()));
    let key_fetches = Arc::new(Mutex::new(0));
    let (old, new) = (
        key_response("u_bob", &keys.bob_old),
        key_response("u_bob", &keys.bob_new),
    );
    let new_key_id = keys.bob_new.key_id().to_string();
    let recorded = sends.clone();
    let handler = move |method: &str, path: &str, body: &Value| -> (u16, Value) {
        match (method, path) {
            ("GET", "/api/users/bob") => (
                200,
                json!({"userId": "u_bob", "username": "bob", "displayName": null}),
            ),
            ("GET", "/api/crypto/public-key/u_bob") => {
                let mut fetches = key_fetches.lock().unwrap();
                *fetches += 1;
                (
                    200,
                    if *fetches == 1 {
                        old.clone()
                    } else {
                        new.clone()
                    },
                )
            }
            ("POST", "/api/messages/send") => {
                let envelope = body["envelope"].clone();
                recorded.lock().unwrap().push(envelope.clone());
                let receiver_key = envelope["recipients"][0]["keyId"].as_str().unwrap_or("");
                if receiver_key != new_key_id {
                    (409, error("stale_recipient_key"))
                } else {
                    (
                        201,
                        json!({"messageId": "m_1", "chatId": "c_1",
                               "clientMessageId": envelope["messageId"], "createdAt": 5}),
                    )
                }
            }
            _ => (404, error("not_found")),
        }
    };
    (Arc::new(handler), sends)
}

#[tokio::test]
async fn a_stale_key_for_a_new_contact_is_refetched_and_the_message_id_kept() {
    let keys = keys();
    let (handler, sends) = rotating_bob(&keys);
    let server = serve(handler).await;
    let mut fixture = alice(&server, &keys.alice);
    let ring = fixture
        .device
        .unlock(Zeroizing::new("pass phrase".into()))
        .unwrap();
    let report = fixture.device.send(&ring, "bob", b"hello").await.unwrap();
    assert!(report.resealed);
    assert_eq!(report.receiver_key_id, keys.bob_new.key_id().to_string());

    let sends = sends.lock().unwrap();
    assert_eq!(sends.len(), 2);
    // The same client message id both times; the second is sealed for the new key (and alice).
    assert_eq!(sends[0]["messageId"], sends[1]["messageId"]);
    assert_eq!(
        report.client_message_id,
        sends[1]["messageId"].as_str().unwrap()
    );
    let envelope = Envelope::from_json(sends[1].to_string().as_bytes()).unwrap();
    let opened =
        e2ee_crypto::open(&envelope, &keys.bob_new, Some(keys.alice.public_key())).unwrap();
    assert_eq!(&opened.plaintext[..], b"hello");
    assert!(e2ee_crypto::open(&envelope, &keys.alice, None).is_ok());
    // The contact is pinned to the key actually used (the first pin was never shown to anyone).
    let bob = fixture.device.contacts().get("u_bob").unwrap();
    assert_eq!(bob.key_id, keys.bob_new.key_id().to_string());
}

#[tokio::test]
async fn a_stale_key_for_a_pinned_contact_is_a_key_change_and_nothing_is_resent() {
    let keys = keys();
    let (handler, sends) = rotating_bob(&keys);
    let server = serve(handler).await;
    let mut fixture = alice(&server, &keys.alice);
    // Alice pinned bob's old key earlier (a verify, an earlier message).
    let report = fixture.device.verify_contact("bob", false).await.unwrap();
    assert_eq!(report.key_id, keys.bob_old.key_id().to_string());
    let ring = fixture
        .device
        .unlock(Zeroizing::new("pass phrase".into()))
        .unwrap();
    // verify used the first fetch; the send's fetch sees the new key: refused before anything is posted.
    let error = fixture
        .device
        .send(&ring, "bob", b"hello")
        .await
        .unwrap_err();
    match &error {
        ClientError::KeyChanged(change) => {
            assert_eq!(change.old_fingerprint, keys.bob_old.key_id().fingerprint());
            assert_eq!(change.new_fingerprint, keys.bob_new.key_id().fingerprint());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.exit_code(), 5);
    assert!(sends.lock().unwrap().is_empty());
    // The pin is unchanged until the user accepts.
    let pinned = fixture
        .device
        .contacts()
        .get("u_bob")
        .unwrap()
        .key_id
        .clone();
    assert_eq!(pinned, keys.bob_old.key_id().to_string());
}

#[tokio::test]
async fn a_lost_response_is_retried_with_the_identical_envelope() {
    let keys = keys();
    let sends = Arc::new(Mutex::new(Vec::<Value>::new()));
    let recorded = sends.clone();
    let bob = key_response("u_bob", &keys.bob_new);
    let handler = move |method: &str, path: &str, body: &Value| -> (u16, Value) {
        match (method, path) {
            ("GET", "/api/users/bob") => (
                200,
                json!({"userId": "u_bob", "username": "bob", "displayName": null}),
            ),
            ("GET", "/api/crypto/public-key/u_bob") => (200, bob.clone()),
            ("POST", "/api/messages/send") => {
                let mut sends = recorded.lock().unwrap();
                sends.push(body["envelope"].clone());
                if sends.len() == 1 {
                    // Stored, but the gateway timed out: the client cannot know.
                    (503, error("store_unavailable"))
                } else {
                    (
                        200,
                        json!({"messageId": "m_1", "chatId": "c_1",
                               "clientMessageId": body["envelope"]["messageId"], "createdAt": 5}),
                    )
                }
            }
            _ => (404, error("not_found")),
        }
    };
    let server = serve(Arc::new(handler)).await;
    let mut fixture = alice(&server, &keys.alice);
    let ring = fixture
        .device
        .unlock(Zeroizing::new("pass phrase".into()))
        .unwrap();
    let report = fixture.device.send(&ring, "bob", b"once").await.unwrap();
    assert!(!report.created, "HTTP 200: the server already had it");
    assert!(!report.resealed);
    let sends = sends.lock().unwrap();
    assert_eq!(sends.len(), 2);
    assert_eq!(
        sends[0], sends[1],
        "a retry must resend the very same envelope"
    );
}

#[tokio::test]
async fn server_errors_keep_their_code_and_status() {
    let handler = |_: &str, path: &str, _: &Value| -> (u16, Value) {
        match path {
            "/api/users/bob" => (401, error("invalid_token")),
            _ => (404, error("user_not_found")),
        }
    };
    let server = serve(Arc::new(handler)).await;
    let keys = keys();
    let mut fixture = alice(&server, &keys.alice);
    let error = fixture
        .device
        .verify_contact("bob", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Api { status: 401, code, .. } if code == "invalid_token"),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 4);
    let error = fixture
        .device
        .verify_contact("carol", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::UnknownUser(name) if name == "carol"),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 7);
}

// ---- helpers for the hostile-server tests ----------------------------------------------------------------

fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn user(user_id: &str, username: &str) -> Value {
    json!({"userId": user_id, "username": username, "displayName": null})
}

fn key_view(
    key: &PrivateKey,
    status: &str,
    retired_at: Option<i64>,
    revoked_at: Option<i64>,
) -> Value {
    let mut view = json!({
        "keyId": key.key_id().to_string(),
        "fingerprint": key.key_id().fingerprint(),
        "bits": 2048,
        "publicKey": key.public_key().to_spki_pem().unwrap(),
        "status": status,
        "createdAt": 1,
    });
    if let Some(t) = retired_at {
        view["retiredAt"] = json!(t);
    }
    if let Some(t) = revoked_at {
        view["revokedAt"] = json!(t);
    }
    view
}

/// `GET /api/crypto/public-key/{id}?all=true`: `active` plus every listed key.
fn listing(user_id: &str, active: &PrivateKey, keys: Vec<Value>) -> Value {
    let mut response = key_response(user_id, active);
    response["keys"] = Value::Array(keys);
    response
}

/// An envelope from bob to alice's `alice_key` (and bob's `bob_key`), signed by `signer` if any.
fn from_bob(
    alice_key: &PrivateKey,
    bob_key: &PrivateKey,
    signer: Option<&PrivateKey>,
    message_id: &str,
    created_at: u64,
    text: &str,
) -> Value {
    let recipients = [
        Recipient {
            user_id: "u_alice",
            key: alice_key.public_key(),
        },
        Recipient {
            user_id: "u_bob",
            key: bob_key.public_key(),
        },
    ];
    e2ee_crypto::seal(
        text.as_bytes(),
        &SealParams {
            sender_id: "u_bob",
            message_id,
            created_at,
            recipients: &recipients,
            sign_with: signer,
        },
    )
    .unwrap()
    .to_value()
}

/// A stored message as the server lists it; its own `createdAt` and `receiverId` are the server's claims.
fn stored(id: &str, envelope: &Value, server_time: i64, receiver: &str) -> Value {
    json!({
        "messageId": id,
        "chatId": e2ee_crypto::chat_id("u_alice", "u_bob"),
        "senderId": envelope["senderId"],
        "receiverId": receiver,
        "clientMessageId": envelope["messageId"],
        "envelope": envelope,
        "createdAt": server_time,
        "readAt": null,
    })
}

fn page(messages: Vec<Value>, next: Option<&str>) -> Value {
    json!({"messages": messages, "nextCursor": next})
}

fn unlock(device: &Device) -> e2ee_client::messages::KeyRing {
    device.unlock(Zeroizing::new("pass phrase".into())).unwrap()
}

// ---- A: signed key operations, rate limits, history --------------------------------------------------------

fn statement<'a>(
    operation: KeyOperation,
    user_id: &'a str,
    key_id: &str,
    created_at: u64,
) -> KeyStatement<'a> {
    KeyStatement {
        operation,
        user_id,
        key_id: e2ee_crypto::KeyId::parse(key_id).unwrap(),
        created_at,
    }
}

#[tokio::test]
async fn rotation_is_proven_by_the_new_key_and_authorized_by_the_active_one() {
    let old = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let old_pem = old.public_key().to_spki_pem().unwrap();
    let old_id = old.key_id().to_string();
    let registered = Arc::new(Mutex::new(Vec::<Value>::new()));
    let log = registered.clone();
    let old_response = key_response("u_alice", &old);
    let handler = move |request: &Request| -> Reply {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(200, old_response.clone()),
            ("POST", "/api/crypto/register-key") => {
                let body = request.body.clone();
                log.lock().unwrap().push(body.clone());
                let pem = body["publicKey"].as_str().unwrap();
                let key = e2ee_crypto::PublicKey::from_spki_pem(pem).unwrap();
                let created_at = body["createdAt"].as_u64().unwrap();
                let new_id = key.key_id().to_string();
                let signed = statement(KeyOperation::Register, "u_alice", &new_id, created_at);
                let proof_ok = signed
                    .verify(&key, &b64(body["proof"].as_str().unwrap()))
                    .is_ok();
                let old_key = e2ee_crypto::PublicKey::from_spki_pem(&old_pem).unwrap();
                let authorized = body["authorization"]["keyId"]
                    == old_key.key_id().to_string().as_str()
                    && signed
                        .verify(
                            &old_key,
                            &b64(body["authorization"]["signature"].as_str().unwrap()),
                        )
                        .is_ok();
                if !(proof_ok && authorized) {
                    return Reply::json(403, error("authorization_failed"));
                }
                Reply::json(
                    201,
                    json!({"keyId": new_id, "fingerprint": key.key_id().fingerprint(), "bits": 2048,
                           "publicKey": pem, "status": "active", "createdAt": 777}),
                )
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    let server = serve_full(Arc::new(handler)).await;
    let mut fixture = alice(&server, &old);
    let info = fixture
        .device
        .keys_rotate("pass phrase", 2048, None)
        .await
        .unwrap();
    assert_eq!(info.previous_key_id.as_deref(), Some(old_id.as_str()));
    let bodies = registered.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    assert!(
        bodies[0].get("password").is_none(),
        "no password when a signature will do"
    );
    let now = u64::try_from(e2ee_client::device::now_ms()).unwrap();
    assert!(now.abs_diff(bodies[0]["createdAt"].as_u64().unwrap()) < 60_000);
    // The old key is remembered as retired when the new one was registered.
    let profile = fixture.device.profile();
    assert_eq!(profile.local_key(&old_id).unwrap().retired_at, Some(777));
    assert_eq!(
        profile.data.current_key_id.as_deref(),
        Some(info.key_id.as_str())
    );
}

#[tokio::test]
async fn without_the_active_key_on_the_device_the_password_authorizes() {
    let foreign = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let registered = Arc::new(Mutex::new(Vec::<Value>::new()));
    let log = registered.clone();
    let active = key_response("u_alice", &foreign);
    let handler = move |request: &Request| -> Reply {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(200, active.clone()),
            ("POST", "/api/crypto/register-key") => {
                log.lock().unwrap().push(request.body.clone());
                if request.body["password"] != "account password" {
                    return Reply::json(403, error("authorization_failed"));
                }
                let pem = request.body["publicKey"].as_str().unwrap();
                let key = e2ee_crypto::PublicKey::from_spki_pem(pem).unwrap();
                Reply::json(
                    201,
                    json!({"keyId": key.key_id().to_string(), "fingerprint": "F", "bits": 2048,
                           "publicKey": pem, "status": "active", "createdAt": 5}),
                )
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    let server = serve_full(Arc::new(handler)).await;
    // A new device of an account whose active key is elsewhere.
    let mut fixture = alice_with(&server, None);
    let error = fixture
        .device
        .keys_init("pass phrase", 2048, true, None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::PasswordRequired), "{error:?}");
    assert!(error.to_string().contains("--password-env"), "{error}");
    assert!(
        registered.lock().unwrap().is_empty(),
        "nothing sent without a factor"
    );
    assert!(fixture.device.profile().current_key().is_none());

    let error = fixture
        .device
        .keys_init("pass phrase", 2048, true, Some("wrong password"))
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), 4, "{error:?}");
    fixture
        .device
        .keys_init("pass phrase", 2048, true, Some("account password"))
        .await
        .unwrap();
    let bodies = registered.lock().unwrap();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[1].get("authorization").is_none());
    assert!(bodies[1]["proof"].is_string());
}

#[tokio::test]
async fn a_first_key_needs_only_the_proof_and_a_missing_factor_asks_for_the_password() {
    let registered = Arc::new(Mutex::new(Vec::<Value>::new()));
    let log = registered.clone();
    let handler = move |request: &Request| -> Reply {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(404, error("no_active_key")),
            ("POST", "/api/crypto/register-key") => {
                log.lock().unwrap().push(request.body.clone());
                // The account had keys once (all revoked): the server wants a second factor.
                Reply::json(403, error("authorization_required"))
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    let server = serve_full(Arc::new(handler)).await;
    let mut fixture = alice_with(&server, None);
    let error = fixture
        .device
        .keys_init("pass phrase", 2048, false, None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::PasswordRequired), "{error:?}");
    let bodies = registered.lock().unwrap();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].get("authorization").is_none() && bodies[0].get("password").is_none());
    // The refused key left no files behind.
    assert!(fixture.device.profile().data.keys.is_empty());
}

#[tokio::test]
async fn revoking_the_active_key_is_signed_by_it_and_then_rotation_needs_the_password() {
    let key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let key_id = key.key_id().to_string();
    let pem = key.public_key().to_spki_pem().unwrap();
    let revoked = Arc::new(Mutex::new(false));
    let calls = Arc::new(Mutex::new(Vec::<Value>::new()));
    let (state, log) = (revoked.clone(), calls.clone());
    let active = key_response("u_alice", &key);
    let revoked_view = key_view(&key, "revoked", None, Some(4242));
    let handler = move |request: &Request| -> Reply {
        let is_revoked = *state.lock().unwrap();
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/crypto/public-key/u_alice") if is_revoked => {
                Reply::json(404, error("no_active_key"))
            }
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(200, active.clone()),
            ("POST", "/api/crypto/revoke-key") => {
                log.lock().unwrap().push(request.body.clone());
                let body = &request.body;
                let target = body["keyId"].as_str().unwrap();
                let signed = statement(
                    KeyOperation::Revoke,
                    "u_alice",
                    target,
                    body["createdAt"].as_u64().unwrap(),
                );
                let signer = e2ee_crypto::PublicKey::from_spki_pem(&pem).unwrap();
                let ok = body["authorization"]["keyId"] == signer.key_id().to_string().as_str()
                    && signed
                        .verify(
                            &signer,
                            &b64(body["authorization"]["signature"].as_str().unwrap()),
                        )
                        .is_ok();
                if !ok {
                    return Reply::json(403, error("authorization_failed"));
                }
                *state.lock().unwrap() = true;
                Reply::json(200, revoked_view.clone())
            }
            ("POST", "/api/crypto/register-key") => {
                log.lock().unwrap().push(request.body.clone());
                if request.body["password"] != "account password" {
                    return Reply::json(403, error("authorization_required"));
                }
                let new_pem = request.body["publicKey"].as_str().unwrap();
                let new_key = e2ee_crypto::PublicKey::from_spki_pem(new_pem).unwrap();
                Reply::json(
                    201,
                    json!({"keyId": new_key.key_id().to_string(), "fingerprint": "F", "bits": 2048,
                           "publicKey": new_pem, "status": "active", "createdAt": 5000}),
                )
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    let server = serve_full(Arc::new(handler)).await;
    let mut fixture = alice(&server, &key);
    let report = fixture
        .device
        .keys_revoke(&key_id.to_uppercase(), Some("pass phrase"), None)
        .await
        .unwrap();
    assert!(report.was_active && report.on_this_device);
    assert_eq!(report.revoked_at, 4242);
    assert_eq!(report.key_id, key_id);
    assert_eq!(
        fixture
            .device
            .profile()
            .local_key(&key_id)
            .unwrap()
            .revoked_at,
        Some(4242)
    );
    // The revoked key does not sign any more: sending is refused before anything is sent.
    let ring = unlock(&fixture.device);
    let error = fixture.device.send(&ring, "bob", b"x").await.unwrap_err();
    assert!(error.to_string().contains("revoked"), "{error}");
    // A new key: the device holds no active key any more, so the password authorizes it.
    let error = fixture
        .device
        .keys_rotate("pass phrase", 2048, None)
        .await
        .unwrap_err();
    assert!(matches!(error, ClientError::PasswordRequired), "{error:?}");
    let info = fixture
        .device
        .keys_rotate("pass phrase", 2048, Some("account password"))
        .await
        .unwrap();
    let profile = fixture.device.profile();
    assert_eq!(profile.usable_key().unwrap().key_id, info.key_id);
    assert_eq!(
        profile.local_key(&key_id).unwrap().retired_at,
        None,
        "revoked, not retired"
    );
    // Usage errors for ids that are not key ids, before any request.
    let before = calls.lock().unwrap().len();
    let error = fixture
        .device
        .keys_revoke("nope", Some("pass phrase"), None)
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), 2);
    assert_eq!(calls.lock().unwrap().len(), before);
}

#[tokio::test]
async fn too_many_requests_is_a_rate_limit_with_the_servers_retry_after() {
    let handler = |request: &Request| -> Reply {
        let mut reply = Reply::json(
            429,
            error(if request.path == "/api/auth/login" {
                "too_many_attempts"
            } else {
                "quota_exceeded"
            }),
        );
        reply.headers.push(("Retry-After".into(), "42".into()));
        reply
    };
    let server = serve_full(Arc::new(handler)).await;
    let keys = keys();
    let mut fixture = alice(&server, &keys.alice);
    let error = fixture
        .device
        .login("alice", Zeroizing::new("password".into()))
        .await
        .unwrap_err();
    match &error {
        ClientError::RateLimited {
            code, retry_after, ..
        } => {
            assert_eq!(code, "too_many_attempts");
            assert_eq!(*retry_after, Some(42));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(error.exit_code(), 8);
    assert!(
        error.to_string().contains("try again in 42 seconds"),
        "{error}"
    );
    let ring = unlock(&fixture.device);
    let error = fixture.device.send(&ring, "bob", b"x").await.unwrap_err();
    assert!(
        matches!(&error, ClientError::RateLimited { code, .. } if code == "quota_exceeded"),
        "{error:?}"
    );
}

/// A scripted bob: lookups, his key listing, and a chat whose history the handler `history` serves.
fn bob_server(
    bob: &PrivateKey,
    listing_keys: Vec<Value>,
    history: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> Arc<FullHandler> {
    let bob_listing = listing("u_bob", bob, listing_keys);
    let bob_active = key_response("u_bob", bob);
    Arc::new(move |request: &Request| -> Reply {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/users/bob") => Reply::json(200, user("u_bob", "bob")),
            ("GET", "/api/crypto/public-key/u_bob") if request.query == "all=true" => {
                Reply::json(200, bob_listing.clone())
            }
            ("GET", "/api/crypto/public-key/u_bob") => Reply::json(200, bob_active.clone()),
            ("GET", path) if path.starts_with("/api/messages/") => history(request),
            _ => Reply::json(404, error("not_found")),
        }
    })
}

#[tokio::test]
async fn an_empty_chat_is_empty_and_short_pages_are_followed_with_their_opaque_cursors() {
    let keys = keys();
    // No chat yet: the server answers 404 chat_not_found, which is an empty history, not "unknown user".
    let server = serve_full(bob_server(&keys.bob_new, vec![], |_| {
        Reply::json(404, error("chat_not_found"))
    }))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let history = fixture
        .device
        .history(&mut ring, "bob", 20, false)
        .await
        .unwrap();
    assert!(history.messages.is_empty() && !history.truncated);

    // Pages cut short by size (one message each, though more were asked for), with opaque cursors that
    // must come back byte for byte.
    let envelopes: Vec<Value> = (0..3)
        .map(|i| {
            from_bob(
                &keys.alice,
                &keys.bob_new,
                Some(&keys.bob_new),
                &format!("c{i}"),
                1_700_000_000_000 + i,
                &format!("text {i}"),
            )
        })
        .collect();
    let cursors = ["opaque.AAA-_x", "opaque.BBB+/="];
    let asked = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let log = asked.clone();
    let server = serve_full(bob_server(
        &keys.bob_new,
        vec![key_view(&keys.bob_new, "active", None, None)],
        move |request| {
            let cursor = request.query_param("cursor");
            log.lock().unwrap().push(cursor.clone());
            let (index, next) = match cursor.as_deref() {
                None => (0, Some(cursors[0])),
                Some(c) if c == cursors[0] => (1, Some(cursors[1])),
                Some(c) if c == cursors[1] => (2, None),
                Some(_) => return Reply::json(400, error("invalid_cursor")),
            };
            Reply::json(
                200,
                page(
                    vec![stored(
                        &format!("m_{index}"),
                        &envelopes[index],
                        1,
                        "u_alice",
                    )],
                    next,
                ),
            )
        },
    ))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox.len(), 3);
    let texts: Vec<&str> = inbox
        .iter()
        .map(|m| m.text.as_deref().unwrap().as_str())
        .collect();
    assert_eq!(texts, ["text 0", "text 1", "text 2"]);
    assert_eq!(
        *asked.lock().unwrap(),
        [
            None,
            Some(cursors[0].to_owned()),
            Some(cursors[1].to_owned())
        ]
    );
}

// ---- B: trust on first use of names -------------------------------------------------------------------------

#[tokio::test]
async fn a_server_remapping_a_username_is_refused_like_a_key_change() {
    let keys = keys();
    let mallory = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let remapped = Arc::new(Mutex::new(false));
    let sends = Arc::new(Mutex::new(0));
    let (state, sent) = (remapped.clone(), sends.clone());
    let bob = key_response("u_bob", &keys.bob_new);
    let evil = key_response("u_mallory", &mallory);
    let handler = move |request: &Request| -> Reply {
        let remapped = *state.lock().unwrap();
        match (request.method.as_str(), request.path.as_str()) {
            // After the remap, "bob" is a new account with the server's own key.
            ("GET", "/api/users/bob") if remapped => Reply::json(200, user("u_mallory", "bob")),
            ("GET", "/api/users/bob") => Reply::json(200, user("u_bob", "bob")),
            // A pinned user id reported under another name.
            ("GET", "/api/users/robert") => Reply::json(200, user("u_bob", "robert")),
            // An answer for another name than asked.
            ("GET", "/api/users/carol") => Reply::json(200, user("u_bob", "bob")),
            ("GET", "/api/crypto/public-key/u_bob") => Reply::json(200, bob.clone()),
            ("GET", "/api/crypto/public-key/u_mallory") => Reply::json(200, evil.clone()),
            ("POST", "/api/messages/send") => {
                *sent.lock().unwrap() += 1;
                Reply::json(500, error("must_not_be_reached"))
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    let server = serve_full(Arc::new(handler)).await;
    let mut fixture = alice(&server, &keys.alice);
    let first = fixture.device.verify_contact("bob", false).await.unwrap();
    assert_eq!(first.user_id, "u_bob");

    *remapped.lock().unwrap() = true;
    let ring = unlock(&fixture.device);
    let error = fixture
        .device
        .send(&ring, "bob", b"hello")
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), 5, "{error}");
    match &error {
        ClientError::IdentityChanged(change) => assert_eq!(
            **change,
            IdentityChange::Remapped {
                username: "bob".into(),
                pinned_user_id: "u_bob".into(),
                new_user_id: "u_mallory".into(),
            }
        ),
        other => panic!("{other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains("u_bob") && text.contains("u_mallory"),
        "{text}"
    );
    assert_eq!(*sends.lock().unwrap(), 0, "nothing was sent");
    // keys verify refuses it too, and nothing is pinned for the new id; a later run still refuses.
    let error = fixture
        .device
        .verify_contact("bob", false)
        .await
        .unwrap_err();
    assert_eq!(error.exit_code(), 5);
    assert!(fixture.device.contacts().get("u_mallory").is_none());
    let mut again = fixture.reopen(&server);
    assert_eq!(
        again
            .send(&ring, "bob", b"x")
            .await
            .unwrap_err()
            .exit_code(),
        5
    );
    let mut ring_again = unlock(&again);
    assert_eq!(
        again
            .history(&mut ring_again, "bob", 5, false)
            .await
            .unwrap_err()
            .exit_code(),
        5
    );

    // A pinned contact is never renamed silently.
    let error = again.verify_contact("robert", false).await.unwrap_err();
    match &error {
        ClientError::IdentityChanged(change) => assert_eq!(
            **change,
            IdentityChange::Renamed {
                user_id: "u_bob".into(),
                pinned_username: "bob".into(),
                new_username: "robert".into(),
            }
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(again.contacts().username("u_bob"), Some("bob"));
    let error = again.verify_contact("carol", false).await.unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidResponse(_)),
        "{error:?}"
    );

    // After checking with bob out of band, the user accepts the new account explicitly.
    let accepted = again.verify_contact("bob", true).await.unwrap();
    assert_eq!(accepted.user_id, "u_mallory");
    assert_eq!(again.contacts().username("u_mallory"), Some("bob"));
    assert_eq!(again.contacts().username("u_bob"), Some(""));
}

// ---- C: what is shown is what is signed -------------------------------------------------------------------

#[tokio::test]
async fn time_and_recipients_are_the_signed_ones_and_a_replay_is_flagged() {
    let keys = keys();
    let signed_at = 1_700_000_123_000;
    let envelope = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&keys.bob_new),
        "client-1",
        signed_at,
        "pay 10",
    );
    let unsigned = from_bob(
        &keys.alice,
        &keys.bob_new,
        None,
        "client-2",
        signed_at,
        "unsigned",
    );
    let delivery = Arc::new(Mutex::new(1));
    let which = delivery.clone();
    let server = serve_full(bob_server(
        &keys.bob_new,
        vec![key_view(&keys.bob_new, "active", None, None)],
        move |_| {
            let id = *which.lock().unwrap();
            // The server's time and receiver are lies; the second run delivers the same envelope again.
            Reply::json(
                200,
                page(
                    vec![
                        stored(&format!("m_{id}"), &envelope, 5, "u_carol"),
                        stored("m_unsigned", &unsigned, 5, "u_carol"),
                    ],
                    None,
                ),
            )
        },
    ))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    // Bob is a pinned contact.
    fixture.device.verify_contact("bob", false).await.unwrap();
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox[0].status, Verification::Verified);
    assert_eq!(inbox[0].created_at, Some(signed_at as i64));
    assert_eq!(inbox[0].stored_at, 5);
    let to: Vec<&str> = inbox[0]
        .recipients
        .iter()
        .map(|r| r.user_id.as_str())
        .collect();
    assert_eq!(to, ["u_alice"]);
    let shown = e2ee_client::output::inbox(&inbox, false);
    assert!(shown.contains("2023-11-14 22:15:23 UTC"), "{shown}");
    assert!(
        !shown.contains("u_carol") && !shown.contains("1970"),
        "{shown}"
    );
    // Unsigned, from a contact whose key is pinned: unverified, never verified.
    assert_eq!(inbox[1].status, Verification::Unverified);
    assert_eq!(inbox[1].reason.as_deref(), Some("not signed"));
    // Showing the same message again under its own id is not a replay.
    let again = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(again[0].status, Verification::Verified);
    assert!(again[0].replay_of.is_none());

    // A later run: the same signed envelope, delivered under a new server id.
    *delivery.lock().unwrap() = 2;
    let mut later = fixture.reopen(&server);
    let mut ring = unlock(&later);
    let replayed = later.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(replayed[0].message_id, "m_2");
    assert_eq!(replayed[0].replay_of.as_deref(), Some("m_1"));
    assert_eq!(replayed[0].status, Verification::Unverified);
    assert!(replayed[0].reason.as_deref().unwrap().contains("REPLAY"));
    let shown = e2ee_client::output::inbox(&replayed, false);
    assert!(shown.contains("REPLAY") && shown.contains("m_1"), "{shown}");
    let json = serde_json::to_value(&replayed[0]).unwrap();
    assert_eq!(json["replayOf"], "m_1");
    assert!(
        !format!("{:?}", replayed[0]).contains("pay 10"),
        "Debug redacts the text"
    );
}

#[tokio::test]
async fn the_key_listing_decides_what_retired_and_revoked_keys_vouch_for() {
    let keys = keys();
    let retired_at = 1_700_000_000_000_i64;
    let before = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&keys.bob_old),
        "before",
        retired_at as u64 - 1,
        "signed before the retirement",
    );
    let after = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&keys.bob_old),
        "after",
        retired_at as u64,
        "signed after the retirement",
    );
    let revoked_key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let by_revoked = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&revoked_key),
        "revoked",
        1,
        "signed by a revoked key",
    );
    let messages = vec![
        stored("m_1", &before, 1, "u_alice"),
        stored("m_2", &after, 2, "u_alice"),
        stored("m_3", &by_revoked, 3, "u_alice"),
    ];
    let server = serve_full(bob_server(
        &keys.bob_new,
        vec![
            key_view(&keys.bob_new, "active", None, None),
            key_view(&keys.bob_old, "retired", Some(retired_at), None),
            key_view(&revoked_key, "revoked", None, Some(10)),
        ],
        move |_| Reply::json(200, page(messages.clone(), None)),
    ))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    // First use on receipt pins bob's keys as the server lists them (revoked excluded).
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    let statuses: Vec<Verification> = inbox.iter().map(|m| m.status).collect();
    assert_eq!(
        statuses,
        [
            Verification::Verified,
            Verification::Unverified,
            Verification::Unverified
        ]
    );
    assert!(
        inbox[1].reason.as_deref().unwrap().contains("retired"),
        "{:?}",
        inbox[1].reason
    );
    assert!(
        inbox[2].reason.as_deref().unwrap().contains("revoked"),
        "{:?}",
        inbox[2].reason
    );
    assert!(
        inbox.iter().all(|m| m.text.is_some()),
        "readable, just not vouched for"
    );
}

// ---- D: hostile transport ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_saved_token_is_never_sent_to_another_server() {
    let seen = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let log = seen.clone();
    let other = serve_full(Arc::new(move |request: &Request| {
        log.lock()
            .unwrap()
            .push(request.header("authorization").map(str::to_owned));
        Reply::json(401, error("missing_token"))
    }))
    .await;
    let home_seen = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let home_log = home_seen.clone();
    let home = serve_full(Arc::new(move |request: &Request| {
        home_log
            .lock()
            .unwrap()
            .push(request.header("authorization").map(str::to_owned));
        Reply::json(200, user("u_bob", "bob"))
    }))
    .await;
    let keys = keys();
    let fixture = alice(&home, &keys.alice);
    let mut elsewhere = fixture.reopen(&other);
    let error = elsewhere.verify_contact("bob", false).await.unwrap_err();
    assert!(
        matches!(error, ClientError::OtherServer { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), 4);
    let text = error.to_string();
    assert!(
        text.contains(&home) && text.contains(&other) && text.contains("login"),
        "{text}"
    );
    let headers = seen.lock().unwrap().clone();
    assert!(
        !headers.is_empty() && headers.iter().all(Option::is_none),
        "{headers:?}"
    );
    // The profile's own server gets it.
    let mut at_home = fixture.reopen(&home);
    let _ = at_home.verify_contact("bob", false).await;
    assert_eq!(
        home_seen
            .lock()
            .unwrap()
            .first()
            .cloned()
            .flatten()
            .as_deref(),
        Some("Bearer token")
    );
}

#[tokio::test]
async fn oversized_answers_are_refused_not_read() {
    let handler = |_: &Request| -> Reply {
        // Valid JSON, 9 MiB: the old client parsed it.
        let name = "x".repeat(9 * 1024 * 1024);
        Reply::json(
            200,
            json!({"userId": "u_bob", "username": "bob", "displayName": name}),
        )
    };
    let server = serve_full(Arc::new(handler)).await;
    let keys = keys();
    let mut fixture = alice(&server, &keys.alice);
    let error = fixture
        .device
        .verify_contact("bob", false)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidResponse(_)),
        "{error:?}"
    );
    assert!(error.to_string().contains("8 MiB"), "{error}");
}

#[tokio::test]
async fn a_server_that_pages_forever_is_stopped() {
    let keys = keys();
    // The same cursor again and again.
    let server = serve_full(Arc::new(|_: &Request| {
        Reply::json(200, page(vec![], Some("again")))
    }))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        fixture.device.inbox(&mut ring, 10, false),
    )
    .await
    .expect("the paging loop must end");
    let error = result.unwrap_err();
    assert!(error.to_string().contains("same cursor"), "{error}");

    // A new cursor every time, never a message.
    let counter = Arc::new(Mutex::new(0u64));
    let count = counter.clone();
    let server = serve_full(Arc::new(move |_: &Request| {
        let mut n = count.lock().unwrap();
        *n += 1;
        Reply::json(200, page(vec![], Some(&format!("c{n}"))))
    }))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        fixture.device.inbox(&mut ring, 10, false),
    )
    .await
    .expect("the paging loop must end");
    assert!(result.unwrap_err().to_string().contains("pages"));
    assert_eq!(
        *counter.lock().unwrap(),
        e2ee_client::device::MAX_PAGES as u64
    );
}
