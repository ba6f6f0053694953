//! The SDK's send logic against a scripted HTTP server: the retries the real server rarely provokes
//! (a receiver's key rotating between fetch and send, a response lost in transit).

use std::sync::{Arc, Mutex};

use e2ee_client::device::Device;
use e2ee_client::error::ClientError;
use e2ee_client::profile::{Profile, SessionData};
use e2ee_crypto::{Envelope, KeySize, PrivateKey};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use zeroize::Zeroizing;

type Handler = dyn Fn(&str, &str, &Value) -> (u16, Value) + Send + Sync;

/// Serves HTTP/1.1 (keep-alive) on a free port; every request goes to `handler`.
async fn serve(handler: Arc<Handler>) -> String {
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
                    let path = parts.next().unwrap_or("").to_owned();
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).await.unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; length];
                    reader.read_exact(&mut body).await.unwrap();
                    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let (status, reply) = handler(&method, &path, &body);
                    let reply = reply.to_string();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                    if writer.write_all(response.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{address}")
}

struct Fixture {
    _root: tempfile::TempDir,
    device: Device,
}

/// A logged-in profile for `u_alice` with a key (passphrase "pass phrase").
fn alice(server: &str, key: &PrivateKey) -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let mut profile = Profile::open(root.path(), "alice").unwrap();
    profile.data.user_id = Some("u_alice".into());
    profile.data.username = Some("alice".into());
    let local = profile.write_key(key, "pass phrase", 1).unwrap();
    profile.add_key(local);
    profile.save().unwrap();
    profile
        .save_session(&SessionData {
            token: Zeroizing::new("token".into()),
            expires_at: i64::MAX,
        })
        .unwrap();
    let device = Device::open(profile, Some(server)).unwrap();
    Fixture {
        _root: root,
        device,
    }
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
