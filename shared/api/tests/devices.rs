//! The MLS device directory and key packages through the handlers, on every backend: registration and
//! approval under identity-key certificates, device tokens, revocation, key package upload (validated with
//! openmls) and claims; the authorization matrix and bad input.

use e2ee_api::config::Quotas;
use e2ee_test_kit::in_process::*;
use lambda_http::http::StatusCode;
use serde_json::{Value, json};

fn device_ids(list: &Value) -> Vec<&str> {
    list["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["deviceId"].as_str().unwrap())
        .collect()
}

async fn list(state: &State, token: &str, user_id: &str) -> Value {
    let path = format!("/api/devices/{user_id}");
    let reply = get(state, token, &path, ("userId", user_id), &[]).await;
    reply.assert_status(StatusCode::OK);
    reply.body
}

#[tokio::test]
async fn devices_are_certified_approved_and_revoked() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;

        // The first device certifies itself with the account's identity key and is active at once; a retry
        // returns it unchanged.
        let laptop = TestDevice::new(&alice.id, "laptop");
        let registration = laptop.registration(Some(&alice.key));
        let first = post(&state, "/api/devices", &alice.token, registration.clone()).await;
        first.assert_status(StatusCode::CREATED);
        assert_eq!(first.body["status"], "active");
        assert_eq!(first.body["signatureKey"], b64(&laptop.signature_key()));
        let again = post(&state, "/api/devices", &alice.token, registration).await;
        assert_eq!(
            (again.status, &again.body),
            (StatusCode::CREATED, &first.body)
        );
        // A new certificate (another issuedAt) for the same id is another registration.
        post(
            &state,
            "/api/devices",
            &alice.token,
            laptop.registration(Some(&alice.key)),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "device_exists");
        let laptop_token = device_token(&state, &alice, &laptop).await;

        // A second device without a certificate waits for approval.
        let phone = TestDevice::new(&alice.id, "phone");
        let pending = post(
            &state,
            "/api/devices",
            &alice.token,
            phone.registration(None),
        )
        .await;
        pending.assert_status(StatusCode::CREATED);
        assert_eq!(pending.body["status"], "pending");
        assert!(pending.body["certificate"].is_null());
        post(
            &state,
            "/api/devices/session",
            &alice.token,
            phone.session_request(),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "device_pending");
        // Everyone sees both devices with what they need to verify them.
        assert_eq!(
            device_ids(&list(&state, &bob.token, &alice.id).await),
            ["laptop", "phone"]
        );

        // The laptop approves the phone with a certificate by the identity key.
        let approval = json!({"deviceId": "phone", "certificate": phone.certificate(&alice.key)});
        let approved = post(
            &state,
            "/api/devices/approve",
            &laptop_token,
            approval.clone(),
        )
        .await;
        approved.assert_status(StatusCode::OK);
        assert_eq!(approved.body["status"], "active");
        assert_eq!(approved.body["certificate"], approval["certificate"]);
        post(
            &state,
            "/api/devices/approve",
            &laptop_token,
            approval.clone(),
        )
        .await
        .assert_status(StatusCode::OK);
        let phone_token = device_token(&state, &alice, &phone).await;
        let listed = list(&state, &bob.token, &alice.id).await;
        assert!(
            listed["devices"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "active")
        );

        // The phone revokes the laptop with the identity key: it leaves the list, its token stops working on
        // device routes at once, and its id is never registered again.
        let revoked = post(
            &state,
            "/api/devices/revoke",
            &phone_token,
            revocation(&alice.id, "laptop", &alice.key),
        )
        .await;
        revoked.assert_status(StatusCode::OK);
        assert_eq!(revoked.body["status"], "revoked");
        assert_eq!(
            device_ids(&list(&state, &bob.token, &alice.id).await),
            ["phone"]
        );
        get_plain(&state, &laptop_token, "/api/key-packages/supply")
            .await
            .assert_error(StatusCode::FORBIDDEN, "device_not_active");
        post(
            &state,
            "/api/devices",
            &alice.token,
            laptop.registration(None),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "device_revoked");
        post(
            &state,
            "/api/devices/session",
            &alice.token,
            laptop.session_request(),
        )
        .await
        .assert_error(StatusCode::CONFLICT, "device_revoked");
    }
}

#[tokio::test]
async fn the_device_authorization_matrix() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let [alice, bob] = users(&state, ["alice", "bob"]).await;
    let (_, alice_laptop) = first_device(&state, &alice, "laptop").await;
    let (_, bob_laptop) = first_device(&state, &bob, "laptop").await;

    // A user token (a password, no device key) is refused on every device-scoped route.
    for (path, body) in [
        (
            "/api/devices/approve",
            json!({"deviceId": "x", "certificate": {"issuerKeyId": "a".repeat(64), "issuedAt": 1, "signature": "AA=="}}),
        ),
        ("/api/key-packages", json!({"keyPackages": ["AA=="]})),
        ("/api/key-packages/claim", json!({"userId": bob.id})),
    ] {
        post(&state, path, &alice.token, body)
            .await
            .assert_error(StatusCode::FORBIDDEN, "device_token_required");
    }
    get_plain(&state, &alice.token, "/api/key-packages/supply")
        .await
        .assert_error(StatusCode::FORBIDDEN, "device_token_required");
    // No token at all: 401 everywhere.
    let list_path = format!("/api/devices/{}", alice.id);
    get(&state, "", &list_path, ("userId", &alice.id), &[])
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");

    // Alice's device cannot approve or revoke Bob's devices: they are not devices of Alice.
    let bob_phone = TestDevice::new(&bob.id, "phone");
    post(
        &state,
        "/api/devices",
        &bob.token,
        bob_phone.registration(None),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let approval = json!({"deviceId": "phone", "certificate": bob_phone.certificate(&bob.key)});
    post(
        &state,
        "/api/devices/approve",
        &alice_laptop,
        approval.clone(),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "device_not_found");
    post(
        &state,
        "/api/devices/revoke",
        &alice_laptop,
        revocation(&alice.id, "phone", &alice.key),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "device_not_found");
    // A certificate for Bob's phone by Alice's identity key, presented by Bob's device: the issuer is not Bob's.
    let forged = json!({"deviceId": "phone", "certificate": bob_phone.certificate(&alice.key)});
    post(&state, "/api/devices/approve", &bob_laptop, forged)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate");
    // A certificate by Bob's key over another signature key than the phone registered.
    let other_key = TestDevice::new(&bob.id, "phone");
    let wrong_key = json!({"deviceId": "phone", "certificate": other_key.certificate(&bob.key)});
    post(&state, "/api/devices/approve", &bob_laptop, wrong_key)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate");
    let phone = get(
        &state,
        &bob.token,
        &format!("/api/devices/{}", bob.id),
        ("userId", &bob.id),
        &[],
    )
    .await;
    assert!(
        phone.body["devices"][1]["certificate"].is_null(),
        "nothing was written: {}",
        phone.body
    );

    // A first device certified by another user's key, or by a key that is not the user's active key.
    let carol = user(&state, "carol").await;
    let carol_laptop = TestDevice::new(&carol.id, "laptop");
    let mut by_alice = carol_laptop.registration(None);
    by_alice["certificate"] = carol_laptop.certificate(&alice.key);
    post(&state, "/api/devices", &carol.token, by_alice)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "invalid_certificate");
    // Session proofs: by another key than the device's; stale; Bob asking for Alice's device (sessions are for
    // the caller's own devices, so that looks up Bob's own laptop, under whose key the proof does not verify);
    // a device the caller does not have.
    let impostor = TestDevice::new(&alice.id, "laptop");
    let mut stale = impostor.session_request();
    stale["createdAt"] = json!(1_000);
    let alice_tablet = TestDevice::new(&alice.id, "tablet");
    for (token, body, status, code) in [
        (
            &alice.token,
            impostor.session_request(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_proof",
        ),
        (
            &alice.token,
            stale,
            StatusCode::BAD_REQUEST,
            "stale_statement",
        ),
        (
            &bob.token,
            impostor.session_request(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_proof",
        ),
        (
            &bob.token,
            alice_tablet.session_request(),
            StatusCode::NOT_FOUND,
            "device_not_found",
        ),
    ] {
        post(&state, "/api/devices/session", token, body)
            .await
            .assert_error(status, code);
    }
    // Listing an unknown user.
    get(
        &state,
        &bob.token,
        "/api/devices/u_nobody",
        ("userId", "u_nobody"),
        &[],
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "user_not_found");
}

#[tokio::test]
async fn bad_device_input_is_a_clear_400() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    let device = TestDevice::new(&alice.id, "laptop");
    let mut cases = Vec::new();
    for (field, value) in [
        ("deviceId", json!("has space")),
        ("deviceId", json!("d".repeat(65))),
        ("signatureKey", json!("not base64!")),
        ("signatureKey", json!(b64(&[1; 257]))),
        ("displayName", json!("")),
    ] {
        let mut body = device.registration(None);
        body[field] = value;
        cases.push(body);
    }
    let mut unknown_field = device.registration(None);
    unknown_field["admin"] = json!(true);
    for (body, code) in cases
        .into_iter()
        .zip([
            "invalid_request",
            "invalid_request",
            "invalid_base64",
            "invalid_base64",
            "invalid_display_name",
        ])
        .chain([(unknown_field, "invalid_json")])
    {
        post(&state, "/api/devices", &alice.token, body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, code);
    }
    let listed = get(
        &state,
        &alice.token,
        &format!("/api/devices/{}", alice.id),
        ("userId", &alice.id),
        &[],
    )
    .await;
    assert_eq!(listed.body["devices"], json!([]), "nothing was written");
}

#[tokio::test]
async fn key_packages_are_validated_claimed_once_and_fall_back_to_the_last_resort() {
    for backend in backends() {
        let state = state_for(&backend, false).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
        let (laptop, laptop_token) = first_device(&state, &alice, "laptop").await;
        let (_, bob_token) = first_device(&state, &bob, "laptop").await;

        let packages = vec![
            laptop.key_package(),
            laptop.key_package(),
            laptop.last_resort_key_package(),
        ];
        let uploaded = upload_key_packages(&state, &laptop_token, &packages).await;
        uploaded.assert_status(StatusCode::CREATED);
        assert_eq!(uploaded.body, json!({"oneTime": 2, "lastResort": true}));
        // A retried upload stores nothing twice.
        upload_key_packages(&state, &laptop_token, &packages[..1])
            .await
            .assert_status(StatusCode::CREATED);
        let supply = get_plain(&state, &laptop_token, "/api/key-packages/supply").await;
        assert_eq!(supply.body, json!({"oneTime": 2, "lastResort": true}));

        let mut handed_out = Vec::new();
        for _ in 0..4 {
            let claim = post(
                &state,
                "/api/key-packages/claim",
                &bob_token,
                json!({"userId": alice.id}),
            )
            .await;
            claim.assert_status(StatusCode::OK);
            let claimed = claim.body["keyPackages"].as_array().unwrap().clone();
            assert_eq!(claimed.len(), 1, "{}", claim.body);
            assert_eq!(claimed[0]["deviceId"], "laptop");
            handed_out.push((
                claimed[0]["keyPackage"].as_str().unwrap().to_owned(),
                claimed[0]["lastResort"].as_bool().unwrap(),
            ));
        }
        // The two one-time packages once each (unchanged bytes), then the last-resort one again and again.
        let one_time: Vec<_> = handed_out[..2].iter().map(|(p, _)| p.clone()).collect();
        assert!(one_time.contains(&b64(&packages[0])) && one_time.contains(&b64(&packages[1])));
        assert_eq!(handed_out[2], (b64(&packages[2]), true));
        assert_eq!(handed_out[3], (b64(&packages[2]), true));
        let supply = get_plain(&state, &laptop_token, "/api/key-packages/supply").await;
        assert_eq!(supply.body, json!({"oneTime": 0, "lastResort": true}));
    }
}

#[tokio::test]
async fn uploads_that_do_not_validate_are_refused_and_write_nothing() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    let (laptop, token) = first_device(&state, &alice, "laptop").await;
    let good = laptop.key_package();

    // A package whose credential names another device of the user, or another user.
    let as_phone = TestDevice::with_identity(
        &alice.id,
        "laptop",
        format!("{}/phone", alice.id).as_bytes(),
    );
    let as_bob = TestDevice::with_identity(&alice.id, "laptop", b"u_bob/laptop");
    // The right name, but a signature key the device did not register (a server-invented device would look
    // like this).
    let other_key = TestDevice::new(&alice.id, "laptop");
    let mut truncated = good.clone();
    truncated.truncate(good.len() / 2);
    let mut bad_signature = good.clone();
    let last = bad_signature.len() - 1;
    bad_signature[last] ^= 1;
    let wrong_suite = laptop.key_package_in(Ciphersuite::MLS_128_DHKEMP256_AES128GCM_SHA256_P256);
    let cases = vec![
        (
            as_phone.key_package(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key_package",
        ),
        (
            as_bob.key_package(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key_package",
        ),
        (
            other_key.key_package(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key_package",
        ),
        (truncated, StatusCode::BAD_REQUEST, "invalid_key_package"),
        (
            b"garbage".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_key_package",
        ),
        (
            bad_signature,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key_package",
        ),
        (
            vec![0; 16 * 1024 + 1],
            StatusCode::PAYLOAD_TOO_LARGE,
            "field_too_large",
        ),
        (
            wrong_suite,
            StatusCode::BAD_REQUEST,
            "unsupported_ciphersuite",
        ),
    ];
    for (bad, status, code) in cases {
        // The good package first: one bad package refuses the whole batch.
        upload_key_packages(&state, &token, &[good.clone(), bad])
            .await
            .assert_error(status, code);
    }
    post(
        &state,
        "/api/key-packages",
        &token,
        json!({"keyPackages": []}),
    )
    .await
    .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let too_many = vec![good.clone(); 101];
    upload_key_packages(&state, &token, &too_many)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    let supply = get_plain(&state, &token, "/api/key-packages/supply").await;
    assert_eq!(
        supply.body,
        json!({"oneTime": 0, "lastResort": false}),
        "nothing was stored"
    );
}

#[tokio::test]
async fn claims_past_the_quota_are_429_with_retry_after() {
    let backend = backends().remove(0);
    let quotas = Quotas {
        key_package_claims_per_hour: 2,
        ..Quotas::default()
    };
    let state = state_with_quotas(&backend, false, quotas).await;
    let [alice, bob] = users(&state, ["alice", "bob"]).await;
    let (_, bob_token) = first_device(&state, &bob, "laptop").await;
    let (_, bob_phone_token) = {
        // Bob's second device has a quota of its own.
        let phone = TestDevice::new(&bob.id, "phone");
        post(&state, "/api/devices", &bob.token, phone.registration(None))
            .await
            .assert_status(StatusCode::CREATED);
        let approval = json!({"deviceId": "phone", "certificate": phone.certificate(&bob.key)});
        post(&state, "/api/devices/approve", &bob_token, approval)
            .await
            .assert_status(StatusCode::OK);
        let token = device_token(&state, &bob, &phone).await;
        (phone, token)
    };
    let claim = |token: String| {
        let state = state.clone();
        let body = json!({"userId": alice.id});
        async move { post(&state, "/api/key-packages/claim", &token, body).await }
    };
    for _ in 0..2 {
        let reply = claim(bob_token.clone()).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(
            reply.body["keyPackages"],
            json!([]),
            "Alice has no device yet"
        );
    }
    let refused = claim(bob_token.clone()).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert!(
        refused
            .retry_after()
            .is_some_and(|s| (1..=3600).contains(&s))
    );
    claim(bob_phone_token).await.assert_status(StatusCode::OK);
}

#[tokio::test]
async fn claims_per_target_are_limited_so_one_account_cannot_drain_a_users_packages() {
    let backend = backends().remove(0);
    let quotas = Quotas {
        claims_per_target_per_hour: 2,
        ..Quotas::default()
    };
    let state = state_with_quotas(&backend, false, quotas).await;
    let [alice, mallory, carol] = users(&state, ["alice", "mallory", "carol"]).await;
    let (laptop, alice_token) = first_device(&state, &alice, "laptop").await;
    let packages: Vec<Vec<u8>> = (0..5).map(|_| laptop.key_package()).collect();
    upload_key_packages(&state, &alice_token, &packages)
        .await
        .assert_status(StatusCode::CREATED);
    let (_, mallory_token) = first_device(&state, &mallory, "laptop").await;
    let (_, carol_token) = first_device(&state, &carol, "laptop").await;
    let claim = |token: String, user_id: String| {
        let state = state.clone();
        async move {
            let body = json!({ "userId": user_id });
            post(&state, "/api/key-packages/claim", &token, body).await
        }
    };
    // Mallory's allowance for Alice: two claims, then 429 with Retry-After; nothing more is handed out.
    for _ in 0..2 {
        let reply = claim(mallory_token.clone(), alice.id.clone()).await;
        reply.assert_status(StatusCode::OK);
        assert_eq!(reply.body["keyPackages"][0]["lastResort"], false);
    }
    let refused = claim(mallory_token.clone(), alice.id.clone()).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded");
    assert!(
        refused
            .retry_after()
            .is_some_and(|s| (1..=3600).contains(&s))
    );
    let supply = get_plain(&state, &alice_token, "/api/key-packages/supply").await;
    assert_eq!(supply.body["oneTime"], 3, "the refused claim took nothing");
    // Carol still gets a one-time package of Alice's; Mallory may still claim other users.
    let reply = claim(carol_token.clone(), alice.id.clone()).await;
    reply.assert_status(StatusCode::OK);
    assert_eq!(reply.body["keyPackages"][0]["lastResort"], false);
    claim(mallory_token.clone(), carol.id.clone())
        .await
        .assert_status(StatusCode::OK);
    // A device claiming its own user's packages (adding its user's other devices) is not limited per target.
    for _ in 0..3 {
        claim(alice_token.clone(), alice.id.clone())
            .await
            .assert_status(StatusCode::OK);
    }
}

#[tokio::test]
async fn uploads_past_the_supply_cap_are_refused_and_write_nothing() {
    for backend in backends() {
        let quotas = Quotas {
            key_package_supply: 3,
            ..Quotas::default()
        };
        let state = state_with_quotas(&backend, false, quotas).await;
        let [alice] = users(&state, ["alice"]).await;
        let (laptop, token) = first_device(&state, &alice, "laptop").await;
        let two: Vec<Vec<u8>> = (0..2).map(|_| laptop.key_package()).collect();
        upload_key_packages(&state, &token, &two)
            .await
            .assert_status(StatusCode::CREATED);
        let more: Vec<Vec<u8>> = (0..2).map(|_| laptop.key_package()).collect();
        let refused = upload_key_packages(&state, &token, &more).await;
        refused.assert_error(StatusCode::CONFLICT, "key_package_supply_full");
        let supply = get_plain(&state, &token, "/api/key-packages/supply").await;
        assert_eq!(
            supply.body,
            json!({"oneTime": 2, "lastResort": false}),
            "nothing of the refused upload was stored"
        );
        // Up to the cap is fine; a last-resort package does not count.
        let uploaded = upload_key_packages(
            &state,
            &token,
            &[more[0].clone(), laptop.last_resort_key_package()],
        )
        .await;
        uploaded.assert_status(StatusCode::CREATED);
        assert_eq!(uploaded.body, json!({"oneTime": 3, "lastResort": true}));
        upload_key_packages(&state, &token, &[laptop.last_resort_key_package()])
            .await
            .assert_status(StatusCode::CREATED);
        upload_key_packages(&state, &token, &[laptop.key_package()])
            .await
            .assert_error(StatusCode::CONFLICT, "key_package_supply_full");
    }
}

/// Review N10: the approver's link proof is stored with the certificate and listed with the device, as given
/// (only the new device can check it); one that is not base64 of exactly 32 bytes is a 400 and approves
/// nothing.
#[tokio::test]
async fn a_link_proof_is_stored_and_listed_and_a_malformed_one_is_a_clear_400() {
    let backend = backends().remove(0);
    let state = state_for(&backend, false).await;
    let alice = user(&state, "alice").await;
    let laptop = TestDevice::new(&alice.id, "laptop");
    post(
        &state,
        "/api/devices",
        &alice.token,
        laptop.registration(Some(&alice.key)),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let laptop_token = device_token(&state, &alice, &laptop).await;
    let phone = TestDevice::new(&alice.id, "phone");
    post(
        &state,
        "/api/devices",
        &alice.token,
        phone.registration(None),
    )
    .await
    .assert_status(StatusCode::CREATED);
    let certificate = phone.certificate(&alice.key);
    for bad in [
        json!("not base64!"),
        json!(b64(&[7; 31])),
        json!(b64(&[7; 33])),
        json!(""),
    ] {
        let approval = json!({"deviceId": "phone", "certificate": certificate, "linkProof": bad});
        post(&state, "/api/devices/approve", &laptop_token, approval)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }
    let listed = list(&state, &alice.token, &alice.id).await;
    assert_eq!(
        listed["devices"][1]["status"], "pending",
        "nothing approved"
    );

    let proof = b64(&[7; 32]);
    let approval = json!({"deviceId": "phone", "certificate": certificate, "linkProof": proof});
    let approved = post(&state, "/api/devices/approve", &laptop_token, approval).await;
    approved.assert_status(StatusCode::OK);
    assert_eq!(approved.body["linkProof"], proof);
    let listed = list(&state, &alice.token, &alice.id).await;
    assert_eq!(listed["devices"][1]["deviceId"], "phone");
    assert_eq!(listed["devices"][1]["linkProof"], proof);
    assert!(
        listed["devices"][0].get("linkProof").is_none(),
        "no proof, no field: {}",
        listed["devices"][0]
    );
}
