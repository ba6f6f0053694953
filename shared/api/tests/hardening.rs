//! The rules of docs/security.md, each against every backend: no history oracle, authenticated cursors, login
//! backoff, quotas, proof of possession for keys, revocation and retirement, server-assisted keys pending.

use std::collections::HashMap;
use std::sync::Arc;

use e2ee_api::AppState;
use e2ee_api::config::Quotas;
use e2ee_crypto::KeyOperation;
use e2ee_test_kit::in_process::*;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

/// A signed envelope from `from_id` to `to` only (so the sender's own keys play no part as recipients), with
/// an explicit `createdAt` and signing key.
fn signed_envelope(
    from_id: &str,
    to: &User,
    message_id: &str,
    created_at: u64,
    signer: &e2ee_crypto::PrivateKey,
) -> Value {
    let recipients = [(to.id.as_str(), to.key.public_key())];
    seal_json(
        b"hello",
        from_id,
        &recipients,
        message_id,
        created_at,
        Some(signer),
    )
}

#[tokio::test]
async fn a_non_participant_cannot_tell_an_existing_chat_from_an_unknown_one() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob, mallory] = users(&state, ["alice", "bob", "mallory"]).await;
        let reply = send_text(&state, (&alice, &bob), "hi", "h-1", true).await;
        reply.assert_status(StatusCode::CREATED);
        let chat_id = reply.body["chatId"].as_str().unwrap().to_owned();
        let unknown_chat = e2ee_protocol::chat_id(&alice.id, &mallory.id);
        let never_used = e2ee_protocol::chat_id(&bob.id, "u_00000000000000000000000000000000");

        let participant = history(&state, &bob, &chat_id, &[]).await;
        assert_eq!(participant.status, StatusCode::OK, "{}", participant.body);
        assert_eq!(
            participant.body["messages"].as_array().map(Vec::len),
            Some(1)
        );

        // Existing chat of others, a chat that has no messages, a made-up id, and every query variant:
        // exactly the same status and body.
        let existing = history(&state, &mallory, &chat_id, &[]).await;
        for (what, reply) in [
            (
                "unknown chat",
                history(&state, &mallory, &unknown_chat, &[]).await,
            ),
            (
                "never used",
                history(&state, &mallory, &never_used, &[]).await,
            ),
            (
                "existing, limit=1",
                history(&state, &mallory, &chat_id, &[("limit", "1")]).await,
            ),
            (
                "existing, desc",
                history(&state, &mallory, &chat_id, &[("order", "desc")]).await,
            ),
            (
                "own but empty",
                history(&state, &alice, &unknown_chat, &[]).await,
            ),
        ] {
            assert_eq!(
                (reply.status, &reply.body),
                (existing.status, &existing.body),
                "{}: {what}",
                backend.name
            );
        }
        assert_eq!(
            (existing.status, existing.error_code()),
            (StatusCode::NOT_FOUND, "chat_not_found")
        );
        // A forged cursor is no way in either: participation is checked before the cursor is even read.
        let forged = history(&state, &mallory, &chat_id, &[("cursor", "eyJ2IjoxfQ.AAAA")]).await;
        assert_eq!(
            (forged.status, &forged.body),
            (existing.status, &existing.body)
        );
    }
}

#[tokio::test]
async fn cursors_are_bound_to_caller_query_and_order_and_cannot_be_forged() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
        let mut chat_id = String::new();
        for i in 0..3 {
            let reply = send_text(&state, (&alice, &bob), "x", &format!("c-{i}"), false).await;
            reply.assert_status(StatusCode::CREATED);
            chat_id = reply.body["chatId"].as_str().unwrap().to_owned();
        }
        let page = history(&state, &alice, &chat_id, &[("limit", "1")]).await;
        let cursor = page.body["nextCursor"].as_str().unwrap().to_owned();
        // The honest use works.
        let next = history(
            &state,
            &alice,
            &chat_id,
            &[("limit", "1"), ("cursor", &cursor)],
        )
        .await;
        assert_eq!(next.status, StatusCode::OK, "{}", next.body);

        let (store_part, _) = cursor.rsplit_once('.').unwrap();
        let unsealed = store_part.to_owned();
        let mut edited = cursor.clone().into_bytes();
        edited[3] ^= 0x01;
        let edited = String::from_utf8(edited).unwrap();
        let bob_inbox_page = inbox(&state, &bob, &[("limit", "1")]).await;
        let inbox_cursor = bob_inbox_page.body["nextCursor"]
            .as_str()
            .unwrap()
            .to_owned();

        let cases: Vec<(&str, Reply)> = vec![
            (
                "another caller",
                history(&state, &bob, &chat_id, &[("cursor", &cursor)]).await,
            ),
            (
                "the other order",
                history(
                    &state,
                    &alice,
                    &chat_id,
                    &[("order", "desc"), ("cursor", &cursor)],
                )
                .await,
            ),
            (
                "without its seal",
                history(&state, &alice, &chat_id, &[("cursor", &unsealed)]).await,
            ),
            (
                "edited",
                history(&state, &alice, &chat_id, &[("cursor", &edited)]).await,
            ),
            (
                "an inbox cursor",
                history(&state, &bob, &chat_id, &[("cursor", &inbox_cursor)]).await,
            ),
            (
                "a history cursor in the inbox",
                inbox(&state, &alice, &[("cursor", &cursor)]).await,
            ),
            (
                "garbage",
                inbox(&state, &bob, &[("cursor", "garbage")]).await,
            ),
        ];
        for (what, reply) in cases {
            assert_eq!(
                (reply.status, reply.error_code()),
                (StatusCode::BAD_REQUEST, "invalid_cursor"),
                "{}: {what}: {}",
                backend.name,
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn thirty_bad_logins_lock_out_with_retry_after_and_the_right_password_works_after_the_window()
{
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let alice = user(&state, "alice").await;
        let nobody = format!("nobody_{}", random_hex(4));
        let mut first_429 = HashMap::new();
        let mut wait = 0;
        for name in [alice.username.as_str(), nobody.as_str()] {
            for attempt in 1..=30 {
                let reply = login(&state, name, "wrong password!").await;
                if reply.status == StatusCode::TOO_MANY_REQUESTS {
                    assert_eq!(reply.error_code(), "too_many_attempts");
                    let seconds = reply.retry_after();
                    assert!(
                        seconds.is_some_and(|s| (1..=15 * 60).contains(&s)),
                        "{:?}",
                        reply.response.headers()
                    );
                    if first_429.insert(name.to_owned(), attempt).is_none()
                        && name == alice.username
                    {
                        // While locked out even the right password is refused.
                        let locked = login(&state, name, PASSWORD).await;
                        assert_eq!(
                            locked.status,
                            StatusCode::TOO_MANY_REQUESTS,
                            "{}",
                            locked.body
                        );
                        wait = locked.retry_after().unwrap_or(1);
                    }
                } else {
                    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
                }
            }
        }
        // An existing and an unknown account lock out alike: the counter does not enumerate users.
        assert!(
            first_429.contains_key(&alice.username),
            "{}: never locked out",
            backend.name
        );
        assert_eq!(
            first_429.get(&alice.username),
            first_429.get(&nobody),
            "{}",
            backend.name
        );
        // After the window the right password works again. (Attempts refused during a lockout are not
        // counted, so the window is still the first, short one.)
        // (Should the loop have outlasted the first window, a later failure started a second one: wait that too.)
        let mut reply = login(&state, &alice.username, PASSWORD).await;
        for _ in 0..4 {
            if reply.status != StatusCode::TOO_MANY_REQUESTS {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
            reply = login(&state, &alice.username, PASSWORD).await;
            wait = reply.retry_after().unwrap_or(1);
        }
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}: {}",
            backend.name,
            reply.body
        );
        // The success reset the account's counter: one wrong password is a plain 401 again.
        let reply = login(&state, &alice.username, "wrong password!").await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn sends_past_the_quota_are_429_with_retry_after() {
    let backend = backends().remove(0);
    let quotas = Quotas {
        sends_per_hour: 3,
        key_operations_per_day: 3,
        key_package_claims_per_hour: 3,
        ..Quotas::default()
    };
    let state = state_with_quotas(&backend, false, quotas).await;
    // `user` registers one key: one key operation of three.
    let [alice, bob] = users(&state, ["alice", "bob"]).await;
    for i in 0..3 {
        let reply = send_text(&state, (&alice, &bob), "x", &format!("q-{i}"), false).await;
        reply.assert_status(StatusCode::CREATED);
    }
    let reply = send_text(&state, (&alice, &bob), "x", "q-3", false).await;
    reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert!(reply.retry_after().is_some_and(|s| (1..=3600).contains(&s)));
    // Quotas are per user: bob can still send.
    let reply = send_text(&state, (&bob, &alice), "x", "b-1", false).await;
    reply.assert_status(StatusCode::CREATED);

    // Key operations: the first registration was one; two more rotations fit, the third does not.
    let mut current = alice.key;
    for attempt in 0..3 {
        let next = test_key();
        let reply = register_key(&state, &alice.id, &alice.token, &next, Some(&current)).await;
        if attempt < 2 {
            reply.assert_status(StatusCode::CREATED);
            current = next;
        } else {
            reply.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
        }
    }
}

/// The id of `user_id`'s active key, read from the store.
async fn active_key_id(state: &Arc<AppState>, user_id: &str) -> String {
    let active = state.stores.keys.active_for_user(user_id).await.unwrap();
    active.unwrap().key_id
}

#[tokio::test]
async fn registering_a_key_needs_proof_of_possession_and_a_second_factor() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let alice = user(&state, "alice").await;
        let attacker_key = test_key();
        let register = async |body: Value| post_register_key(&state, &alice.token, body).await;
        let pem = attacker_key.public_key().to_spki_pem().unwrap();
        let good = register_key_body(&alice.id, &attacker_key, Some(&alice.key));
        let with_password = |key: &e2ee_crypto::PrivateKey, password: &str| {
            let mut body = register_key_body(&alice.id, key, None);
            body["password"] = json!(password);
            body
        };

        // A proof by another key, or over another statement.
        let mut wrong_signer = good.clone();
        wrong_signer["proof"] = register_key_body(&alice.id, &alice.key, None)["proof"].clone();
        let mut other_user = good.clone();
        other_user["proof"] =
            register_key_body(&backend_other_user(), &attacker_key, None)["proof"].clone();
        // A stale statement (replayed later).
        let mut stale = good.clone();
        stale["createdAt"] = json!(now_ms() - 10 * 60 * 1000);
        let refused = [
            (
                "no proof at all (the old request shape)",
                json!({"publicKey": pem}),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
            (
                "signed by another key",
                wrong_signer,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_proof",
            ),
            (
                "for another user",
                other_user,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_proof",
            ),
            (
                "a stale statement",
                stale,
                StatusCode::BAD_REQUEST,
                "stale_statement",
            ),
            // A valid proof but only a bearer token: a token thief cannot replace alice's key.
            (
                "no second factor",
                register_key_body(&alice.id, &attacker_key, None),
                StatusCode::FORBIDDEN,
                "authorization_required",
            ),
            (
                "authorized by a key that is not alice's active key",
                register_key_body(&alice.id, &attacker_key, Some(&attacker_key)),
                StatusCode::FORBIDDEN,
                "authorization_failed",
            ),
            (
                "a wrong password",
                with_password(&attacker_key, "not the password"),
                StatusCode::FORBIDDEN,
                "authorization_failed",
            ),
        ];
        for (what, body, status, code) in refused {
            let reply = register(body).await;
            assert_eq!(
                (reply.status, reply.error_code()),
                (status, code),
                "{what}: {}",
                reply.body
            );
        }
        // Nothing changed so far.
        assert_eq!(
            active_key_id(&state, &alice.id).await,
            alice.key.key_id().to_string(),
            "{}",
            backend.name
        );

        // With the old key's signature, or with the password: accepted.
        register(good).await.assert_status(StatusCode::CREATED);
        let newest = test_key();
        let reply = register(with_password(&newest, PASSWORD)).await;
        reply.assert_status(StatusCode::CREATED);
        assert_eq!(
            active_key_id(&state, &alice.id).await,
            newest.key_id().to_string()
        );
    }
}

/// A rotation authorized by the active key is listed with that authorization (the endorsement), which any
/// client can check against the previous key; a first key and a password-authorized one have none.
#[tokio::test]
async fn a_rotation_authorized_by_the_active_key_is_listed_with_its_endorsement() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
        let rotated = test_key();
        let body = register_key_body(&alice.id, &rotated, Some(&alice.key));
        let created_at = body["createdAt"].as_u64().unwrap();
        let signature = body["authorization"]["signature"].clone();
        let reply = post_register_key(&state, &alice.token, body).await;
        reply.assert_status(StatusCode::CREATED);
        let expected = json!({"keyId": alice.key.key_id().to_string(), "createdAt": created_at,
                              "signature": signature});
        assert_eq!(reply.body["endorsement"], expected, "{}", backend.name);

        // Registered with the password: no endorsement.
        let by_password = test_key();
        let mut body = register_key_body(&alice.id, &by_password, None);
        body["password"] = json!(PASSWORD);
        let reply = post_register_key(&state, &alice.token, body).await;
        reply.assert_status(StatusCode::CREATED);
        assert!(reply.body.get("endorsement").is_none(), "{}", reply.body);

        // What another user sees: newest first, the endorsement only on the rotated key, and it verifies
        // under the previous key over the rotated key's registration statement.
        let listing = public_key(&state, &bob.token, &alice.id, &[("all", "true")]).await;
        listing.assert_status(StatusCode::OK);
        let keys = listing.body["keys"].as_array().unwrap();
        let ids: Vec<&str> = keys.iter().map(|k| k["keyId"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            [
                by_password.key_id().to_string(),
                rotated.key_id().to_string(),
                alice.key.key_id().to_string()
            ]
        );
        assert!(keys[0].get("endorsement").is_none(), "{}", keys[0]);
        assert_eq!(keys[1]["endorsement"], expected);
        assert!(
            keys[2].get("endorsement").is_none(),
            "a first key: {}",
            keys[2]
        );
        let statement = e2ee_crypto::KeyStatement {
            operation: KeyOperation::Register,
            user_id: &alice.id,
            key_id: rotated.key_id(),
            created_at,
        };
        let listed_signature = keys[1]["endorsement"]["signature"].as_str().unwrap();
        statement
            .verify(alice.key.public_key(), &b64_decode(listed_signature))
            .unwrap();
        // Without `all`, only the active key is answered, as before.
        let active = public_key(&state, &bob.token, &alice.id, &[]).await;
        assert!(active.body.get("keys").is_none() && active.body.get("endorsement").is_none());
    }
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn backend_other_user() -> String {
    format!("u_{}", random_hex(16))
}

async fn revoke(
    state: &Arc<AppState>,
    who: &User,
    key_id: &str,
    signer: Option<&e2ee_crypto::PrivateKey>,
) -> Reply {
    let key = e2ee_crypto::KeyId::parse(key_id).unwrap();
    let statement = statement(KeyOperation::Revoke, &who.id, key);
    let mut body = json!({"keyId": key_id, "createdAt": statement.created_at});
    if let Some(signer) = signer {
        body["authorization"] = authorization(&statement, signer);
    }
    post(state, "/api/crypto/revoke-key", &who.token, body).await
}

/// Sends [`signed_envelope`] from `from` to `to`.
async fn send_signed(
    state: &Arc<AppState>,
    (from, to): (&User, &User),
    message_id: &str,
    created_at: u64,
    signer: &e2ee_crypto::PrivateKey,
) -> Reply {
    let envelope = signed_envelope(&from.id, to, message_id, created_at, signer);
    send_envelope(state, from, to, envelope).await
}

#[tokio::test]
async fn revoked_keys_sign_nothing_and_retired_keys_only_what_predates_retirement() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [mut alice, bob] = users(&state, ["alice", "bob"]).await;
        let before_rotation = now_ms() - 1000;

        // Rotate: the old key is retired.
        let new_key = test_key();
        let reply = register_key(&state, &alice.id, &alice.token, &new_key, Some(&alice.key)).await;
        reply.assert_status(StatusCode::CREATED);
        let old_key = std::mem::replace(&mut alice.key, new_key);
        let new_key = &alice.key;
        let listed = state
            .stores
            .keys
            .get(&alice.id, &old_key.key_id().to_string())
            .await
            .unwrap()
            .unwrap();
        let retired_at = listed.retired_at.expect("retired_at is recorded");

        let backdated = before_rotation - 10 * 60 * 1000;
        let future = now_ms() + 60 * 60 * 1000;
        let retired = [
            // The retired key still vouches for a message created before its retirement …
            ("r-old", before_rotation, &old_key, StatusCode::CREATED, ""),
            // … but not for one created after it.
            (
                "r-new",
                retired_at as u64 + 1,
                &old_key,
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_signature",
            ),
            // Nor can it backdate a new message to before its retirement: only messages in flight (created
            // within the clock skew) are accepted from a retired key.
            (
                "r-backdated",
                backdated,
                &old_key,
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_signature",
            ),
            // A message dated in the future (readers show the signed time) is refused, whoever signs it.
            (
                "r-future",
                future,
                new_key,
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_created_at",
            ),
        ];
        for (message_id, created_at, signer, status, code) in retired {
            let reply = send_signed(&state, (&alice, &bob), message_id, created_at, signer).await;
            reply.assert_outcome(status, code);
        }

        // Revoking needs the second factor, and works on own keys only.
        let new_key_id = new_key.key_id().to_string();
        let reply = revoke(&state, &alice, &new_key_id, None).await;
        reply.assert_error(StatusCode::FORBIDDEN, "authorization_required");
        let bob_key_id = bob.key.key_id().to_string();
        let reply = revoke(&state, &alice, &bob_key_id, Some(new_key)).await;
        reply.assert_error(StatusCode::NOT_FOUND, "key_not_found");
        // The retired old key, then the last active key (authorized by itself).
        let old_key_id = old_key.key_id().to_string();
        let reply = revoke(&state, &alice, &old_key_id, Some(new_key)).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body["status"], "revoked");
        assert!(reply.body["revokedAt"].as_i64().is_some());
        let reply = revoke(&state, &alice, &new_key_id, Some(new_key)).await;
        reply.assert_status(StatusCode::OK);

        // A revoked key signs nothing, not even a message dated before the revocation.
        for (message_id, created_at, signer) in [
            ("v-1", before_rotation, &old_key),
            ("v-2", now_ms(), new_key),
        ] {
            let reply = send_signed(&state, (&alice, &bob), message_id, created_at, signer).await;
            reply.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "bad_signature");
        }
        // No active key any more; registering again needs the password (no key can authorize).
        let fresh = test_key();
        let reply = register_key(&state, &alice.id, &alice.token, &fresh, None).await;
        reply.assert_error(StatusCode::FORBIDDEN, "authorization_required");
        let mut body = register_key_body(&alice.id, &fresh, None);
        body["password"] = json!(PASSWORD);
        let reply = post_register_key(&state, &alice.token, body).await;
        reply.assert_status(StatusCode::CREATED);
    }
}

#[tokio::test]
async fn generated_keys_stay_pending_until_the_client_proves_possession() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;
    // A user without any key: the generated key must not become active by itself.
    let username = format!("gen_{}", random_hex(4));
    let reply = register(&state, json!({"username": username, "password": PASSWORD})).await;
    let user_id = reply.body["userId"].as_str().unwrap().to_owned();
    let token = state.tokens.issue(&user_id).unwrap().token;
    let reply = generate_keys(&state, &token, None).await;
    reply.assert_status(StatusCode::CREATED);
    assert_eq!(reply.body["status"], "pending");
    let generated =
        e2ee_crypto::PrivateKey::from_pkcs8_pem(reply.body["privateKey"].as_str().unwrap())
            .unwrap();
    let lookup = public_key(&state, &token, &user_id, &[]).await;
    lookup.assert_error(StatusCode::NOT_FOUND, "no_active_key");
    // The client activates it with its proof (the user's first key: no second factor needed).
    let reply = register_key(&state, &user_id, &token, &generated, None).await;
    reply.assert_status(StatusCode::CREATED);
    assert_eq!(reply.body["status"], "active");
}
