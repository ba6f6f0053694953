//! A scripted HTTP server for the SDK's tests, and the fixtures they share: a logged-in profile for alice,
//! bob's keys and envelopes, stored messages and pages as the API renders them. Also used by the CLI's
//! tests of what `e2ee` shows (clients/cli/tests/shown.rs includes this file).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use base64::Engine;
use e2ee_client::device::Device;
use e2ee_client::keyring::KeyRing;
use e2ee_client::profile::{Profile, SessionData};
use e2ee_crypto::{KeySize, KeyStatement, PrivateKey, PublicKey, Recipient, SealParams};
use e2ee_protocol::chat_id;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

pub type Handler = dyn Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync;

/// A request as the scripted server saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Without the query string.
    pub path: String,
    pub query: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
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

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }
}

pub type FullHandler = dyn Fn(&Request) -> Reply + Send + Sync;

/// Serves HTTP/1.1 (keep-alive) on a free port; every request goes to `handler`.
pub async fn serve(handler: Arc<Handler>) -> String {
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

pub async fn serve_full(handler: Arc<FullHandler>) -> String {
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

pub struct Fixture {
    pub root: tempfile::TempDir,
    pub device: Device,
}

impl Fixture {
    /// The same profile, opened again (a later run of the command).
    pub fn reopen(&self, server: &str) -> Device {
        Device::open(
            Profile::open(self.root.path(), "alice").unwrap(),
            Some(server),
        )
        .unwrap()
    }
}

/// A logged-in profile for `u_alice` with a key (passphrase "pass phrase").
pub fn alice(server: &str, key: &PrivateKey) -> Fixture {
    alice_with(server, Some(key))
}

/// A logged-in profile for `u_alice` with a fresh key (passphrase "pass phrase").
pub fn alice_with_a_key(server: &str) -> Fixture {
    alice(server, &PrivateKey::generate(KeySize::Rsa2048).unwrap())
}

/// A logged-in profile for `u_alice` on `server`, with or without a key.
pub fn alice_with(server: &str, key: Option<&PrivateKey>) -> Fixture {
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

pub fn key_response(user_id: &str, key: &PrivateKey) -> Value {
    json!({
        "userId": user_id,
        "keyId": key.key_id().to_string(),
        "fingerprint": key.key_id().fingerprint(),
        "bits": 2048,
        "publicKey": key.public_key().to_spki_pem().unwrap(),
        "createdAt": 1,
    })
}

pub fn error(code: &str) -> Value {
    json!({"error": {"code": code, "message": code}})
}

pub struct Keys {
    pub alice: PrivateKey,
    pub bob_old: PrivateKey,
    pub bob_new: PrivateKey,
}

pub fn keys() -> Keys {
    Keys {
        alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob_old: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob_new: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
    }
}

pub fn b64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

pub fn user(user_id: &str, username: &str) -> Value {
    json!({"userId": user_id, "username": username, "displayName": null})
}

pub fn key_view(
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

/// A key's `endorsement` as the server lists it: `endorser`'s signature over the `register` statement of
/// `key` for `user_id` at `at` (what `keys rotate` sends as the authorization).
pub fn endorsement(user_id: &str, endorser: &PrivateKey, key: &PrivateKey, at: u64) -> Value {
    let statement = KeyStatement {
        operation: e2ee_crypto::KeyOperation::Register,
        user_id,
        key_id: key.key_id(),
        created_at: at,
    };
    json!({
        "keyId": endorser.key_id().to_string(),
        "createdAt": at,
        "signature": base64::engine::general_purpose::STANDARD.encode(statement.sign(endorser).unwrap()),
    })
}

/// `GET /api/crypto/public-key/{id}?all=true`: `active` plus every listed key.
pub fn listing(user_id: &str, active: &PrivateKey, keys: Vec<Value>) -> Value {
    let mut response = key_response(user_id, active);
    response["keys"] = Value::Array(keys);
    response
}

/// An envelope from bob to alice's `alice_key` (and bob's `bob_key`), signed by `signer` if any.
pub fn from_bob(
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
pub fn stored(id: &str, envelope: &Value, server_time: i64, receiver: &str) -> Value {
    json!({
        "messageId": id,
        "chatId": chat_id("u_alice", "u_bob"),
        "senderId": envelope["senderId"],
        "receiverId": receiver,
        "clientMessageId": envelope["messageId"],
        "envelope": envelope,
        "createdAt": server_time,
        "readAt": null,
    })
}

pub fn page(messages: Vec<Value>, next: Option<&str>) -> Value {
    json!({"messages": messages, "nextCursor": next})
}

pub fn unlock(device: &Device) -> KeyRing {
    device.unlock(Zeroizing::new("pass phrase".into())).unwrap()
}

/// A scripted bob: lookups, his key listing, and a chat whose history the handler `history` serves.
pub fn bob_server(
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

/// The answer of `POST /api/messages/send` for `envelope` (as received in the request body).
pub fn sent(envelope: &Value) -> Value {
    json!({"messageId": "m_1", "chatId": "c_1", "clientMessageId": envelope["messageId"], "createdAt": 5})
}

/// The answer of `POST /api/crypto/register-key` for the key in the request `body`: registered as active at
/// `created_at`, with `fingerprint` (`None`: the key's own).
pub fn key_registered(body: &Value, fingerprint: Option<&str>, created_at: i64) -> Reply {
    let pem = body["publicKey"].as_str().unwrap();
    let key = PublicKey::from_spki_pem(pem).unwrap();
    let fingerprint = fingerprint.map_or_else(|| key.key_id().fingerprint(), str::to_owned);
    Reply::json(
        201,
        json!({"keyId": key.key_id().to_string(), "fingerprint": fingerprint, "bits": 2048,
               "publicKey": pem, "status": "active", "createdAt": created_at}),
    )
}

/// A register-key handler that wants the password "account password": else 403 `refusal`.
pub fn register_with_password(request: &Request, refusal: &str, created_at: i64) -> Reply {
    if request.body["password"] != "account password" {
        return Reply::json(403, error(refusal));
    }
    key_registered(&request.body, Some("F"), created_at)
}

/// Whether the request `body`'s `authorization` is `signer`'s signature over `statement`.
pub fn authorized_by(body: &Value, statement: &KeyStatement<'_>, signer: &PublicKey) -> bool {
    body["authorization"]["keyId"] == signer.key_id().to_string().as_str()
        && statement
            .verify(
                signer,
                &b64(body["authorization"]["signature"].as_str().unwrap()),
            )
            .is_ok()
}

/// The bodies a scripted server recorded.
pub type Recorded = Arc<Mutex<Vec<Value>>>;

/// A server for alice's key operations: `GET /api/crypto/public-key/u_alice` answers `active` (status and
/// body), `POST /api/crypto/register-key` is recorded and answered by `register`; anything else is 404.
pub async fn key_server(
    active: (u16, Value),
    register: impl Fn(&Request) -> Reply + Send + Sync + 'static,
) -> (String, Recorded) {
    let recorded = Recorded::default();
    let log = recorded.clone();
    let handler = move |request: &Request| -> Reply {
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(active.0, active.1.clone()),
            ("POST", "/api/crypto/register-key") => {
                log.lock().unwrap().push(request.body.clone());
                register(request)
            }
            _ => Reply::json(404, error("not_found")),
        }
    };
    (serve_full(Arc::new(handler)).await, recorded)
}

/// A listed, active device of `user_id` certified by `issuer` at `issued_at`.
pub fn certified_device(
    user_id: &str,
    device_id: &str,
    issuer: &PrivateKey,
    issued_at: u64,
) -> Value {
    let signature_key = [device_id.len() as u8; 32];
    let statement = e2ee_crypto::DeviceStatement {
        user_id,
        device_id,
        signature_key: &signature_key,
        issuer_key_id: issuer.key_id(),
        created_at: issued_at,
    };
    let signature = statement.sign(issuer).unwrap();
    json!({
        "userId": user_id, "deviceId": device_id, "displayName": device_id,
        "signatureKey": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature_key),
        "status": "active",
        "certificate": {"issuerKeyId": issuer.key_id().to_string(), "issuedAt": issued_at,
                        "signature": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, signature)},
        "createdAt": 1, "approvedAt": null, "revokedAt": null,
    })
}
