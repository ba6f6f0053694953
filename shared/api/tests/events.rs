//! The sample API Gateway events in events/ (HTTP API v2 and REST v1) drive the handlers: they parse, carry
//! their path/query parameters and bodies through, and produce the status their placeholder data implies.

mod common;

use std::path::PathBuf;

use common::*;
use e2ee_api::handlers::{assisted, auth, keys, messages};
use lambda_http::Request;
use lambda_http::http::StatusCode;

fn event(name: &str, token: &str, replace: &[(&str, &str)]) -> Request {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(format!("{name}.json"));
    let mut text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text = text.replace("REPLACE_WITH_TOKEN", token);
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    lambda_http::request::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const PLACEHOLDER_USER: &str = "u_9a8b7c6d5e4f40312a1b2c3d4e5f6a7b";

#[tokio::test]
async fn every_sample_event_reaches_its_handler() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;

    let reply = send(auth::register, &state, event("auth-register", "", &[])).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let alice_id = reply.body["userId"].as_str().unwrap().to_owned();
    let reply = send(auth::login, &state, event("auth-login", "", &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let t = token.as_str();
    // Alice's device key, registered with a fresh proof (the sample event's statement is long stale).
    let device_key = test_key();
    let reply = register_key(&state, &alice_id, t, &device_key, None).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let expectations: Vec<(&str, Reply, StatusCode, &str)> = vec![
        (
            "lookup-user",
            send(auth::lookup_user, &state, event("lookup-user", t, &[])).await,
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            "generate-keys",
            send(keys::generate_keys, &state, event("generate-keys", t, &[])).await,
            StatusCode::CREATED,
            "",
        ),
        (
            "register-key",
            send(keys::register_key, &state, event("register-key", t, &[])).await,
            StatusCode::BAD_REQUEST,
            "stale_statement",
        ),
        (
            "revoke-key",
            send(keys::revoke_key, &state, event("revoke-key", t, &[])).await,
            StatusCode::BAD_REQUEST,
            "stale_statement",
        ),
        (
            "get-public-key",
            send(
                keys::get_public_key,
                &state,
                event("get-public-key", t, &[]),
            )
            .await,
            StatusCode::NOT_FOUND,
            "user_not_found",
        ),
        (
            "get-public-key-all",
            send(
                keys::get_public_key,
                &state,
                event(
                    "get-public-key-all",
                    t,
                    &[("u_5f1c2a9e7b3d4c6e8a0f1b2c3d4e5f60", &alice_id)],
                ),
            )
            .await,
            StatusCode::OK,
            "",
        ),
        (
            "encrypt",
            send(assisted::encrypt, &state, event("encrypt", t, &[])).await,
            StatusCode::NOT_FOUND,
            "receiver_not_found",
        ),
        (
            "send-message",
            send(messages::send, &state, event("send-message", t, &[])).await,
            StatusCode::FORBIDDEN,
            "sender_mismatch",
        ),
        (
            "receive-messages",
            send(messages::receive, &state, event("receive-messages", t, &[])).await,
            StatusCode::FORBIDDEN,
            "not_your_inbox",
        ),
        (
            "rest-v1 (someone else's inbox)",
            send(
                messages::receive,
                &state,
                event("rest-v1-receive-messages", t, &[]),
            )
            .await,
            StatusCode::FORBIDDEN,
            "not_your_inbox",
        ),
        (
            "rest-v1 (own inbox)",
            send(
                messages::receive,
                &state,
                event(
                    "rest-v1-receive-messages",
                    t,
                    &[(PLACEHOLDER_USER, &alice_id)],
                ),
            )
            .await,
            StatusCode::OK,
            "",
        ),
        (
            "mark-read",
            send(messages::mark_read, &state, event("mark-read", t, &[])).await,
            StatusCode::NOT_FOUND,
            "message_not_found",
        ),
        (
            "chat-history",
            send(messages::history, &state, event("chat-history", t, &[])).await,
            StatusCode::NOT_FOUND,
            "chat_not_found",
        ),
    ];
    for (name, reply, status, code) in expectations {
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        if !code.is_empty() {
            assert_eq!(reply.error_code(), code, "{name}");
        }
    }
    // get-public-key-all lists alice's registered key; the generated one is pending and not listed.
    let reply = send(
        keys::get_public_key,
        &state,
        event(
            "get-public-key-all",
            t,
            &[("u_5f1c2a9e7b3d4c6e8a0f1b2c3d4e5f60", &alice_id)],
        ),
    )
    .await;
    let statuses: Vec<&str> = reply.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active"]);
    // decrypt's sample envelope is for someone else's key: a 4xx that names the problem, never a 500.
    let reply = send(assisted::decrypt, &state, event("decrypt", t, &[])).await;
    assert!(reply.status.is_client_error(), "{}", reply.body);
    assert!(
        [
            "invalid_key",
            "not_a_recipient",
            "bad_signature",
            "invalid_envelope"
        ]
        .contains(&reply.error_code()),
        "{}",
        reply.body
    );
}
