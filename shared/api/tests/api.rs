//! Every handler in-process against real stores (SQLite always; MySQL and MongoDB when configured, and
//! required in CI): status codes, the authorization matrix, idempotency, pagination.

use e2ee_api::handlers::auth;
use e2ee_test_kit::in_process::*;
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn register_and_login() {
    for backend in backends() {
        let state = state_for(&backend, true).await;
        let name = format!("Ünïcode_{}", random_hex(3));
        let reply = register(
            &state,
            json!({"username": name, "password": PASSWORD, "displayName": "Ü"}),
        )
        .await;
        reply.assert_status(StatusCode::CREATED);
        assert!(reply.body["userId"].as_str().unwrap().starts_with("u_"));
        for (body, status, code) in [
            // Same name in another case: taken.
            (
                json!({"username": name.to_lowercase(), "password": PASSWORD}),
                StatusCode::CONFLICT,
                "username_taken",
            ),
            (
                json!({"username": format!("x{}", random_hex(3)), "password": "short"}),
                StatusCode::BAD_REQUEST,
                "weak_password",
            ),
            (
                json!({"username": "a b", "password": PASSWORD}),
                StatusCode::BAD_REQUEST,
                "invalid_username",
            ),
            (
                json!({"username": "someone", "password": PASSWORD, "admin": true}),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
        ] {
            register(&state, body).await.assert_error(status, code);
        }

        let reply = login(&state, &name.to_uppercase(), PASSWORD).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body["tokenType"], "Bearer");
        assert!(reply.body["expiresAt"].as_i64().unwrap() > 1_700_000_000_000);
        // Wrong password and unknown user: the same answer.
        let wrong = login(&state, &name, "not the password").await;
        let unknown = login(&state, &format!("nobody_{}", random_hex(4)), PASSWORD).await;
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
    let with_type = |body: Value, content_type: &str| {
        let mut request = Call::new(Method::POST, path).body(body).build();
        request
            .headers_mut()
            .insert("content-type", content_type.parse().unwrap());
        request
    };
    // Not JSON content type.
    let request = with_type(
        json!({"username": "abc", "password": PASSWORD}),
        "text/plain",
    );
    let reply = send(auth::register, &state, request).await;
    reply.assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    // Over 2 MiB.
    let huge = json!({"username": "abc", "password": "x".repeat(e2ee_api::http::MAX_BODY_BYTES)});
    let reply = register(&state, huge).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Malformed JSON.
    let mut request = with_type(json!({}), "application/json");
    *request.body_mut() = lambda_http::Body::Text("{\"username\":".into());
    let reply = send(auth::register, &state, request).await;
    reply.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    // charset parameter is fine.
    let request = with_type(
        json!({"username": format!("cs_{}", random_hex(3)), "password": PASSWORD}),
        "application/json; charset=utf-8",
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
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
        let first_key_id = bob.key.key_id().to_string();

        // Server-side generation: private key returned once, never cacheable.
        let reply = generate_keys(&state, &bob.token, Some(json!({"bits": 2048}))).await;
        reply.assert_status(StatusCode::CREATED);
        assert_eq!(reply.response.headers()["cache-control"], "no-store");
        let private_pem = reply.body["privateKey"].as_str().unwrap();
        assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let generated = e2ee_crypto::PrivateKey::from_pkcs8_pem(private_pem).unwrap();
        assert_eq!(reply.body["keyId"], generated.key_id().to_string());
        assert_eq!(reply.body["fingerprint"], generated.key_id().fingerprint());
        assert_eq!(reply.body["status"], "pending");

        let lookup = async |all: bool| {
            let query: &[(&str, &str)] = if all { &[("all", "true")] } else { &[] };
            public_key(&state, &alice.token, &bob.id, query).await
        };
        // Pending until bob proves he holds it: the first key stays active, the pending one is not listed.
        let reply = lookup(true).await;
        assert_eq!(reply.body["keyId"], first_key_id, "{}", reply.body);
        assert_eq!(reply.body["keys"].as_array().map(Vec::len), Some(1));
        let reply = register_key(&state, &bob.id, &bob.token, &generated, Some(&bob.key)).await;
        reply.assert_status(StatusCode::CREATED);

        let reply = lookup(false).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body["keyId"], generated.key_id().to_string());
        // The listing names the user (clients pin it with the key for users they meet by id).
        assert_eq!(reply.body["username"], bob.username.as_str());
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
        reply.assert_error(StatusCode::CONFLICT, "key_retired");
        // Bad keys.
        for bad in [
            "not a key",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n",
        ] {
            let body = json!({"publicKey": bad, "createdAt": now_ms(), "proof": "AAAA"});
            let reply = post_register_key(&state, &bob.token, body).await;
            reply.assert_error(StatusCode::BAD_REQUEST, "invalid_key");
        }
        let reply = generate_keys(&state, &bob.token, Some(json!({"bits": 1024}))).await;
        reply.assert_error(StatusCode::BAD_REQUEST, "invalid_bits");
        // Unknown user, and a user without a key.
        let unknown = "u_00000000000000000000000000000000";
        let reply = public_key(&state, &alice.token, unknown, &[]).await;
        reply.assert_error(StatusCode::NOT_FOUND, "user_not_found");
        let keyless = format!("keyless_{}", random_hex(3));
        let reply = register(&state, json!({"username": keyless, "password": PASSWORD})).await;
        let keyless_id = reply.body["userId"].as_str().unwrap().to_owned();
        let reply = public_key(&state, &alice.token, &keyless_id, &[]).await;
        reply.assert_error(StatusCode::NOT_FOUND, "no_active_key");
        // The directory lookup by name (path parameter taken from the path when the event has none).
        let path = format!("/api/users/{}", bob.username.to_uppercase());
        let reply = route(&state, Call::new(Method::GET, &path).token(&alice.token)).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body["userId"], bob.id.as_str());
    }
}

#[tokio::test]
async fn send_receive_mark_read_history() {
    for backend in backends() {
        let state = state_for(&backend, true).await;
        let [alice, bob, carol] = users(&state, ["alice", "bob", "carol"]).await;
        let first = envelope(&alice, &bob, "hi bob", "c-1", true);
        let reply = send_envelope(&state, &alice, &bob, first.clone()).await;
        reply.assert_status(StatusCode::CREATED);
        let message_id = reply.body["messageId"].as_str().unwrap().to_owned();
        let chat_id = reply.body["chatId"].as_str().unwrap().to_owned();
        assert_eq!(chat_id, e2ee_protocol::chat_id(&alice.id, &bob.id));
        // Idempotent retry: the original, with 200.
        let reply = send_envelope(&state, &alice, &bob, first.clone()).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["messageId"], message_id.as_str());
        // The same client message id for another envelope.
        let other = envelope(&alice, &bob, "something else", "c-1", true);
        let reply = send_envelope(&state, &alice, &bob, other).await;
        reply.assert_error(StatusCode::CONFLICT, "message_id_reused");

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
            let reply = post(&state, "/api/messages/send", &who.token, body).await;
            reply.assert_error(status, code);
        }
        // A third party wrapped into a 1:1 message.
        let mut three = envelope(&alice, &bob, "x", "c-6", false);
        let carol_entry = envelope(&alice, &carol, "x", "c-6", false)["recipients"][0].clone();
        three["recipients"]
            .as_array_mut()
            .unwrap()
            .push(carol_entry);
        let reply = send_envelope(&state, &alice, &bob, three).await;
        assert_eq!(reply.error_code(), "foreign_recipient");
        // A signature by a key that is not alice's.
        let mut forged = envelope(&alice, &bob, "x", "c-7", false);
        forged["signature"] = envelope(&carol, &bob, "x", "c-7", true)["signature"].clone();
        let reply = send_envelope(&state, &alice, &bob, forged).await;
        reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_signature");

        // Bob reads his inbox; nobody else can. (These requests carry no path parameters: the handlers take
        // them from the path.)
        let get = async |who: &User, path: &str, query: &[(&str, &str)]| {
            route(
                &state,
                Call::new(Method::GET, path).token(&who.token).query(query),
            )
            .await
        };
        let inbox_path = format!("/api/messages/receive/{}", bob.id);
        let reply = get(&bob, &inbox_path, &[]).await;
        assert_eq!(reply.status, StatusCode::OK);
        let listed = reply.body["messages"].as_array().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["envelope"], first);
        assert_eq!(listed[0]["readAt"], Value::Null);
        assert_eq!(
            get(&alice, &inbox_path, &[]).await.error_code(),
            "not_your_inbox"
        );

        // Mark read: receiver only, idempotent.
        let mark = async |who: &User, id: &str| {
            let path = format!("/api/messages/mark-read/{id}");
            route(&state, Call::new(Method::PATCH, &path).token(&who.token)).await
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
            get(&bob, &inbox_path, &[]).await.body["messages"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // Bob rotates his key: alice's envelope for the old key is stale.
        let rotated = test_key();
        let reply = register_key(&state, &bob.id, &bob.token, &rotated, Some(&bob.key)).await;
        reply.assert_status(StatusCode::CREATED);
        let late = envelope(&alice, &bob, "late", "c-8", false);
        let reply = send_envelope(&state, &alice, &bob, late).await;
        reply.assert_error(StatusCode::CONFLICT, "stale_recipient_key");

        // Bob registers a new device key; alice re-seals and sends five more.
        let mut bob = bob;
        let new_key = test_key();
        let reply = register_key(&state, &bob.id, &bob.token, &new_key, Some(&rotated)).await;
        bob.key = new_key;
        assert_eq!(reply.status, StatusCode::CREATED);
        let mut sent = vec![message_id.clone()];
        for i in 0..5 {
            let more = envelope(&alice, &bob, "more", &format!("more-{i}"), i % 2 == 0);
            let reply = send_envelope(&state, &alice, &bob, more).await;
            reply.assert_status(StatusCode::CREATED);
            sent.push(reply.body["messageId"].as_str().unwrap().to_owned());
        }

        // History: participants only, paged, both orders.
        let history_path = format!("/api/messages/history/{chat_id}");
        let history =
            async |who: &User, query: &[(&str, &str)]| get(who, &history_path, query).await;
        for (order, expected) in [
            ("asc", sent.clone()),
            ("desc", sent.iter().rev().cloned().collect()),
        ] {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut query = vec![("limit", "2"), ("order", order)];
                if let Some(cursor) = &cursor {
                    query.push(("cursor", cursor));
                }
                let reply = history(&alice, &query).await;
                reply.assert_status(StatusCode::OK);
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
        assert_eq!(history(&carol, &[]).await.error_code(), "chat_not_found");
        let status = async |query| history(&bob, query).await.status;
        let code = async |query| history(&bob, query).await.error_code().to_owned();
        assert_eq!(status(&[("limit", "0")]).await, StatusCode::BAD_REQUEST);
        assert_eq!(code(&[("limit", "abc")]).await, "invalid_limit");
        assert_eq!(
            status(&[("cursor", "garbage")]).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(code(&[("order", "sideways")]).await, "invalid_order");
    }
}
