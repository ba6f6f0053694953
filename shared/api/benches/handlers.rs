//! Per-handler latency in-process on the embedded SQLite store (`cargo bench -p e2ee-api`), and the handler
//! overhead without store or RSA work (auth + body parsing + envelope validation + response).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use e2ee_api::config::{Config, JwtSettings, Quotas};
use e2ee_api::handlers::{auth, keys, messages};
use e2ee_api::{AppState, lambda};
use e2ee_crypto::{KeyOperation, KeySize, KeyStatement, PrivateKey, Recipient, SealParams};
use e2ee_storage::{NewMessage, StorageConfig};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use zeroize::Zeroizing;

struct Party {
    id: String,
    token: String,
    key: PrivateKey,
}

fn request(
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    params: &[(&str, &str)],
    query: &[(&str, &str)],
) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Body::Text(body.to_string())
        }
        None => Body::Empty,
    };
    let mut request = builder.body(body).expect("request");
    if !params.is_empty() {
        request = request.with_path_parameters(
            params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    if !query.is_empty() {
        request = request.with_query_string_parameters(
            query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    request
}

async fn party(state: &Arc<AppState>, name: &str) -> Party {
    let password = "benchmark password 1234";
    let body = json!({"username": name, "password": password});
    let reply = lambda::handle(
        auth::register,
        state.clone(),
        request(
            Method::POST,
            "/api/auth/register",
            "",
            Some(&body),
            &[],
            &[],
        ),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    let reply = lambda::handle(
        auth::login,
        state.clone(),
        request(Method::POST, "/api/auth/login", "", Some(&body), &[], &[]),
    )
    .await;
    let login: Value = match reply.body() {
        Body::Text(text) => serde_json::from_str(text).expect("json"),
        _ => panic!("login body"),
    };
    let token = login["token"].as_str().expect("token").to_owned();
    let id = login["userId"].as_str().expect("id").to_owned();
    let key = PrivateKey::generate(KeySize::Rsa2048).expect("key");
    let statement = KeyStatement {
        operation: KeyOperation::Register,
        user_id: &id,
        key_id: key.key_id(),
        created_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis() as u64,
    };
    let proof =
        base64::engine::general_purpose::STANDARD.encode(statement.sign(&key).expect("sign"));
    let body = json!({
        "publicKey": key.public_key().to_spki_pem().expect("pem"),
        "createdAt": statement.created_at,
        "proof": proof,
    });
    let reply = lambda::handle(
        keys::register_key,
        state.clone(),
        request(
            Method::POST,
            "/api/crypto/register-key",
            &token,
            Some(&body),
            &[],
            &[],
        ),
    )
    .await;
    assert_eq!(reply.status(), StatusCode::CREATED);
    Party { id, token, key }
}

fn seal(from: &Party, to: &Party, message_id: &str) -> Value {
    let recipients = [
        Recipient {
            user_id: &to.id,
            key: to.key.public_key(),
        },
        Recipient {
            user_id: &from.id,
            key: from.key.public_key(),
        },
    ];
    let params = SealParams {
        sender_id: &from.id,
        message_id,
        created_at: 1,
        recipients: &recipients,
        sign_with: None,
    };
    e2ee_crypto::seal(&[0x42; 1024], &params)
        .expect("seal")
        .to_value()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config {
        jwt: JwtSettings {
            secret: Zeroizing::new(vec![7; 32]),
            issuer: "e2ee-api".into(),
            audience: "e2ee-api".into(),
            ttl: Duration::from_secs(3600),
        },
        storage: StorageConfig {
            sqlite_path: Some(dir.path().join("bench.sqlite3")),
            ..Default::default()
        },
        server_assisted_crypto: true,
        // The benchmark sends far more than a user's quota: measure the handler, not the 429.
        quotas: Quotas {
            sends_per_hour: u64::MAX,
            key_operations_per_day: u64::MAX,
        },
    };
    let (state, alice, bob) = runtime.block_on(async {
        let state = AppState::from_config(&config).await.expect("state");
        let alice = party(&state, "alice").await;
        let bob = party(&state, "bob").await;
        (state, alice, bob)
    });
    // A chat of 200 messages so that history and inbox pages are full.
    runtime.block_on(async {
        for i in 0..200 {
            let message = NewMessage {
                sender_id: alice.id.clone(),
                receiver_id: bob.id.clone(),
                client_message_id: format!("fill-{i}"),
                envelope: seal(&alice, &bob, &format!("fill-{i}")),
            };
            state.stores.messages.insert(message).await.expect("insert");
        }
    });
    let chat_id = e2ee_crypto::chat_id(&alice.id, &bob.id);

    let mut counter = 0u64;
    c.bench_function("handler/send (1 KiB, 2 recipients, unsigned)", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                counter += 1;
                let body = json!({"receiverId": bob.id, "envelope": seal(&alice, &bob, &format!("bench-{counter}"))});
                request(Method::POST, "/api/messages/send", &alice.token, Some(&body), &[], &[])
            },
            |req| {
                let state = state.clone();
                async move { assert_eq!(lambda::handle(messages::send, state, req).await.status(), StatusCode::CREATED) }
            },
            BatchSize::SmallInput,
        )
    });
    let inbox_path = format!("/api/messages/receive/{}", bob.id);
    c.bench_function("handler/receive page of 50", |b| {
        b.to_async(&runtime).iter(|| {
            lambda::handle(
                messages::receive,
                state.clone(),
                request(
                    Method::GET,
                    &inbox_path,
                    &bob.token,
                    None,
                    &[],
                    &[("limit", "50")],
                ),
            )
        })
    });
    let history_path = format!("/api/messages/history/{chat_id}");
    c.bench_function("handler/history page of 50", |b| {
        b.to_async(&runtime).iter(|| {
            lambda::handle(
                messages::history,
                state.clone(),
                request(
                    Method::GET,
                    &history_path,
                    &bob.token,
                    None,
                    &[],
                    &[("limit", "50")],
                ),
            )
        })
    });
    // Each iteration marks a fresh unread message; inserting it is not timed.
    c.bench_function("handler/mark-read", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (state, alice, bob) = (state.clone(), &alice, &bob);
            async move {
                let mut total = Duration::ZERO;
                for i in 0..iterations {
                    let message = NewMessage {
                        sender_id: alice.id.clone(),
                        receiver_id: bob.id.clone(),
                        client_message_id: format!("mark-{}-{i}", e2ee_crypto::random_message_id()),
                        envelope: seal(alice, bob, "m"),
                    };
                    let id = state
                        .stores
                        .messages
                        .insert(message)
                        .await
                        .expect("insert")
                        .message()
                        .id
                        .clone();
                    let req = request(
                        Method::PATCH,
                        &format!("/api/messages/mark-read/{id}"),
                        &bob.token,
                        None,
                        &[],
                        &[],
                    );
                    let started = std::time::Instant::now();
                    let response = lambda::handle(messages::mark_read, state.clone(), req).await;
                    total += started.elapsed();
                    assert_eq!(response.status(), StatusCode::OK);
                }
                total
            }
        })
    });

    // What a handler adds on top of store and RSA: authenticate, parse and validate a 1 KiB send body, build
    // the JSON response.
    let send_body = json!({"receiverId": bob.id, "envelope": seal(&alice, &bob, "overhead")});
    let response = e2ee_protocol::SendResponse {
        message_id: "m_0".into(),
        chat_id: chat_id.clone(),
        client_message_id: "c".into(),
        created_at: 1,
    };
    c.bench_function("overhead/auth + parse + validate + respond", |b| {
        b.iter(|| {
            let req = request(
                Method::POST,
                "/api/messages/send",
                &alice.token,
                Some(&send_body),
                &[],
                &[],
            );
            let caller = state.tokens.authenticate(&req).expect("auth");
            let body: e2ee_protocol::SendRequest = e2ee_api::http::json_body(&req).expect("body");
            let envelope =
                e2ee_crypto::Envelope::from_json(body.envelope.get().as_bytes()).expect("envelope");
            black_box((
                caller,
                envelope.to_value(),
                e2ee_api::http::json_response(StatusCode::CREATED, &response),
            ))
        })
    });
}

criterion_group!(handlers, benches);
criterion_main!(handlers);
