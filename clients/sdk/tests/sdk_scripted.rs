//! The SDK against a scripted HTTP server: the retries the real server rarely provokes (a receiver's key
//! rotating between fetch and send, a response lost in transit), and what a hostile or broken server can do
//! that the real one never does (remap a username, replay a message, lie about times and recipients, page
//! forever, answer with huge bodies), plus the signed key operations.

mod scripted;

use std::sync::{Arc, Mutex};

use e2ee_client::error::{ClientError, IdentityChange};
use e2ee_client::messages::Verification;
use e2ee_crypto::{Envelope, KeyOperation, KeySize, KeyStatement, PrivateKey};
use scripted::*;
use serde_json::{Value, json};
use zeroize::Zeroizing;

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
            ("GET", "/api/users/bob") => (200, user("u_bob", "bob")),
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
                    (201, sent(&envelope))
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
    let ring = unlock(&fixture.device);
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
    let ring = unlock(&fixture.device);
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
            ("GET", "/api/users/bob") => (200, user("u_bob", "bob")),
            ("GET", "/api/crypto/public-key/u_bob") => (200, bob.clone()),
            ("POST", "/api/messages/send") => {
                let mut sends = recorded.lock().unwrap();
                sends.push(body["envelope"].clone());
                if sends.len() == 1 {
                    // Stored, but the gateway timed out: the client cannot know.
                    (503, error("store_unavailable"))
                } else {
                    (200, sent(&body["envelope"]))
                }
            }
            _ => (404, error("not_found")),
        }
    };
    let server = serve(Arc::new(handler)).await;
    let mut fixture = alice(&server, &keys.alice);
    let ring = unlock(&fixture.device);
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
    let mut fixture = alice_with_a_key(&server);
    let error = fixture
        .device
        .verify_contact("bob", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ClientError::Api { status: 401, code, .. } if code.as_str() == "invalid_token"),
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

/// `keys init` (passphrase "pass phrase", 2048 bits) on `fixture`'s device, which must fail.
async fn keys_init_error(
    fixture: &mut Fixture,
    replace: bool,
    password: Option<&str>,
) -> ClientError {
    let init = fixture
        .device
        .keys_init("pass phrase", 2048, replace, password);
    init.await.unwrap_err()
}

#[tokio::test]
async fn rotation_is_proven_by_the_new_key_and_authorized_by_the_active_one() {
    let old = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let old_pem = old.public_key().to_spki_pem().unwrap();
    let old_id = old.key_id().to_string();
    let (server, registered) = key_server((200, key_response("u_alice", &old)), move |request| {
        let body = &request.body;
        let pem = body["publicKey"].as_str().unwrap();
        let key = e2ee_crypto::PublicKey::from_spki_pem(pem).unwrap();
        let created_at = body["createdAt"].as_u64().unwrap();
        let new_id = key.key_id().to_string();
        let signed = statement(KeyOperation::Register, "u_alice", &new_id, created_at);
        let proof_ok = signed
            .verify(&key, &b64(body["proof"].as_str().unwrap()))
            .is_ok();
        let old_key = e2ee_crypto::PublicKey::from_spki_pem(&old_pem).unwrap();
        let authorized = authorized_by(body, &signed, &old_key);
        if !(proof_ok && authorized) {
            return Reply::json(403, error("authorization_failed"));
        }
        key_registered(body, None, 777)
    })
    .await;
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
    let now = u64::try_from(e2ee_client::clock::now_ms()).unwrap();
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
    let (server, registered) = key_server((200, key_response("u_alice", &foreign)), |request| {
        register_with_password(request, "authorization_failed", 5)
    })
    .await;
    // A new device of an account whose active key is elsewhere.
    let mut fixture = alice_with(&server, None);
    let error = keys_init_error(&mut fixture, true, None).await;
    assert!(matches!(error, ClientError::PasswordRequired), "{error:?}");
    assert!(error.to_string().contains("--password-env"), "{error}");
    assert!(
        registered.lock().unwrap().is_empty(),
        "nothing sent without a factor"
    );
    assert!(fixture.device.profile().current_key().is_none());

    let error = keys_init_error(&mut fixture, true, Some("wrong password")).await;
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
    let (server, registered) = key_server((404, error("no_active_key")), |_| {
        // The account had keys once (all revoked): the server wants a second factor.
        Reply::json(403, error("authorization_required"))
    })
    .await;
    let mut fixture = alice_with(&server, None);
    let error = keys_init_error(&mut fixture, false, None).await;
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
                let ok = authorized_by(body, &signed, &signer);
                if !ok {
                    return Reply::json(403, error("authorization_failed"));
                }
                *state.lock().unwrap() = true;
                Reply::json(200, revoked_view.clone())
            }
            ("POST", "/api/crypto/register-key") => {
                log.lock().unwrap().push(request.body.clone());
                register_with_password(request, "authorization_required", 5000)
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
    let mut fixture = alice_with_a_key(&server);
    let error = fixture
        .device
        .login("alice", Zeroizing::new("password".into()))
        .await
        .unwrap_err();
    match &error {
        ClientError::RateLimited {
            code, retry_after, ..
        } => {
            assert_eq!(*code, e2ee_protocol::ErrorCode::TooManyAttempts);
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
        matches!(&error, ClientError::RateLimited { code, .. } if *code == e2ee_protocol::ErrorCode::QuotaExceeded),
        "{error:?}"
    );
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
    assert_identity_change(
        &error,
        IdentityChange::Remapped {
            username: "bob".into(),
            pinned_user_id: "u_bob".into(),
            new_user_id: "u_mallory".into(),
        },
    );
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
    assert_identity_change(
        &error,
        IdentityChange::Renamed {
            user_id: "u_bob".into(),
            pinned_username: "bob".into(),
            new_username: "robert".into(),
        },
    );
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

/// Issue 21: a server that knows `u_bob` under `listed_name` (his key listing names it) and, when `pinned` is
/// given, `bob` as that other user (id, key) for lookups; alice's inbox holds one signed message from bob.
/// No lookup of bob's id by name is answered: what alice learns of his name comes from the listing.
async fn bob_named_by_his_listing(
    listed_name: &str,
    pinned: Option<(&'static str, &PrivateKey)>,
) -> String {
    let keys = keys();
    let hello = from_bob(
        &keys.alice,
        &keys.bob_new,
        Some(&keys.bob_new),
        "hello",
        1,
        "hi",
    );
    let messages = vec![stored("m_1", &hello, 1, "u_alice")];
    let mut bob_listing = listing(
        "u_bob",
        &keys.bob_new,
        vec![key_view(&keys.bob_new, "active", None, None)],
    );
    bob_listing["username"] = json!(listed_name);
    let other = pinned.map(|(user_id, key)| {
        (
            user_id,
            key_response(user_id, key),
            listing(user_id, key, vec![key_view(key, "active", None, None)]),
        )
    });
    serve_full(Arc::new(move |request: &Request| -> Reply {
        let path = request.path.as_str();
        match (&other, request.method.as_str()) {
            (Some((user_id, _, _)), "GET") if path == "/api/users/bob" => {
                return Reply::json(200, user(user_id, "bob"));
            }
            (Some((user_id, key, keys)), "GET")
                if path == format!("/api/crypto/public-key/{user_id}") =>
            {
                let all = request.query == "all=true";
                return Reply::json(200, if all { keys.clone() } else { key.clone() });
            }
            _ => {}
        }
        match (request.method.as_str(), path) {
            ("GET", "/api/crypto/public-key/u_bob") if request.query == "all=true" => {
                Reply::json(200, bob_listing.clone())
            }
            ("GET", p) if p.starts_with("/api/messages/") => {
                Reply::json(200, page(messages.clone(), None))
            }
            _ => Reply::json(404, error("not_found")),
        }
    }))
    .await
}

/// Issue 21: a user met only by id (a sender here; group members and senders are pinned the same way, from
/// the key listing when their devices are checked) is shown under the username his key listing names, and
/// that name is pinned with his key, both ways. Before, he showed as his user id until looked up by name.
#[tokio::test]
async fn a_sender_never_looked_up_is_shown_under_the_username_pinned_from_his_listing() {
    let keys = keys();
    let server = bob_named_by_his_listing("bob", None).await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].sender_id, "u_bob");
    assert_eq!(inbox[0].sender.as_deref(), Some("bob"));
    let contacts = fixture.device.contacts();
    assert_eq!(contacts.username("u_bob"), Some("bob"));
    assert_eq!(
        contacts.by_username("bob").map(|c| c.user_id.as_str()),
        Some("u_bob")
    );
    // A name the server could never have registered (a bidi override) is neither shown nor pinned.
    let server = bob_named_by_his_listing("bob\u{202e}", None).await;
    let mut fixture = alice(&server, &keys.alice);
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox[0].sender, None);
    assert_eq!(fixture.device.contacts().username("u_bob"), Some(""));
}

/// Issue 21: a key listing that names a user id under a username this device pinned to another user renames
/// nobody: the pinned user keeps the name, the listed one is shown by user id and pinned without a name.
#[tokio::test]
async fn a_listed_username_pinned_to_another_user_renames_nobody() {
    let keys = keys();
    let server = bob_named_by_his_listing("bob", Some(("u_robert", &keys.bob_old))).await;
    let mut fixture = alice(&server, &keys.alice);
    let robert = fixture.device.verify_contact("bob", false).await.unwrap();
    assert_eq!(robert.user_id, "u_robert");
    let mut ring = unlock(&fixture.device);
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    assert_eq!(inbox[0].sender_id, "u_bob");
    assert_eq!(
        inbox[0].sender, None,
        "shown by user id, not as the pinned bob"
    );
    let contacts = fixture.device.contacts();
    assert_eq!(contacts.username("u_robert"), Some("bob"));
    assert_eq!(contacts.username("u_bob"), Some(""));
    assert_eq!(
        contacts.by_username("bob").map(|c| c.user_id.as_str()),
        Some("u_robert")
    );
}

// ---- C: what is shown is what is signed -------------------------------------------------------------------

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
    // First use on receipt pins only bob's active key (review N2): a retired key the server lists beside it
    // is not trusted, not even for messages dated before its retirement.
    let inbox = fixture.device.inbox(&mut ring, 10, false).await.unwrap();
    let statuses: Vec<Verification> = inbox.iter().map(|m| m.status).collect();
    assert_eq!(
        statuses,
        [
            Verification::Unverified,
            Verification::Unverified,
            Verification::Unverified
        ]
    );
    assert!(
        inbox[1].reason.as_deref().unwrap().contains("retired"),
        "{:?}",
        inbox[1].reason
    );
    assert!(inbox[0].reason.is_some(), "{:?}", inbox[0].reason);
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

/// Review N2: at first contact the server lists a "retired" key of its own beside bob's active key, and a
/// device certified by it. Only the active key is pinned, so the ghost device is not trusted (and would not
/// be added to any group), and `keys verify` shows exactly the keys this device trusts.
#[tokio::test]
async fn a_ghost_key_listed_as_retired_certifies_nothing() {
    let keys = keys();
    let ghost_key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let devices = json!({"userId": "u_bob", "devices": [
        certified_device("u_bob", "phone", &keys.bob_new, 1_700_000_000_000),
        certified_device("u_bob", "ghost", &ghost_key, 1_600_000_000_000),
    ]});
    let listing_handler = bob_server(
        &keys.bob_new,
        vec![
            key_view(&keys.bob_new, "active", None, None),
            key_view(&ghost_key, "retired", Some(1_650_000_000_000), None),
        ],
        |_| Reply::json(404, error("not_found")),
    );
    let server = serve_full(Arc::new(move |request: &Request| {
        if request.method == "GET" && request.path == "/api/devices/u_bob" {
            return Reply::json(200, devices.clone());
        }
        listing_handler(request)
    }))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let listed = fixture.device.device_list(Some("bob")).await.unwrap();
    let trusted: Vec<(&str, bool)> = listed
        .devices
        .iter()
        .map(|d| (d.device_id.as_str(), d.trusted))
        .collect();
    assert_eq!(trusted, [("phone", true), ("ghost", false)]);

    let report = fixture.device.verify_contact("bob", false).await.unwrap();
    let trusted_keys: Vec<&str> = report
        .trusted_keys
        .iter()
        .map(|k| k.key_id.as_str())
        .collect();
    assert_eq!(trusted_keys, [keys.bob_new.key_id().to_string()]);
    let contact = fixture.device.contacts().get("u_bob").unwrap();
    assert_eq!(report.safety_number, contact.safety_number());
    assert!(!contact.trusts(&ghost_key.key_id().to_string()));
}

/// A scripted bob whose keys alice pinned while `old` was active, and who then rotated: once the returned
/// flag is set the server answers `active` as his key and `listing` (with whatever endorsements) as his key
/// listing. His devices: `old-phone`, certified by `old` two minutes ago, and `tablet`, certified by `active`
/// now. Returns the server, the flag and the envelopes it received.
async fn rotated_bob(
    old: &PrivateKey,
    active: &PrivateKey,
    listing_keys: Vec<Value>,
) -> (String, Arc<std::sync::atomic::AtomicBool>, Recorded) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let rotated = Arc::new(AtomicBool::new(false));
    let sends = Recorded::default();
    let (before, after) = (
        (
            key_response("u_bob", old),
            listing("u_bob", old, vec![key_view(old, "active", None, None)]),
        ),
        (
            key_response("u_bob", active),
            listing("u_bob", active, listing_keys),
        ),
    );
    let now = now_ms_u64();
    let devices = json!({"userId": "u_bob", "devices": [
        certified_device("u_bob", "old-phone", old, now - 120_000),
        certified_device("u_bob", "tablet", active, now),
    ]});
    let (flag, log) = (rotated.clone(), sends.clone());
    let server = serve_full(Arc::new(move |request: &Request| {
        let (key, keys) = if flag.load(Ordering::SeqCst) {
            &after
        } else {
            &before
        };
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/api/users/bob") => Reply::json(200, user("u_bob", "bob")),
            ("GET", "/api/crypto/public-key/u_bob") if request.query == "all=true" => {
                Reply::json(200, keys.clone())
            }
            ("GET", "/api/crypto/public-key/u_bob") => Reply::json(200, key.clone()),
            ("GET", "/api/devices/u_bob") => Reply::json(200, devices.clone()),
            ("POST", "/api/messages/send") => {
                let envelope = request.body["envelope"].clone();
                log.lock().unwrap().push(envelope.clone());
                Reply::json(201, sent(&envelope))
            }
            _ => Reply::json(404, error("not_found")),
        }
    }))
    .await;
    (server, rotated, sends)
}

/// Review N2, rotation chains: bob rotates with `keys rotate`, so his listing shows the new key endorsed by the
/// key alice pinned. Alice's next send follows the rotation instead of refusing with a key change (before
/// rotation chains, every rotation was a key change), and `keys verify` reports a later rotation as unchanged,
/// naming the key it was followed from.
#[tokio::test]
async fn a_rotation_signed_by_the_pinned_key_is_followed_without_a_key_change() {
    use std::sync::atomic::Ordering;
    let keys = keys();
    let rotated_at = now_ms_u64() - 60_000;
    let newest = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let (server, rotate, sends) = rotated_bob(
        &keys.bob_old,
        &keys.bob_new,
        vec![
            key_view(&keys.bob_new, "active", None, None).tap_endorse(endorsement(
                "u_bob",
                &keys.bob_old,
                &keys.bob_new,
                rotated_at,
            )),
            key_view(&keys.bob_old, "retired", Some(rotated_at as i64 + 5), None),
        ],
    )
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let report = fixture.device.verify_contact("bob", false).await.unwrap();
    assert_eq!(report.key_id, keys.bob_old.key_id().to_string());

    rotate.store(true, Ordering::SeqCst);
    let ring = unlock(&fixture.device);
    let sent = fixture.device.send(&ring, "bob", b"hello").await.unwrap();
    assert_eq!(sent.receiver_key_id, keys.bob_new.key_id().to_string());
    assert_eq!(sends.lock().unwrap().len(), 1);
    let bob = fixture.device.contacts().get("u_bob").unwrap().clone();
    assert_eq!(bob.key_id, keys.bob_new.key_id().to_string());
    assert_eq!(bob.previous_keys.len(), 1);
    assert_eq!(
        bob.previous_keys[0].key_id,
        keys.bob_old.key_id().to_string()
    );
    assert_eq!(bob.previous_keys[0].replaced_at, rotated_at as i64);
    // Saved: a later run trusts the new key without fetching anything new.
    let mut again = fixture.reopen(&server);
    let report = again.verify_contact("bob", false).await.unwrap();
    assert_eq!(
        serde_json::to_value(&report).unwrap()["status"],
        "unchanged"
    );
    assert!(report.rotated_from_key_id.is_none());

    // A second rotation, seen first by `keys verify`: still `unchanged`, naming the key it was followed from.
    let (server, rotate, _) = rotated_bob(
        &keys.bob_new,
        &newest,
        vec![
            key_view(&newest, "active", None, None).tap_endorse(endorsement(
                "u_bob",
                &keys.bob_new,
                &newest,
                rotated_at + 1_000,
            )),
            key_view(
                &keys.bob_new,
                "retired",
                Some(rotated_at as i64 + 1_005),
                None,
            )
            .tap_endorse(endorsement(
                "u_bob",
                &keys.bob_old,
                &keys.bob_new,
                rotated_at,
            )),
            key_view(&keys.bob_old, "retired", Some(rotated_at as i64 + 5), None),
        ],
    )
    .await;
    rotate.store(true, Ordering::SeqCst);
    let mut later = fixture.reopen(&server);
    let report = later.verify_contact("bob", false).await.unwrap();
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "unchanged", "{json}");
    assert_eq!(json["keyId"], newest.key_id().to_string().as_str());
    assert_eq!(
        json["rotatedFromKeyId"],
        keys.bob_new.key_id().to_string().as_str()
    );
    assert!(json.get("pinnedKeyId").is_none(), "{json}");
    let trusted: Vec<&str> = report
        .trusted_keys
        .iter()
        .map(|k| k.key_id.as_str())
        .collect();
    assert_eq!(
        trusted,
        [
            newest.key_id().to_string(),
            keys.bob_old.key_id().to_string(),
            keys.bob_new.key_id().to_string()
        ]
    );
    // The followed key vouches for bob's devices (MLS groups), and the key it replaced still does for what it
    // certified before the rotation.
    assert_eq!(
        trusted_devices(&mut later).await,
        [("old-phone".to_owned(), true), ("tablet".to_owned(), true)]
    );
}

/// Which of bob's listed devices alice's device trusts.
async fn trusted_devices(device: &mut e2ee_client::device::Device) -> Vec<(String, bool)> {
    let listed = device.device_list(Some("bob")).await.unwrap();
    listed
        .devices
        .iter()
        .map(|d| (d.device_id.clone(), d.trusted))
        .collect()
}

/// Review N2, rotation chains against a lying server: after alice pinned bob's key, the server lists a key of
/// its own as bob's active key with an endorsement it invented (naming the pinned key, signed by another key;
/// or signed by a key the server made and lists as retired). Neither is a signature of the pinned key: sending
/// is refused as a key change, nothing is sent, and the pin stays.
#[tokio::test]
async fn an_endorsement_the_server_invented_is_a_key_change() {
    use std::sync::atomic::Ordering;
    let keys = keys();
    let server_key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let at = now_ms_u64() - 60_000;
    let mut invented = endorsement("u_bob", &server_key, &keys.bob_new, at);
    invented["keyId"] = json!(keys.bob_old.key_id().to_string());
    let pinned_listed = key_view(&keys.bob_old, "retired", Some(at as i64 + 5), None);
    let lies = [
        (
            "an endorsement naming the pinned key, signed by another key",
            vec![
                key_view(&keys.bob_new, "active", None, None).tap_endorse(invented),
                pinned_listed.clone(),
            ],
        ),
        (
            "an endorsement by a key the server made",
            vec![
                key_view(&keys.bob_new, "active", None, None).tap_endorse(endorsement(
                    "u_bob",
                    &server_key,
                    &keys.bob_new,
                    at,
                )),
                key_view(&server_key, "retired", Some(at as i64), None),
                pinned_listed.clone(),
            ],
        ),
    ];
    for (what, listed) in lies {
        let (server, rotate, sends) = rotated_bob(&keys.bob_old, &keys.bob_new, listed).await;
        let mut fixture = alice(&server, &keys.alice);
        fixture.device.verify_contact("bob", false).await.unwrap();
        rotate.store(true, Ordering::SeqCst);
        let ring = unlock(&fixture.device);
        let error = fixture
            .device
            .send(&ring, "bob", b"hello")
            .await
            .unwrap_err();
        match &error {
            ClientError::KeyChanged(change) => {
                assert_eq!(
                    change.old_key_id,
                    keys.bob_old.key_id().to_string(),
                    "{what}"
                );
                assert_eq!(
                    change.new_key_id,
                    keys.bob_new.key_id().to_string(),
                    "{what}"
                );
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(sends.lock().unwrap().is_empty(), "{what}");
        let bob = fixture.device.contacts().get("u_bob").unwrap();
        assert_eq!(bob.key_id, keys.bob_old.key_id().to_string(), "{what}");
        assert!(!bob.trusts(&keys.bob_new.key_id().to_string()), "{what}");
        // The new key vouches for no device; the pinned one still does for what it certified before.
        assert_eq!(
            trusted_devices(&mut fixture.device).await,
            [("old-phone".to_owned(), true), ("tablet".to_owned(), false)],
            "{what}"
        );
        // keys verify reports it as a change, as before.
        let report = fixture.device.verify_contact("bob", false).await.unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "changed", "{what}: {json}");
        assert!(json.get("rotatedFromKeyId").is_none(), "{what}: {json}");
    }
}

/// Milliseconds since the Unix epoch.
fn now_ms_u64() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Sets a listed key's `endorsement`.
trait TapEndorse {
    fn tap_endorse(self, endorsement: Value) -> Value;
}

impl TapEndorse for Value {
    fn tap_endorse(mut self, endorsement: Value) -> Value {
        self["endorsement"] = endorsement;
        self
    }
}

/// Review N1 (client half): a Welcome this device cannot join (here: bytes that are no Welcome at all) never
/// makes `sync` fail. It is reported, and acknowledged because the refusal is final, so the inbox moves on.
#[tokio::test]
async fn a_welcome_that_cannot_be_joined_is_reported_and_acknowledged_not_an_error() {
    let keys = keys();
    let acks = Recorded::default();
    let recorded = acks.clone();
    let server = serve_full(Arc::new(move |request: &Request| {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/devices/session") => Reply::json(
                200,
                json!({"token": "device-token", "tokenType": "Bearer", "userId": "u_alice",
                       "deviceId": "laptop", "expiresAt": 4_000_000_000_000_i64}),
            ),
            ("GET", "/api/welcomes") => Reply::json(
                200,
                json!({"welcomes": [{"groupId": "ab".repeat(16), "epoch": 1, "welcome": "AAECAwQ=",
                                     "createdAt": 1}]}),
            ),
            ("POST", "/api/welcomes/ack") => {
                recorded.lock().unwrap().push(request.body.clone());
                let body = &request.body;
                Reply::json(
                    200,
                    json!({"groupId": body["groupId"], "epoch": body["epoch"], "acknowledged": true}),
                )
            }
            ("GET", "/api/key-packages/supply") => {
                Reply::json(200, json!({"oneTime": 50, "lastResort": true}))
            }
            _ => Reply::json(404, error("not_found")),
        }
    }))
    .await;
    let mut fixture = alice(&server, &keys.alice);
    let mut state = e2ee_client::mls::MlsState::create(b"state pass", "u_alice", "laptop").unwrap();
    let report = fixture.device.sync(&mut state).await.unwrap();
    assert!(report.joined.is_empty());
    assert_eq!(report.refused.len(), 1, "{:?}", report.refused);
    assert!(
        report.refused[0].contains("cannot read"),
        "{:?}",
        report.refused
    );
    let acks = acks.lock().unwrap();
    assert_eq!(acks.len(), 1, "a final refusal is acknowledged");
    assert_eq!(acks[0]["groupId"], "ab".repeat(16));
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
    let fixture = alice_with_a_key(&home);
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
    let mut fixture = alice_with_a_key(&server);
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
    // The same cursor again and again.
    let result = inbox_within(
        60,
        Arc::new(|_: &Request| Reply::json(200, page(vec![], Some("again")))),
    )
    .await;
    let error = result.unwrap_err();
    assert!(error.to_string().contains("same cursor"), "{error}");

    // A new cursor every time, never a message.
    let counter = Arc::new(Mutex::new(0u64));
    let count = counter.clone();
    let result = inbox_within(
        120,
        Arc::new(move |_: &Request| {
            let mut n = count.lock().unwrap();
            *n += 1;
            Reply::json(200, page(vec![], Some(&format!("c{n}"))))
        }),
    )
    .await;
    assert!(result.unwrap_err().to_string().contains("pages"));
    assert_eq!(
        *counter.lock().unwrap(),
        e2ee_client::device::MAX_PAGES as u64
    );
}

/// Alice's inbox (10 messages) against a server answering with `handler`; the paging loop must end within
/// `seconds`.
async fn inbox_within(
    seconds: u64,
    handler: Arc<FullHandler>,
) -> e2ee_client::error::Result<Vec<e2ee_client::messages::MessageReport>> {
    let server = serve_full(handler).await;
    let mut fixture = alice_with_a_key(&server);
    let mut ring = unlock(&fixture.device);
    tokio::time::timeout(
        std::time::Duration::from_secs(seconds),
        fixture.device.inbox(&mut ring, 10, false),
    )
    .await
    .expect("the paging loop must end")
}

/// `error` is the refusal of an identity change, exactly `expected`.
fn assert_identity_change(error: &ClientError, expected: IdentityChange) {
    match error {
        ClientError::IdentityChanged(change) => assert_eq!(**change, expected),
        other => panic!("{other:?}"),
    }
}

fn listed_device(index: usize) -> Value {
    json!({
        "userId": "u_bob", "deviceId": format!("d{index:03}"), "displayName": "d",
        "signatureKey": "AAAA", "status": "pending", "certificate": null,
        "createdAt": 1, "approvedAt": null, "revokedAt": null,
    })
}

/// The device list is paged (`after` / `nextAfter`): the SDK walks every page, and stops a server that pages
/// forever or repeats a position.
#[tokio::test]
async fn device_lists_are_walked_page_by_page_and_a_looping_server_is_stopped() {
    let asked = Arc::new(Mutex::new(Vec::<Option<String>>::new()));
    let log = asked.clone();
    let server = serve_full(Arc::new(move |request: &Request| {
        let after = request.query_param("after");
        log.lock().unwrap().push(after.clone());
        // Three pages of 3, 3 and 1 devices.
        let start = after.map_or(0, |a| a[1..].parse::<usize>().unwrap() + 1);
        let end = (start + 3).min(7);
        let mut body = json!({"userId": "u_bob", "devices": (start..end).map(listed_device).collect::<Vec<_>>()});
        if end < 7 {
            body["nextAfter"] = json!(format!("d{:03}", end - 1));
        }
        Reply::json(200, body)
    }))
    .await;
    let fixture = alice_with_a_key(&server);
    let list = fixture.device.client().list_devices("u_bob").await.unwrap();
    let ids: Vec<&str> = list.devices.iter().map(|d| d.device_id.as_str()).collect();
    assert_eq!(
        ids,
        ["d000", "d001", "d002", "d003", "d004", "d005", "d006"]
    );
    assert!(list.next_after.is_none());
    assert_eq!(
        *asked.lock().unwrap(),
        [None, Some("d002".to_owned()), Some("d005".to_owned())]
    );

    // A server that always says "more after d000": stopped at the repeated position.
    let server = serve_full(Arc::new(|_: &Request| {
        Reply::json(
            200,
            json!({"userId": "u_bob", "devices": [listed_device(0)], "nextAfter": "d000"}),
        )
    }))
    .await;
    let fixture = alice_with_a_key(&server);
    let error = fixture
        .device
        .client()
        .list_devices("u_bob")
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::InvalidResponse(_)),
        "{error:?}"
    );
}

/// `device revoke` signs with the identity key on the device: the request verifies under that key for exactly
/// this user, device and time.
#[test]
fn device_revocations_are_signed_by_the_identity_key() {
    let keys = keys();
    let fixture = alice("http://127.0.0.1:9", &keys.alice);
    let ring = unlock(&fixture.device);
    let request =
        e2ee_client::device::revoke_device_request(&ring, "u_alice", "phone", 1_764_145_653_000)
            .unwrap();
    let authorization = request.authorization.as_ref().unwrap();
    assert_eq!(authorization.key_id, keys.alice.key_id().to_string());
    assert!(request.password.is_none());
    let signature = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &authorization.signature,
    )
    .unwrap();
    let statement = e2ee_crypto::DeviceRevocation {
        user_id: "u_alice",
        device_id: "phone",
        created_at: 1_764_145_653_000,
    };
    statement
        .verify(keys.alice.public_key(), &signature)
        .unwrap();
    let json = serde_json::to_value(&request).unwrap();
    assert_eq!(json["deviceId"], "phone");
    assert_eq!(json["createdAt"], 1_764_145_653_000u64);
}

// ---- Review N10: a linked device learns its own user's key from its approver ------------------------------

/// A listed, active device of alice with `signature_key`, certified by `issuer` at `issued_at`, and `proof` as
/// its link proof.
fn alice_device(
    device_id: &str,
    signature_key: &[u8],
    issuer: &PrivateKey,
    issued_at: u64,
    proof: Option<String>,
) -> Value {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let statement = e2ee_crypto::DeviceStatement {
        user_id: "u_alice",
        device_id,
        signature_key,
        issuer_key_id: issuer.key_id(),
        created_at: issued_at,
    };
    let mut view = json!({
        "userId": "u_alice", "deviceId": device_id, "displayName": device_id,
        "signatureKey": b64(signature_key), "status": "active",
        "certificate": {"issuerKeyId": issuer.key_id().to_string(), "issuedAt": issued_at,
                        "signature": b64(&statement.sign(issuer).unwrap())},
        "createdAt": 1, "approvedAt": issued_at, "revokedAt": null,
    });
    if let Some(proof) = proof {
        view["linkProof"] = json!(proof);
    }
    view
}

/// The proof an approver holding `secret` gives for alice's `device_id` certified by `issuer` at `issued_at`.
fn proof_for(
    secret: &e2ee_client_core::link::LinkSecret,
    device_id: &str,
    signature_key: &[u8],
    issuer: &PrivateKey,
    issued_at: u64,
) -> String {
    let certificate: e2ee_protocol::DeviceCertificateView = serde_json::from_value(
        alice_device(device_id, signature_key, issuer, issued_at, None)["certificate"].clone(),
    )
    .unwrap();
    e2ee_client_core::link::link_proof(secret, "u_alice", device_id, signature_key, &certificate)
        .unwrap()
}

/// A server for alice's linked device `phone`: a device session, alice's key listing with `active` as her
/// active key (and `others` listed as retired), and `devices` as her device list.
async fn own_devices_server(
    active: &PrivateKey,
    others: &[&PrivateKey],
    devices: Vec<Value>,
) -> String {
    let mut keys = vec![key_view(active, "active", None, None)];
    keys.extend(
        others
            .iter()
            .map(|k| key_view(k, "retired", Some(1_650_000_000_000), None)),
    );
    let listing = listing("u_alice", active, keys);
    let active_key = key_response("u_alice", active);
    let devices = json!({"userId": "u_alice", "devices": devices});
    serve_full(Arc::new(move |request: &Request| {
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/api/devices/session") => Reply::json(
                200,
                json!({"token": "device-token", "tokenType": "Bearer", "userId": "u_alice",
                       "deviceId": "phone", "expiresAt": 4_000_000_000_000_i64}),
            ),
            ("GET", "/api/users/alice") => Reply::json(200, user("u_alice", "alice")),
            ("GET", "/api/crypto/public-key/u_alice") if request.query == "all=true" => {
                Reply::json(200, listing.clone())
            }
            ("GET", "/api/crypto/public-key/u_alice") => Reply::json(200, active_key.clone()),
            ("GET", "/api/devices/u_alice") => Reply::json(200, devices.clone()),
            _ => Reply::json(404, error("not_found")),
        }
    }))
    .await
}

/// Alice's linked device (no identity key on it): its MLS state with a link secret, as `device request` left it.
fn linked_phone() -> e2ee_client::mls::MlsState {
    let mut state = e2ee_client::mls::MlsState::create(b"state pass", "u_alice", "phone").unwrap();
    state.meta.link_secret = Some(e2ee_client_core::link::LinkSecret::from_bytes([0x42; 16]));
    state
}

fn trust_of(report: &e2ee_client::device::DeviceListReport) -> Vec<(&str, bool)> {
    report
        .devices
        .iter()
        .map(|d| (d.device_id.as_str(), d.trusted))
        .collect()
}

/// Review N10, the lying server: it lists a key of its own as alice's active key (hers as retired), certifies
/// her new phone and a ghost device with it, and gives the phone no link proof (or one it made up). The phone
/// holds no identity key: it must not pin the server's key by first use, so the ghost stays untrusted (the old
/// code pinned the listed active key and trusted the ghost), and it says why.
#[tokio::test]
async fn a_linked_device_does_not_trust_a_ghost_certified_by_a_key_the_server_lists_as_its_own() {
    let keys = keys();
    let server_key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let state = linked_phone();
    let phone_key = state.signer().public().to_vec();
    let made_up = proof_for(
        &e2ee_client_core::link::LinkSecret::from_bytes([0x13; 16]),
        "phone",
        &phone_key,
        &server_key,
        1_700_000_000_000,
    );
    for proof in [None, Some(made_up)] {
        let server = own_devices_server(
            &server_key,
            &[&keys.alice],
            vec![
                alice_device("laptop", &[1; 32], &keys.alice, 1_600_000_000_000, None),
                alice_device(
                    "phone",
                    &phone_key,
                    &server_key,
                    1_700_000_000_000,
                    proof.clone(),
                ),
                alice_device("ghost", &[9; 32], &server_key, 1_700_000_000_000, None),
            ],
        )
        .await;
        let mut fixture = alice_with(&server, None);
        fixture.device.use_device_token(&state).await.unwrap();
        let report = fixture.device.device_list(None).await.unwrap();
        assert_eq!(
            trust_of(&report),
            [("laptop", false), ("phone", false), ("ghost", false)],
            "proof {proof:?}"
        );
        let note = report.note.as_deref().unwrap_or_default();
        let expected = if proof.is_some() {
            "bad_link_proof"
        } else {
            "no_link_proof"
        };
        assert!(note.contains(expected), "{note}");
        assert!(note.contains("e2ee keys verify alice --accept"), "{note}");
        assert!(
            fixture.device.contacts().get("u_alice").is_none(),
            "nothing pinned for alice"
        );
        // Nor without the MLS state at hand (`device list` takes no passphrase): no pin, and it says to sync.
        let mut again = fixture.reopen(&server);
        let report = again.device_list(None).await.unwrap();
        assert!(report.devices.iter().all(|d| !d.trusted));
        assert!(report.note.unwrap().contains("e2ee sync"));
        assert!(again.contacts().get("u_alice").is_none());
    }
}

/// Review N10, the honest link: the approver's proof over the phone's certificate verifies under the phone's
/// secret, so the phone pins that key (alice's) as her accepted key and trusts her devices certified by it,
/// while a ghost certified by a key the server lists beside it stays untrusted. `keys verify alice` then shows
/// the pinned key as unchanged.
#[tokio::test]
async fn a_linked_device_pins_the_key_its_link_proof_names_and_trusts_only_devices_it_certified() {
    let keys = keys();
    let server_key = PrivateKey::generate(KeySize::Rsa2048).unwrap();
    let state = linked_phone();
    let phone_key = state.signer().public().to_vec();
    let secret = state.meta.link_secret.clone().unwrap();
    let proof = proof_for(&secret, "phone", &phone_key, &keys.alice, 1_700_000_000_000);
    let server = own_devices_server(
        &keys.alice,
        &[&server_key],
        vec![
            alice_device("laptop", &[1; 32], &keys.alice, 1_600_000_000_000, None),
            alice_device(
                "phone",
                &phone_key,
                &keys.alice,
                1_700_000_000_000,
                Some(proof),
            ),
            alice_device("ghost", &[9; 32], &server_key, 1_600_000_000_000, None),
        ],
    )
    .await;
    let mut fixture = alice_with(&server, None);
    fixture.device.use_device_token(&state).await.unwrap();
    let report = fixture.device.device_list(None).await.unwrap();
    assert_eq!(
        trust_of(&report),
        [("laptop", true), ("phone", true), ("ghost", false)]
    );
    assert_eq!(report.note, None);
    let pinned = fixture.device.contacts().get("u_alice").unwrap();
    assert_eq!(pinned.key_id, keys.alice.key_id().to_string());
    assert_eq!(pinned.trusted_key_ids(), [keys.alice.key_id().to_string()]);

    // Pinned on disk: a later run without the state trusts the same devices.
    let mut later = fixture.reopen(&server);
    let report = later.device_list(None).await.unwrap();
    assert_eq!(
        trust_of(&report),
        [("laptop", true), ("phone", true), ("ghost", false)]
    );
    let verified = later.verify_contact("alice", false).await.unwrap();
    assert_eq!(
        verified.status,
        e2ee_client::device::ContactStatus::Unchanged
    );
}

/// Review N10, the fallback (an approval without a code, e.g. by the browser): `keys verify` of one's own
/// username reports the key as unverified and pins nothing; with `--accept` (after comparing fingerprints) it
/// is pinned and the devices it certified are trusted.
#[tokio::test]
async fn without_a_link_proof_the_user_accepts_their_own_key_with_keys_verify() {
    let keys = keys();
    let state = linked_phone();
    let phone_key = state.signer().public().to_vec();
    let server = own_devices_server(
        &keys.alice,
        &[],
        vec![
            alice_device("laptop", &[1; 32], &keys.alice, 1_600_000_000_000, None),
            alice_device("phone", &phone_key, &keys.alice, 1_700_000_000_000, None),
        ],
    )
    .await;
    let mut fixture = alice_with(&server, None);
    fixture.device.use_device_token(&state).await.unwrap();
    assert!(
        fixture
            .device
            .device_list(None)
            .await
            .unwrap()
            .devices
            .iter()
            .all(|d| !d.trusted)
    );
    let report = fixture.device.verify_contact("alice", false).await.unwrap();
    assert_eq!(
        report.status,
        e2ee_client::device::ContactStatus::Unverified
    );
    assert!(fixture.device.contacts().get("u_alice").is_none());

    let report = fixture.device.verify_contact("alice", true).await.unwrap();
    assert_eq!(report.status, e2ee_client::device::ContactStatus::Accepted);
    assert_eq!(report.key_id, keys.alice.key_id().to_string());
    let mut later = fixture.reopen(&server);
    later.use_device_token(&state).await.unwrap();
    let listed = later.device_list(None).await.unwrap();
    assert_eq!(trust_of(&listed), [("laptop", true), ("phone", true)]);
    assert_eq!(listed.note, None);
}
