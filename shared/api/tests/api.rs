//! Every handler in-process against real stores (SQLite always; MySQL and MongoDB when configured, and
//! required in CI): status codes, the authorization matrix, idempotency, pagination.

mod common;

use common::*;
use e2ee_api::handlers::{auth, keys, messages};
use lambda_http::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn register_and_login() {
    for backend in backends() {
        let state = state_for(&backend, true).await;
        let name = format!("Ünïcode_{}", random_hex(3));
        let register = |body| {
            call(
                auth::register,
                &state,
                Call::new(Method::POST, "/api/auth/register").body(body),
            )
        };
        let reply =
            register(json!({"username": name, "password": PASSWORD, "displayName": "Ü"})).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}: {}",
            backend.name,
            reply.body
        );
        assert!(reply.body["userId"].as_str().unwrap().starts_with("u_"));
        // Same name in another case: taken.
        let reply = register(json!({"username": name.to_lowercase(), "password": PASSWORD})).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::CONFLICT, "username_taken"),
            "{}",
            backend.name
        );
        let reply =
            register(json!({"username": format!("x{}", random_hex(3)), "password": "short"})).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "weak_password")
        );
        let reply = register(json!({"username": "a b", "password": PASSWORD})).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_username")
        );
        let reply =
            register(json!({"username": "someone", "password": PASSWORD, "admin": true})).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_json")
        );

        let login = |body| {
            call(
                auth::login,
                &state,
                Call::new(Method::POST, "/api/auth/login").body(body),
            )
        };
        let reply = login(json!({"username": name.to_uppercase(), "password": PASSWORD})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["tokenType"], "Bearer");
        assert!(reply.body["expiresAt"].as_i64().unwrap() > 1_700_000_000_000);
        // Wrong password and unknown user: the same answer.
        let wrong = login(json!({"username": name, "password": "not the password"})).await;
        let unknown =
            login(json!({"username": format!("nobody_{}", random_hex(4)), "password": PASSWORD}))
                .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.body, unknown.body);
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn request_bodies_are_checked() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;
    let path = "/api/auth/register";
    // Not JSON content type.
    let mut request = Call::new(Method::POST, path)
        .body(json!({"username": "abc", "password": PASSWORD}))
        .build();
    request
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    let reply = send(auth::register, &state, request).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Over 2 MiB.
    let huge = json!({"username": "abc", "password": "x".repeat(e2ee_api::http::MAX_BODY_BYTES)});
    let reply = call(
        auth::register,
        &state,
        Call::new(Method::POST, path).body(huge),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Malformed JSON.
    let mut request = Call::new(Method::POST, path).body(json!({})).build();
    *request.body_mut() = lambda_http::Body::Text("{\"username\":".into());
    let reply = send(auth::register, &state, request).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_json")
    );
    // charset parameter is fine.
    let mut request = Call::new(Method::POST, path)
        .body(json!({"username": format!("cs_{}", random_hex(3)), "password": PASSWORD}))
        .build();
    request.headers_mut().insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    assert_eq!(
        send(auth::register, &state, request).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn key_directory_generate_register_rotate_lookup() {
    for backend in backends() {
        let state = state_for(&backend, true).await;
        let alice = user(&state, "alice").await;
        let bob = user(&state, "bob").await;
        let first_key_id = bob.key.key_id().to_string();

        // Server-side generation: private key returned once, never cacheable.
        let reply = call(
            keys::generate_keys,
            &state,
            Call::new(Method::POST, "/api/crypto/generate-keys")
                .token(&bob.token)
                .body(json!({"bits": 2048})),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}: {}",
            backend.name,
            reply.body
        );
        assert_eq!(reply.response.headers()["cache-control"], "no-store");
        let private_pem = reply.body["privateKey"].as_str().unwrap();
        assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let generated = e2ee_crypto::PrivateKey::from_pkcs8_pem(private_pem).unwrap();
        assert_eq!(reply.body["keyId"], generated.key_id().to_string());
        assert_eq!(reply.body["fingerprint"], generated.key_id().fingerprint());
        assert_eq!(reply.body["status"], "pending");

        let params = [("userId", bob.id.as_str())];
        let lookup = |all: bool| {
            let query: &'static [(&'static str, &'static str)] =
                if all { &[("all", "true")] } else { &[] };
            call(
                keys::get_public_key,
                &state,
                Call::new(Method::GET, "/api/crypto/public-key/x")
                    .token(&alice.token)
                    .param(&params)
                    .query(query),
            )
        };
        // Pending until bob proves he holds it: the first key stays active, the pending one is not listed.
        let reply = lookup(true).await;
        assert_eq!(reply.body["keyId"], first_key_id, "{}", reply.body);
        assert_eq!(reply.body["keys"].as_array().map(Vec::len), Some(1));
        let reply = register_key(&state, &bob.id, &bob.token, &generated, Some(&bob.key)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

        let reply = lookup(false).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["keyId"], generated.key_id().to_string());
        assert!(reply.body.get("keys").is_none());
        let reply = lookup(true).await;
        let listed: Vec<(&str, &str)> = reply.body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (k["keyId"].as_str().unwrap(), k["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            listed,
            vec![
                (generated.key_id().to_string().as_str(), "active"),
                (first_key_id.as_str(), "retired")
            ]
        );

        // A retired key cannot come back.
        let reply = register_key(&state, &bob.id, &bob.token, &bob.key, Some(&generated)).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::CONFLICT, "key_retired")
        );
        // Bad keys.
        for bad in [
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        ] {
            let reply = call(
                keys::register_key,
                &state,
                Call::new(Method::POST, "/api/crypto/register-key")
                    .token(&bob.token)
                    .body(json!({"publicKey": bad, "createdAt": now_ms(), "proof": "AAAA"})),
            )
            .await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::BAD_REQUEST, "invalid_key")
            );
        }
        let reply = call(
            keys::generate_keys,
            &state,
            Call::new(Method::POST, "/api/crypto/generate-keys")
                .token(&bob.token)
                .body(json!({"bits": 1024})),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::BAD_REQUEST, "invalid_bits")
        );
        // Unknown user, and a user without a key.
        let reply = call(
            keys::get_public_key,
            &state,
            Call::new(Method::GET, "/api/crypto/public-key/u_0")
                .token(&alice.token)
                .param(&[("userId", "u_00000000000000000000000000000000")]),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "user_not_found")
        );
        let keyless = format!("keyless_{}", random_hex(3));
        let reply = call(
            auth::register,
            &state,
            Call::new(Method::POST, "/api/auth/register")
                .body(json!({"username": keyless, "password": PASSWORD})),
        )
        .await;
        let keyless_id = reply.body["userId"].as_str().unwrap().to_owned();
        let reply = call(
            keys::get_public_key,
            &state,
            Call::new(Method::GET, "/api/crypto/public-key/x")
                .token(&alice.token)
                .param(&[("userId", &keyless_id)]),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "no_active_key")
        );
        // The directory lookup by name (path parameter taken from the path when the event has none).
        let path = format!("/api/users/{}", bob.username.to_uppercase());
        let reply = call(
            auth::lookup_user,
            &state,
            Call::new(Method::GET, &path).token(&alice.token),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["userId"], bob.id.as_str());
    }
}

#[tokio::test]
async fn send_receive_mark_read_history() {
    for backend in backends() {
        let state = state_for(&backend, true).await;
        let alice = user(&state, "alice").await;
        let bob = user(&state, "bob").await;
        let carol = user(&state, "carol").await;
        let first = envelope(&alice, &bob, "hi bob", "c-1", true);
        let reply = call(
            messages::send,
            &state,
            Call::new(Method::POST, "/api/messages/send")
                .token(&alice.token)
                .body(json!({"receiverId": bob.id, "envelope": first})),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}: {}",
            backend.name,
            reply.body
        );
        let message_id = reply.body["messageId"].as_str().unwrap().to_owned();
        let chat_id = reply.body["chatId"].as_str().unwrap().to_owned();
        assert_eq!(chat_id, e2ee_storage::chat_id(&alice.id, &bob.id));
        // Idempotent retry: the original, with 200.
        let reply = call(
            messages::send,
            &state,
            Call::new(Method::POST, "/api/messages/send")
                .token(&alice.token)
                .body(json!({"receiverId": bob.id, "envelope": first})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["messageId"], message_id.as_str());
        // The same client message id for another envelope.
        let other = envelope(&alice, &bob, "something else", "c-1", true);
        let reply = call(
            messages::send,
            &state,
            Call::new(Method::POST, "/api/messages/send")
                .token(&alice.token)
                .body(json!({"receiverId": bob.id, "envelope": other})),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::CONFLICT, "message_id_reused")
        );

        // Checks the server makes without decrypting.
        let cases = [
            (
                &carol,
                json!({"receiverId": bob.id, "envelope": envelope(&alice, &bob, "x", "c-2", false)}),
                StatusCode::FORBIDDEN,
                "sender_mismatch",
            ),
            (
                &alice,
                json!({"receiverId": "u_00000000000000000000000000000000", "envelope": envelope(&alice, &bob, "x", "c-3", false)}),
                StatusCode::NOT_FOUND,
                "receiver_not_found",
            ),
            (
                &alice,
                json!({"receiverId": carol.id, "envelope": envelope(&alice, &bob, "x", "c-4", false)}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "receiver_not_in_envelope",
            ),
            (
                &alice,
                json!({"receiverId": bob.id, "envelope": {"version": 1}}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_envelope",
            ),
            (
                &alice,
                json!({"receiverId": bob.id, "envelope": envelope(&alice, &bob, "x", "c-5", false), "extra": 1}),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
        ];
        for (who, body, status, code) in cases {
            let reply = call(
                messages::send,
                &state,
                Call::new(Method::POST, "/api/messages/send")
                    .token(&who.token)
                    .body(body),
            )
            .await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (status, code),
                "{}: {}",
                backend.name,
                reply.body
            );
        }
        // A third party wrapped into a 1:1 message.
        let mut three = envelope(&alice, &bob, "x", "c-6", false);
        let carol_entry = envelope(&alice, &carol, "x", "c-6", false)["recipients"][0].clone();
        three["recipients"]
            .as_array_mut()
            .unwrap()
            .push(carol_entry);
        let reply = call(
            messages::send,
            &state,
            Call::new(Method::POST, "/api/messages/send")
                .token(&alice.token)
                .body(json!({"receiverId": bob.id, "envelope": three})),
        )
        .await;
        assert_eq!(reply.error_code(), "foreign_recipient");
        // A signature by a key that is not alice's.
        let mut forged = envelope(&alice, &bob, "x", "c-7", false);
        forged["signature"] = envelope(&carol, &bob, "x", "c-7", true)["signature"].clone();
        let reply = call(
            messages::send,
            &state,
            Call::new(Method::POST, "/api/messages/send")
                .token(&alice.token)
                .body(json!({"receiverId": bob.id, "envelope": forged})),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::UNPROCESSABLE_ENTITY, "bad_signature")
        );

        // Bob reads his inbox; nobody else can.
        let inbox = |who: &User, of: &User| {
            let path = format!("/api/messages/receive/{}", of.id);
            let token = who.token.clone();
            let state = state.clone();
            async move {
                call(
                    messages::receive,
                    &state,
                    Call::new(Method::GET, &path).token(&token),
                )
                .await
            }
        };
        let reply = inbox(&bob, &bob).await;
        assert_eq!(reply.status, StatusCode::OK);
        let listed = reply.body["messages"].as_array().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["envelope"], first);
        assert_eq!(listed[0]["readAt"], serde_json::Value::Null);
        assert_eq!(inbox(&alice, &bob).await.error_code(), "not_your_inbox");

        // Mark read: receiver only, idempotent.
        let mark = |who: &User, id: &str| {
            let path = format!("/api/messages/mark-read/{id}");
            let token = who.token.clone();
            let state = state.clone();
            async move {
                call(
                    messages::mark_read,
                    &state,
                    Call::new(Method::PATCH, &path).token(&token),
                )
                .await
            }
        };
        assert_eq!(
            mark(&alice, &message_id).await.error_code(),
            "not_the_receiver"
        );
        assert_eq!(
            mark(&carol, &message_id).await.status,
            StatusCode::FORBIDDEN
        );
        let read = mark(&bob, &message_id).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(
            mark(&bob, &message_id).await.body["readAt"],
            read.body["readAt"]
        );
        assert_eq!(
            mark(&bob, "m_00000000000000000000000000000000")
                .await
                .error_code(),
            "message_not_found"
        );
        assert!(
            inbox(&bob, &bob).await.body["messages"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // Bob rotates his key: alice's envelope for the old key is stale.
        let rotated = test_key();
        let reply = register_key(&state, &bob.id, &bob.token, &rotated, Some(&bob.key)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let reply = call(messages::send, &state, Call::new(Method::POST, "/api/messages/send").token(&alice.token).body(json!({"receiverId": bob.id, "envelope": envelope(&alice, &bob, "late", "c-8", false)}))).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::CONFLICT, "stale_recipient_key")
        );

        // Bob registers a new device key; alice re-seals and sends five more.
        let mut bob = bob;
        let new_key = test_key();
        let reply = register_key(&state, &bob.id, &bob.token, &new_key, Some(&rotated)).await;
        bob.key = new_key;
        assert_eq!(reply.status, StatusCode::CREATED);
        let mut sent = vec![message_id.clone()];
        for i in 0..5 {
            let body = json!({"receiverId": bob.id, "envelope": envelope(&alice, &bob, "more", &format!("more-{i}"), i % 2 == 0)});
            let reply = call(
                messages::send,
                &state,
                Call::new(Method::POST, "/api/messages/send")
                    .token(&alice.token)
                    .body(body),
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            sent.push(reply.body["messageId"].as_str().unwrap().to_owned());
        }

        // History: participants only, paged, both orders.
        let history = |who: &User, query: Vec<(&'static str, String)>| {
            let path = format!("/api/messages/history/{chat_id}");
            let token = who.token.clone();
            let state = state.clone();
            async move {
                let query: Vec<(&str, &str)> =
                    query.iter().map(|(k, v)| (*k, v.as_str())).collect();
                call(
                    messages::history,
                    &state,
                    Call::new(Method::GET, &path).token(&token).query(&query),
                )
                .await
            }
        };
        for (order, expected) in [
            ("asc", sent.clone()),
            ("desc", sent.iter().rev().cloned().collect()),
        ] {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut query = vec![("limit", "2".to_owned()), ("order", order.to_owned())];
                if let Some(cursor) = &cursor {
                    query.push(("cursor", cursor.clone()));
                }
                let reply = history(&alice, query).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                let page = reply.body["messages"].as_array().unwrap();
                assert!(page.len() <= 2);
                seen.extend(
                    page.iter()
                        .map(|m| m["messageId"].as_str().unwrap().to_owned()),
                );
                match reply.body["nextCursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            assert_eq!(seen, expected, "{} {order}", backend.name);
        }
        // To a non-participant the chat does not exist (see hardening.rs for the oracle test).
        assert_eq!(history(&carol, vec![]).await.error_code(), "chat_not_found");
        assert_eq!(
            history(&bob, vec![("limit", "0".into())]).await.status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            history(&bob, vec![("limit", "abc".into())])
                .await
                .error_code(),
            "invalid_limit"
        );
        assert_eq!(
            history(&bob, vec![("cursor", "garbage".into())])
                .await
                .status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            history(&bob, vec![("order", "sideways".into())])
                .await
                .error_code(),
            "invalid_order"
        );
    }
}
