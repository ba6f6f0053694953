//! The server-assisted endpoints: encrypt/decrypt round trip, their failure modes, and the off switch.

use e2ee_test_kit::in_process::*;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn encrypt_send_decrypt_round_trip() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;
    let [alice, bob, carol] = users(&state, ["alice", "bob", "carol"]).await;
    // Bob lets the server generate his key and keeps the private half.
    let reply = generate_keys(&state, &bob.token, None).await;
    let bob_private = reply.body["privateKey"].as_str().unwrap().to_owned();
    // The generated key is pending until bob proves he holds it.
    let generated = e2ee_crypto::PrivateKey::from_pkcs8_pem(&bob_private).unwrap();
    let reply = register_key(&state, &bob.id, &bob.token, &generated, Some(&bob.key)).await;
    reply.assert_status(StatusCode::CREATED);
    let alice_private = alice.key.to_pkcs8_pem().unwrap().to_string();

    let encrypt = async |body: Value| post(&state, "/api/crypto/encrypt", &alice.token, body).await;
    let reply = encrypt(json!({"receiverId": bob.id, "message": "server-assisted hello ✓", "sign": true, "privateKey": alice_private})).await;
    reply.assert_status(StatusCode::OK);
    let sealed = reply.body["envelope"].clone();
    assert_eq!(sealed["senderId"], alice.id.as_str());
    assert_eq!(sealed["messageId"], reply.body["clientMessageId"]);
    assert!(!sealed.to_string().contains("server-assisted hello"));

    let reply = send_envelope(&state, &alice, &bob, sealed.clone()).await;
    reply.assert_status(StatusCode::CREATED);

    let decrypt = async |token: &str, private_key: &str, sealed: Value| {
        let body = json!({"envelope": sealed, "privateKey": private_key});
        post(&state, "/api/crypto/decrypt", token, body).await
    };
    let reply = decrypt(&bob.token, &bob_private, sealed.clone()).await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.body["message"], "server-assisted hello ✓");
    assert_eq!(reply.body["signatureVerified"], true);
    assert_eq!(reply.body["header"]["senderId"], alice.id.as_str());
    // The sender can read it too.
    let reply = decrypt(&alice.token, &alice_private, sealed.clone()).await;
    assert_eq!(reply.body["message"], "server-assisted hello ✓");
    // Not a recipient; a moved envelope; an encrypted or malformed key.
    let carol_private = carol.key.to_pkcs8_pem().unwrap().to_string();
    let mut moved = sealed.clone();
    moved["messageId"] = json!("moved");
    moved.as_object_mut().unwrap().remove("signature");
    let mut resigned = sealed.clone();
    resigned["signature"]["value"] =
        envelope(&carol, &bob, "x", "y", true)["signature"]["value"].clone();
    let malformed = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----";
    let encrypted = e2ee_crypto::PrivateKey::from_pkcs8_pem(&bob_private)
        .unwrap()
        .to_encrypted_pkcs8_pem(b"pw")
        .unwrap();
    let refused = [
        (
            &carol,
            carol_private.as_str(),
            sealed.clone(),
            "not_a_recipient",
        ),
        (&bob, bob_private.as_str(), moved, "cannot_decrypt"),
        (&bob, bob_private.as_str(), resigned, "bad_signature"),
        (&bob, malformed, sealed.clone(), "invalid_key"),
        (&bob, encrypted.as_str(), sealed.clone(), "invalid_key"),
    ];
    for (who, private_key, sealed, code) in refused {
        let reply = decrypt(&who.token, private_key, sealed).await;
        assert_eq!(reply.error_code(), code, "{}", reply.body);
    }

    // Signing needs the caller's own private key.
    let reply = encrypt(json!({"receiverId": bob.id, "message": "x", "sign": true})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = encrypt(
        json!({"receiverId": bob.id, "message": "x", "sign": true, "privateKey": carol_private}),
    )
    .await;
    assert_eq!(reply.error_code(), "invalid_key");
    let reply =
        encrypt(json!({"receiverId": "u_00000000000000000000000000000000", "message": "x"})).await;
    assert_eq!(reply.error_code(), "receiver_not_found");
}

#[tokio::test]
async fn the_switch_turns_every_assisted_endpoint_off() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    for reply in [
        generate_keys(&state, &alice.token, None).await,
        post(
            &state,
            "/api/crypto/encrypt",
            &alice.token,
            json!({"receiverId": alice.id, "message": "x"}),
        )
        .await,
        post(
            &state,
            "/api/crypto/decrypt",
            &alice.token,
            json!({"envelope": {}, "privateKey": "x"}),
        )
        .await,
    ] {
        reply.assert_error(StatusCode::NOT_FOUND, "server_assisted_crypto_disabled");
    }
}
