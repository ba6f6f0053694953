//! The server-assisted endpoints: encrypt/decrypt round trip, their failure modes, and the off switch.

mod common;

use common::*;
use e2ee_api::handlers::{assisted, keys, messages};
use lambda_http::http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn encrypt_send_decrypt_round_trip() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;
    let alice = user(&state, "alice").await;
    let bob = user(&state, "bob").await;
    let carol = user(&state, "carol").await;
    // Bob lets the server generate his key and keeps the private half.
    let reply = call(
        keys::generate_keys,
        &state,
        Call::new(Method::POST, "/api/crypto/generate-keys").token(&bob.token),
    )
    .await;
    let bob_private = reply.body["privateKey"].as_str().unwrap().to_owned();
    // The generated key is pending until bob proves he holds it.
    let generated = e2ee_crypto::PrivateKey::from_pkcs8_pem(&bob_private).unwrap();
    let reply = register_key(&state, &bob.id, &bob.token, &generated, Some(&bob.key)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let alice_private = alice.key.to_pkcs8_pem().unwrap().to_string();

    let reply = call(assisted::encrypt, &state, Call::new(Method::POST, "/api/crypto/encrypt").token(&alice.token)
        .body(json!({"receiverId": bob.id, "message": "server-assisted hello ✓", "sign": true, "privateKey": alice_private}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let sealed = reply.body["envelope"].clone();
    assert_eq!(sealed["senderId"], alice.id.as_str());
    assert_eq!(sealed["messageId"], reply.body["clientMessageId"]);
    assert!(!sealed.to_string().contains("server-assisted hello"));

    let reply = call(
        messages::send,
        &state,
        Call::new(Method::POST, "/api/messages/send")
            .token(&alice.token)
            .body(json!({"receiverId": bob.id, "envelope": sealed})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let decrypt = |token: &str, private_key: &str, sealed: serde_json::Value| {
        let body = json!({"envelope": sealed, "privateKey": private_key});
        let token = token.to_owned();
        let state = state.clone();
        async move {
            call(
                assisted::decrypt,
                &state,
                Call::new(Method::POST, "/api/crypto/decrypt")
                    .token(&token)
                    .body(body),
            )
            .await
        }
    };
    let reply = decrypt(&bob.token, &bob_private, sealed.clone()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["message"], "server-assisted hello ✓");
    assert_eq!(reply.body["signatureVerified"], true);
    assert_eq!(reply.body["header"]["senderId"], alice.id.as_str());
    // The sender can read it too.
    assert_eq!(
        decrypt(&alice.token, &alice_private, sealed.clone())
            .await
            .body["message"],
        "server-assisted hello ✓"
    );
    // Not a recipient; a moved envelope; an encrypted or malformed key.
    let carol_private = carol.key.to_pkcs8_pem().unwrap().to_string();
    assert_eq!(
        decrypt(&carol.token, &carol_private, sealed.clone())
            .await
            .error_code(),
        "not_a_recipient"
    );
    let mut moved = sealed.clone();
    moved["messageId"] = json!("moved");
    moved.as_object_mut().unwrap().remove("signature");
    assert_eq!(
        decrypt(&bob.token, &bob_private, moved).await.error_code(),
        "cannot_decrypt"
    );
    let mut resigned = sealed.clone();
    resigned["signature"]["value"] =
        envelope(&carol, &bob, "x", "y", true)["signature"]["value"].clone();
    assert_eq!(
        decrypt(&bob.token, &bob_private, resigned)
            .await
            .error_code(),
        "bad_signature"
    );
    assert_eq!(
        decrypt(
            &bob.token,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            sealed.clone()
        )
        .await
        .error_code(),
        "invalid_key"
    );
    let encrypted = e2ee_crypto::PrivateKey::from_pkcs8_pem(&bob_private)
        .unwrap()
        .to_encrypted_pkcs8_pem(b"pw")
        .unwrap();
    assert_eq!(
        decrypt(&bob.token, &encrypted, sealed.clone())
            .await
            .error_code(),
        "invalid_key"
    );

    // Signing needs the caller's own private key.
    let reply = call(
        assisted::encrypt,
        &state,
        Call::new(Method::POST, "/api/crypto/encrypt")
            .token(&alice.token)
            .body(json!({"receiverId": bob.id, "message": "x", "sign": true})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = call(assisted::encrypt, &state, Call::new(Method::POST, "/api/crypto/encrypt").token(&alice.token).body(json!({"receiverId": bob.id, "message": "x", "sign": true, "privateKey": carol_private}))).await;
    assert_eq!(reply.error_code(), "invalid_key");
    let reply = call(
        assisted::encrypt,
        &state,
        Call::new(Method::POST, "/api/crypto/encrypt")
            .token(&alice.token)
            .body(json!({"receiverId": "u_00000000000000000000000000000000", "message": "x"})),
    )
    .await;
    assert_eq!(reply.error_code(), "receiver_not_found");
}

#[tokio::test]
async fn the_switch_turns_every_assisted_endpoint_off() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    for reply in [
        call(
            keys::generate_keys,
            &state,
            Call::new(Method::POST, "/api/crypto/generate-keys").token(&alice.token),
        )
        .await,
        call(
            assisted::encrypt,
            &state,
            Call::new(Method::POST, "/api/crypto/encrypt")
                .token(&alice.token)
                .body(json!({"receiverId": alice.id, "message": "x"})),
        )
        .await,
        call(
            assisted::decrypt,
            &state,
            Call::new(Method::POST, "/api/crypto/decrypt")
                .token(&alice.token)
                .body(json!({"envelope": {}, "privateKey": "x"})),
        )
        .await,
    ] {
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::NOT_FOUND, "server_assisted_crypto_disabled")
        );
    }
}
