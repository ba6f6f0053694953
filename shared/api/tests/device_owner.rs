//! The account's owner against a stolen device (docs/security.md, "Revoking a device needs the identity key"):
//! a device token alone revokes nothing; the holder of the identity key (or the password) registers a
//! certified device and revokes the thief's whatever is active; and the caps and quota on device
//! registration, and the paged device list, on every backend.

use e2ee_api::config::Quotas;
use e2ee_crypto::DeviceRevocation;
use e2ee_protocol::MAX_DEVICE_PAGE_BYTES;
use e2ee_storage::{DeviceCertificate, NewDevice};
use e2ee_test_kit::in_process::*;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

async fn devices_page(state: &State, token: &str, user_id: &str, query: &[(&str, &str)]) -> Reply {
    let path = format!("/api/devices/{user_id}");
    get(state, token, &path, ("userId", user_id), query).await
}

/// `(deviceId, status)` of every device listed (first page).
async fn listed(state: &State, token: &str, user_id: &str) -> Vec<(String, String)> {
    let page = devices_page(state, token, user_id, &[]).await;
    page.assert_status(StatusCode::OK);
    page.body["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["deviceId"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pair(device_id: &str, status: &str) -> (String, String) {
    (device_id.to_owned(), status.to_owned())
}

/// Fails on the old code: a device token alone revoked every other device of its user.
#[tokio::test]
async fn a_stolen_device_token_alone_revokes_nothing() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let alice = user(&state, "alice").await;
        let (_, laptop_token) = first_device(&state, &alice, "laptop").await;
        let phone = TestDevice::new(&alice.id, "phone");
        post(
            &state,
            "/api/devices",
            &alice.token,
            phone.registration(Some(&alice.key)),
        )
        .await
        .assert_status(StatusCode::CREATED);

        // The thief has the laptop's token (and the user token), not the identity key nor the password.
        for token in [&laptop_token, &alice.token] {
            for body in [
                json!({"deviceId": "phone"}),
                json!({"deviceId": "phone", "createdAt": now_ms()}),
            ] {
                let reply = post(&state, "/api/devices/revoke", token, body).await;
                assert!(
                    matches!(
                        (reply.status, reply.error_code()),
                        (StatusCode::BAD_REQUEST, "invalid_json")
                            | (StatusCode::FORBIDDEN, "authorization_required")
                    ),
                    "{}",
                    reply.body
                );
            }
        }
        assert_eq!(
            listed(&state, &alice.token, &alice.id).await,
            [pair("laptop", "active"), pair("phone", "active")]
        );
    }
}

/// Fails on the old code: a certified registration was `409 approval_required` while the thief's device was
/// active, and revoking needed a device token of an active device (`403 device_token_required`).
#[tokio::test]
async fn the_identity_key_holder_registers_a_certified_device_and_revokes_the_thief() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let alice = user(&state, "alice").await;
        let (_, stolen_token) = first_device(&state, &alice, "laptop").await;

        // The owner, on a new machine, with the identity key: a certified device, active at once.
        let desktop = TestDevice::new(&alice.id, "desktop");
        let registered = post(
            &state,
            "/api/devices",
            &alice.token,
            desktop.registration(Some(&alice.key)),
        )
        .await;
        registered.assert_status(StatusCode::CREATED);
        assert_eq!(registered.body["status"], "active");

        // With the user token (no device of theirs needed) and the identity key: the thief's laptop goes.
        let revoked = post(
            &state,
            "/api/devices/revoke",
            &alice.token,
            revocation(&alice.id, "laptop", &alice.key),
        )
        .await;
        revoked.assert_status(StatusCode::OK);
        assert_eq!(revoked.body["status"], "revoked");
        get_plain(&state, &stolen_token, "/api/key-packages/supply")
            .await
            .assert_error(StatusCode::FORBIDDEN, "device_not_active");
        // The thief's (now dead) device token cannot undo anything either.
        post(
            &state,
            "/api/devices/revoke",
            &stolen_token,
            json!({"deviceId": "desktop", "createdAt": now_ms()}),
        )
        .await
        .assert_error(StatusCode::FORBIDDEN, "authorization_required");

        // The password works too (an owner whose identity key is gone), through a device token of the desktop.
        let desktop_token = device_token(&state, &alice, &desktop).await;
        let tablet = TestDevice::new(&alice.id, "tablet");
        post(
            &state,
            "/api/devices",
            &alice.token,
            tablet.registration(None),
        )
        .await
        .assert_status(StatusCode::CREATED);
        post(
            &state,
            "/api/devices/revoke",
            &desktop_token,
            json!({"deviceId": "tablet", "createdAt": now_ms(), "password": PASSWORD}),
        )
        .await
        .assert_status(StatusCode::OK);
        // A retry is harmless.
        post(
            &state,
            "/api/devices/revoke",
            &alice.token,
            revocation(&alice.id, "tablet", &alice.key),
        )
        .await
        .assert_status(StatusCode::OK);
        assert_eq!(
            listed(&state, &alice.token, &alice.id).await,
            [pair("desktop", "active")]
        );
    }
}

/// Fails on the old code (which ignored every authorization: the laptop's token was enough).
#[tokio::test]
async fn bad_revocation_authorizations_are_refused_with_clear_codes() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let [alice, bob] = users(&state, ["alice", "bob"]).await;
    let (_, laptop_token) = first_device(&state, &alice, "laptop").await;
    let phone = TestDevice::new(&alice.id, "phone");
    post(
        &state,
        "/api/devices",
        &alice.token,
        phone.registration(Some(&alice.key)),
    )
    .await
    .assert_status(StatusCode::CREATED);

    let signed = |device_id: &str, created_at: u64, signer: &e2ee_crypto::PrivateKey| {
        let statement = DeviceRevocation {
            user_id: &alice.id,
            device_id,
            created_at,
        };
        json!({
            "keyId": signer.key_id().to_string(),
            "signature": b64(&statement.sign(signer).unwrap()),
        })
    };
    let now = now_ms();
    let body = |authorization: Value| json!({"deviceId": "phone", "createdAt": now, "authorization": authorization});
    let stale_at = now - 10 * 60 * 1000;
    let mut by_bob_named_alice = signed("phone", now, &bob.key);
    by_bob_named_alice["keyId"] = json!(alice.key.key_id().to_string());
    let mut garbled = signed("phone", now, &alice.key);
    garbled["signature"] = json!("not base64!");
    let cases = [
        // Signed for another device.
        (
            body(signed("laptop", now, &alice.key)),
            StatusCode::FORBIDDEN,
            "authorization_failed",
        ),
        // Another user's key, named as itself or as Alice's.
        (
            body(signed("phone", now, &bob.key)),
            StatusCode::FORBIDDEN,
            "authorization_failed",
        ),
        (
            body(by_bob_named_alice),
            StatusCode::FORBIDDEN,
            "authorization_failed",
        ),
        // Signed at another time than the body says.
        (
            body(signed("phone", now - 1, &alice.key)),
            StatusCode::FORBIDDEN,
            "authorization_failed",
        ),
        // A stale statement, however well signed.
        (
            json!({"deviceId": "phone", "createdAt": stale_at, "authorization": signed("phone", stale_at, &alice.key)}),
            StatusCode::BAD_REQUEST,
            "stale_statement",
        ),
        (
            body(garbled),
            StatusCode::BAD_REQUEST,
            "invalid_signature_encoding",
        ),
        (
            json!({"deviceId": "phone", "createdAt": now, "password": "not the password"}),
            StatusCode::FORBIDDEN,
            "authorization_failed",
        ),
        (
            json!({"deviceId": "phone", "createdAt": now, "password": PASSWORD, "authorization": signed("phone", now, &alice.key)}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            json!({"deviceId": "phone", "createdAt": now}),
            StatusCode::FORBIDDEN,
            "authorization_required",
        ),
        (
            json!({"deviceId": "no such", "createdAt": now}),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        // Bob's own key cannot reach Alice's devices: his caller's devices are looked up, and he has none.
    ];
    for (body, status, code) in cases {
        post(&state, "/api/devices/revoke", &laptop_token, body)
            .await
            .assert_error(status, code);
    }
    post(
        &state,
        "/api/devices/revoke",
        &bob.token,
        revocation(&bob.id, "phone", &bob.key),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "device_not_found");

    // A key that was Alice's but is retired no longer authorizes.
    let new_key = test_key();
    register_key(&state, &alice.id, &alice.token, &new_key, Some(&alice.key))
        .await
        .assert_status(StatusCode::CREATED);
    post(
        &state,
        "/api/devices/revoke",
        &laptop_token,
        revocation(&alice.id, "phone", &alice.key),
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "authorization_failed");
    assert_eq!(
        listed(&state, &alice.token, &alice.id).await,
        [pair("laptop", "active"), pair("phone", "active")],
        "nothing was revoked"
    );
    // The new active key does.
    post(
        &state,
        "/api/devices/revoke",
        &laptop_token,
        revocation(&alice.id, "phone", &new_key),
    )
    .await
    .assert_status(StatusCode::OK);
}

/// Fails on the old code (no password was taken). Password revocations are password checks like logins: they
/// count against the account's login throttle and are refused during its lockout.
#[tokio::test]
async fn revocation_passwords_are_counted_by_the_login_throttle() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    first_device(&state, &alice, "laptop").await;
    let wrong =
        || json!({"deviceId": "laptop", "createdAt": now_ms(), "password": "wrong password!"});
    // Five failures are free (docs/security.md); the sixth starts a lockout.
    for _ in 0..6 {
        post(&state, "/api/devices/revoke", &alice.token, wrong())
            .await
            .assert_error(StatusCode::FORBIDDEN, "authorization_failed");
    }
    let locked = post(&state, "/api/devices/revoke", &alice.token, wrong()).await;
    locked.assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    assert!(locked.retry_after().is_some_and(|s| s >= 1));
    // The same counter as logins: the right password is not even checked during the lockout.
    login(&state, &alice.username, PASSWORD)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    post(
        &state,
        "/api/devices/revoke",
        &alice.token,
        json!({"deviceId": "laptop", "createdAt": now_ms(), "password": PASSWORD}),
    )
    .await
    .assert_error(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
}

/// Fails on the old code (no caps, no quota: 400 pending devices at 274/s).
#[tokio::test]
async fn device_registrations_are_capped_and_rate_limited() {
    for backend in backends() {
        let quotas = Quotas {
            max_pending_devices: 2,
            max_devices_per_user: 4,
            device_registrations_per_day: 6,
            ..Quotas::default()
        };
        let state = state_with_quotas(&backend, false, quotas).await;
        let alice = user(&state, "alice").await;
        first_device(&state, &alice, "laptop").await; // 1 of 6 registrations, 1 of 4 devices
        let pending = |id: &str| TestDevice::new(&alice.id, id).registration(None);
        let p1 = pending("p1");
        for body in [p1.clone(), pending("p2")] {
            post(&state, "/api/devices", &alice.token, body)
                .await
                .assert_status(StatusCode::CREATED);
        }
        // A third pending device passes the pending cap; a retry of a stored one is not a new device.
        post(&state, "/api/devices", &alice.token, pending("p3"))
            .await
            .assert_error(StatusCode::CONFLICT, "too_many_pending_devices");
        post(&state, "/api/devices", &alice.token, p1)
            .await
            .assert_status(StatusCode::CREATED);
        // A certified device is not pending: it fits under the total cap (4 of 4) …
        let certified = |id: &str| TestDevice::new(&alice.id, id).registration(Some(&alice.key));
        post(&state, "/api/devices", &alice.token, certified("c1"))
            .await
            .assert_status(StatusCode::CREATED);
        // … and then nothing more does.
        post(&state, "/api/devices", &alice.token, certified("c2"))
            .await
            .assert_error(StatusCode::CONFLICT, "too_many_devices");
        // Revoked devices leave the caps, not the daily quota: 4 registrations used, 2 left.
        for id in ["p1", "p2"] {
            post(
                &state,
                "/api/devices/revoke",
                &alice.token,
                revocation(&alice.id, id, &alice.key),
            )
            .await
            .assert_status(StatusCode::OK);
        }
        for id in ["p4", "p5"] {
            post(&state, "/api/devices", &alice.token, pending(id))
                .await
                .assert_status(StatusCode::CREATED);
        }
        post(
            &state,
            "/api/devices/revoke",
            &alice.token,
            revocation(&alice.id, "p4", &alice.key),
        )
        .await
        .assert_status(StatusCode::OK);
        let refused = post(&state, "/api/devices", &alice.token, pending("p6")).await;
        refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
        assert!(
            refused
                .retry_after()
                .is_some_and(|s| (1..=86_400).contains(&s))
        );
        // Refused registrations wrote nothing.
        let ids: Vec<String> = listed(&state, &alice.token, &alice.id)
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, ["laptop", "c1", "p5"]);
    }
}

/// A device view as large as the rules allow: a 64-character display name of 4-byte characters, a
/// 256-byte signature key and a 512-byte certificate signature.
fn large_device(user_id: &str, index: usize) -> NewDevice {
    NewDevice {
        user_id: user_id.to_owned(),
        device_id: format!("d{index:04}"),
        display_name: "\u{1D11E}".repeat(64),
        signature_key: vec![7; 256],
        certificate: Some(DeviceCertificate {
            issuer_key_id: "a".repeat(64),
            issued_at: 1,
            signature: vec![9; 512],
            link_proof: None,
        }),
    }
}

/// Fails on the old code: one page held every device (past Lambda's 6 MB at ~9,800 devices), without
/// `nextAfter`, and here past the 128 KiB page cap.
#[tokio::test]
async fn device_lists_are_paged_under_the_byte_cap() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
        // Inserted through the store (the caps are the API's): 230 devices, one of them revoked.
        for index in 0..230 {
            state
                .stores
                .devices
                .register(large_device(&alice.id, index))
                .await
                .unwrap();
        }
        state
            .stores
            .devices
            .revoke(&alice.id, "d0100")
            .await
            .unwrap();
        let expected: Vec<String> = state
            .stores
            .devices
            .list_for_user(&alice.id)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.device_id)
            .collect();
        assert_eq!(expected.len(), 229);

        for limit in [None, Some("100"), Some("7")] {
            let mut walked = Vec::new();
            let mut after: Option<String> = None;
            let mut pages = 0;
            loop {
                let mut query = Vec::new();
                if let Some(limit) = limit {
                    query.push(("limit", limit));
                }
                if let Some(after) = after.as_deref() {
                    query.push(("after", after));
                }
                let page = devices_page(&state, &bob.token, &alice.id, &query).await;
                page.assert_status(StatusCode::OK);
                let bytes = page.response.body().len();
                assert!(bytes <= MAX_DEVICE_PAGE_BYTES, "a page of {bytes} bytes");
                let devices = page.body["devices"].as_array().unwrap();
                assert!(!devices.is_empty());
                let max = limit.map_or(100, |l| l.parse().unwrap());
                assert!(devices.len() <= max);
                walked.extend(
                    devices
                        .iter()
                        .map(|d| d["deviceId"].as_str().unwrap().to_owned()),
                );
                pages += 1;
                assert!(pages <= 100, "the walk does not end");
                match page.body["nextAfter"].as_str() {
                    Some(next) => {
                        assert_eq!(Some(next), walked.last().map(String::as_str));
                        after = Some(next.to_owned());
                    }
                    None => break,
                }
            }
            assert_eq!(walked, expected, "limit {limit:?}");
            // 229 large devices do not fit in two pages of 128 KiB.
            assert!(pages >= 3, "{pages} pages");
        }

        // A revoked device's id still continues a walk; an unknown one, or garbage, does not.
        let from_revoked = devices_page(&state, &bob.token, &alice.id, &[("after", "d0100")]).await;
        from_revoked.assert_status(StatusCode::OK);
        assert_eq!(from_revoked.body["devices"][0]["deviceId"], "d0101");
        for (query, code) in [
            (("after", "d9999"), "invalid_after"),
            (("after", "bad id!"), "invalid_after"),
            (("limit", "0"), "invalid_limit"),
            (("limit", "101"), "invalid_limit"),
            (("limit", "ten"), "invalid_limit"),
        ] {
            devices_page(&state, &bob.token, &alice.id, &[query])
                .await
                .assert_error(StatusCode::BAD_REQUEST, code);
        }
        // A short list is one page, as before.
        let short = devices_page(&state, &alice.token, &bob.id, &[]).await;
        short.assert_status(StatusCode::OK);
        assert_eq!(short.body["devices"], json!([]));
        assert!(short.body.get("nextAfter").is_none());
    }
}
