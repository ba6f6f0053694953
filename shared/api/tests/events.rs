//! The sample API Gateway events in events/ (HTTP API v2 and REST v1) drive the handlers: they parse, carry
//! their path/query parameters and bodies through, and produce the status their placeholder data implies.

use std::path::PathBuf;

use e2ee_test_kit::in_process::*;
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
/// The user the device and key package events name.
const DEVICE_EVENTS_USER: &str = "u_0123456789abcdef0123456789abcdef";
/// base64 of `REPLACE_WITH_KEY_PACKAGE`, in events/upload-key-packages.json.
const KEY_PACKAGE_PLACEHOLDER: &str = "UkVQTEFDRV9XSVRIX0tFWV9QQUNLQUdF";
/// The user whose keys events/get-public-key-all.json asks for.
const SAMPLE_KEY_OWNER: &str = "u_5f1c2a9e7b3d4c6e8a0f1b2c3d4e5f60";

/// The function, its sample event, replacements in the event, the expected status and error code ("": any).
type Expectation<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn every_sample_event_reaches_its_handler() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;

    let reply = invoke(&state, "auth-register", event("auth-register", "", &[])).await;
    reply.assert_status(StatusCode::CREATED);
    let alice_id = reply.body["userId"].as_str().unwrap().to_owned();
    let reply = invoke(&state, "auth-login", event("auth-login", "", &[])).await;
    reply.assert_status(StatusCode::OK);
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let t = token.as_str();
    // Alice's device key, registered with a fresh proof (the sample event's statement is long stale).
    let device_key = test_key();
    let reply = register_key(&state, &alice_id, t, &device_key, None).await;
    reply.assert_status(StatusCode::CREATED);

    // Alice's first MLS device (not the events' "laptop", which register-device adds as pending), its device
    // token, and a real key package to put in place of the upload event's placeholder.
    let alice = User {
        id: alice_id.clone(),
        username: String::new(),
        token: token.clone(),
        key: device_key,
    };
    let (tablet, tablet_token) = first_device(&state, &alice, "tablet").await;
    let d = tablet_token.as_str();
    let key_package = b64(&tablet.key_package());
    let real_package = [(KEY_PACKAGE_PLACEHOLDER, key_package.as_str())];
    let of_alice = [(DEVICE_EVENTS_USER, alice_id.as_str())];

    let all_of_alice = [(SAMPLE_KEY_OWNER, alice_id.as_str())];
    let own_inbox = [(PLACEHOLDER_USER, alice_id.as_str())];
    // Called in this order.
    #[rustfmt::skip]
    let expectations: [Expectation; 13] = [
        ("lookup-user", "lookup-user", &[], StatusCode::NOT_FOUND, "user_not_found"),
        ("generate-keys", "generate-keys", &[], StatusCode::CREATED, ""),
        ("register-key", "register-key", &[], StatusCode::BAD_REQUEST, "stale_statement"),
        ("revoke-key", "revoke-key", &[], StatusCode::BAD_REQUEST, "stale_statement"),
        ("get-public-key", "get-public-key", &[], StatusCode::NOT_FOUND, "user_not_found"),
        ("get-public-key", "get-public-key-all", &all_of_alice, StatusCode::OK, ""),
        ("encrypt", "encrypt", &[], StatusCode::NOT_FOUND, "receiver_not_found"),
        ("send-message", "send-message", &[], StatusCode::FORBIDDEN, "sender_mismatch"),
        ("receive-messages", "receive-messages", &[], StatusCode::FORBIDDEN, "not_your_inbox"),
        // REST v1: someone else's inbox, then alice's own.
        ("receive-messages", "rest-v1-receive-messages", &[], StatusCode::FORBIDDEN, "not_your_inbox"),
        ("receive-messages", "rest-v1-receive-messages", &own_inbox, StatusCode::OK, ""),
        ("mark-read", "mark-read", &[], StatusCode::NOT_FOUND, "message_not_found"),
        ("chat-history", "chat-history", &[], StatusCode::NOT_FOUND, "chat_not_found"),
    ];
    // The device events: with the user token, then with the device token.
    #[rustfmt::skip]
    let device_expectations: [(&str, Expectation); 22] = [
        (t, ("register-device", "register-device", &[], StatusCode::CREATED, "")),
        (t, ("device-session", "device-session", &[], StatusCode::BAD_REQUEST, "stale_statement")),
        (t, ("approve-device", "approve-device", &[], StatusCode::FORBIDDEN, "device_token_required")),
        (t, ("list-devices", "list-devices", &[], StatusCode::NOT_FOUND, "user_not_found")),
        (t, ("list-devices", "list-devices", &of_alice, StatusCode::OK, "")),
        (t, ("key-package-supply", "key-package-supply", &[], StatusCode::FORBIDDEN, "device_token_required")),
        (d, ("upload-key-packages", "upload-key-packages", &[], StatusCode::BAD_REQUEST, "invalid_key_package")),
        (d, ("upload-key-packages", "upload-key-packages", &real_package, StatusCode::CREATED, "")),
        (d, ("key-package-supply", "key-package-supply", &[], StatusCode::OK, "")),
        (d, ("claim-key-packages", "claim-key-packages", &of_alice, StatusCode::OK, "")),
        (d, ("approve-device", "approve-device", &[], StatusCode::NOT_FOUND, "device_not_found")),
        (d, ("revoke-device", "revoke-device", &[], StatusCode::BAD_REQUEST, "stale_statement")),
        (t, ("create-group", "create-group", &[], StatusCode::FORBIDDEN, "device_token_required")),
        (d, ("create-group", "create-group", &[], StatusCode::BAD_REQUEST, "invalid_group_info")),
        (d, ("get-group", "get-group", &[], StatusCode::NOT_FOUND, "group_not_found")),
        (d, ("post-commit", "post-commit", &[], StatusCode::NOT_FOUND, "group_not_found")),
        (d, ("post-group-message", "post-group-message", &[], StatusCode::NOT_FOUND, "group_not_found")),
        (d, ("read-group-log", "read-group-log", &[], StatusCode::NOT_FOUND, "group_not_found")),
        (t, ("list-groups", "list-groups", &[], StatusCode::FORBIDDEN, "device_token_required")),
        (d, ("list-groups", "list-groups", &[], StatusCode::OK, "")),
        (d, ("list-welcomes", "list-welcomes", &[], StatusCode::OK, "")),
        (d, ("ack-welcome", "ack-welcome", &[], StatusCode::OK, "")),
    ];
    let all = expectations
        .iter()
        .map(|expectation| (t, *expectation))
        .chain(device_expectations);
    for (token, (function, sample, replace, status, code)) in all {
        let name = format!("{function} with events/{sample}.json {replace:?}");
        let reply = invoke(&state, function, event(sample, token, replace)).await;
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        if !code.is_empty() {
            assert_eq!(reply.error_code(), code, "{name}");
        }
    }
    // get-public-key-all lists alice's registered key; the generated one is pending and not listed.
    let reply = invoke(
        &state,
        "get-public-key",
        event("get-public-key-all", t, &all_of_alice),
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
    let reply = invoke(&state, "decrypt", event("decrypt", t, &[])).await;
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
