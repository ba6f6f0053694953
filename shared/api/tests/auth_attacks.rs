//! Every way a bearer token can be wrong gets 401, on every authenticated endpoint.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use e2ee_api::handlers::messages;
use e2ee_test_kit::in_process::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(sub: &str) -> Value {
    let now = now();
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "nbf": now - 1, "iat": now})
}

fn sign(claims: &Value, alg: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn edit(sub: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims(sub);
    f(&mut c);
    sign(&c, Algorithm::HS256, JWT_SECRET.as_bytes())
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_rejected() {
    let backend = backends().remove(0);
    let state = state_for(&backend, true).await;
    let alice = user(&state, "alice").await;
    let id = alice.id.as_str();

    let valid = sign(&claims(id), Algorithm::HS256, JWT_SECRET.as_bytes());
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims(id).to_string())
    );
    let tampered = {
        let parts: Vec<&str> = valid.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(claims("u_someone_else").to_string());
        format!("{}.{}.{}", parts[0], other, parts[2])
    };
    let mut attacks: Vec<(String, String)> = [
        ("alg none", unsigned),
        (
            "wrong alg HS512",
            sign(&claims(id), Algorithm::HS512, JWT_SECRET.as_bytes()),
        ),
        (
            "wrong key",
            sign(
                &claims(id),
                Algorithm::HS256,
                b"another-secret-another-secret-0123456789",
            ),
        ),
        ("expired", edit(id, |c| c["exp"] = json!(now() - 120))),
        ("not yet valid", edit(id, |c| c["nbf"] = json!(now() + 120))),
        (
            "issued in the future",
            edit(id, |c| c["iat"] = json!(now() + 600)),
        ),
        (
            "wrong audience",
            edit(id, |c| c["aud"] = json!("someone-else")),
        ),
        ("wrong issuer", edit(id, |c| c["iss"] = json!("evil"))),
        ("tampered payload", tampered),
        ("garbage", "not.a.token".to_owned()),
        ("empty", String::new()),
    ]
    .map(|(name, token)| (name.to_owned(), token))
    .into();
    for claim in ["sub", "exp", "nbf", "iat", "aud", "iss"] {
        let token = edit(id, |c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        attacks.push((format!("missing {claim}"), token));
    }
    let inbox = format!("/api/messages/receive/{id}");
    for (name, token) in &attacks {
        let reply = call(
            messages::receive,
            &state,
            Call::new(Method::GET, &inbox).token(token),
        )
        .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{name}"
        );
    }
    // The control: the same construction with nothing wrong is accepted.
    let reply = call(
        messages::receive,
        &state,
        Call::new(Method::GET, &inbox).token(&valid),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Other schemes and a missing header.
    for header in [format!("Basic {valid}"), valid.clone(), "Bearer".to_owned()] {
        let mut request = Call::new(Method::GET, &inbox).build();
        request
            .headers_mut()
            .insert("authorization", header.parse().unwrap());
        assert_eq!(
            send(messages::receive, &state, request).await.status,
            StatusCode::UNAUTHORIZED,
            "{header}"
        );
    }
    // Every authenticated route without a token.
    let no_token = [
        (Method::GET, "/api/users/alice", false),
        (Method::POST, "/api/crypto/generate-keys", true),
        (Method::POST, "/api/crypto/register-key", true),
        (Method::GET, "/api/crypto/public-key/u_1", false),
        (Method::POST, "/api/crypto/encrypt", true),
        (Method::POST, "/api/crypto/decrypt", true),
        (Method::POST, "/api/messages/send", true),
        (Method::GET, inbox.as_str(), false),
        (Method::PATCH, "/api/messages/mark-read/m_1", false),
        (Method::GET, "/api/messages/history/c_1", false),
    ];
    for (method, path, with_body) in no_token {
        let mut request = Call::new(method, path);
        if with_body {
            request = request.body(json!({}));
        }
        let reply = route(&state, request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
}
