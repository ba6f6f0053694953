//! Per-handler latency in-process on the embedded SQLite store (`cargo bench -p e2ee-api`), and the handler
//! overhead without store or RSA work (auth + body parsing + envelope validation + response).

use std::future::Future;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use e2ee_api::config::Quotas;
use e2ee_api::handlers::{key_packages, messages};
use e2ee_api::{ApiError, AppState, lambda};
use e2ee_storage::NewMessage;
use e2ee_test_kit::User;
use e2ee_test_kit::in_process::{
    Backend, Call, first_device, seal_between, state_with_quotas, upload_key_packages, users,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

/// A 1 KiB unsigned message from `from` to `to`, wrapped for both.
fn seal(from: &User, to: &User, message_id: &str) -> Value {
    seal_between(from, to, &[0x42; 1024], message_id, false)
}

/// A request with `token` and, when given, a JSON body and query parameters.
fn request(
    method: Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
    query: &[(&str, &str)],
) -> Request {
    let mut call = Call::new(method, path).token(token).query(query);
    call.body = body.cloned();
    call.build()
}

/// A page of 50 from `handler` at `path`, as `reader`.
fn bench_page<H, F>(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    handler: H,
    state: &Arc<AppState>,
    path: &str,
    reader: &User,
) where
    H: Fn(Arc<AppState>, Request) -> F + Copy,
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    c.bench_function(name, |b| {
        b.to_async(runtime).iter(|| {
            let request = request(Method::GET, path, &reader.token, None, &[("limit", "50")]);
            lambda::handle(handler, state.clone(), request)
        })
    });
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let backend = Backend::sqlite();
    // The benchmark sends far more than a user's quota: measure the handler, not the 429.
    let quotas = Quotas::unlimited();
    let (state, alice, bob) = runtime.block_on(async {
        let state = state_with_quotas(&backend, true, quotas).await;
        let [alice, bob] = users(&state, ["alice", "bob"]).await;
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
    let chat_id = e2ee_protocol::chat_id(&alice.id, &bob.id);

    let mut counter = 0u64;
    c.bench_function("handler/send (1 KiB, 2 recipients, unsigned)", |b| {
        b.to_async(&runtime).iter_batched(
            || {
                counter += 1;
                let body = json!({"receiverId": bob.id, "envelope": seal(&alice, &bob, &format!("bench-{counter}"))});
                request(Method::POST, "/api/messages/send", &alice.token, Some(&body), &[])
            },
            |req| {
                let state = state.clone();
                async move { assert_eq!(lambda::handle(messages::send, state, req).await.status(), StatusCode::CREATED) }
            },
            BatchSize::SmallInput,
        )
    });
    let inbox_path = format!("/api/messages/receive/{}", bob.id);
    bench_page(
        c,
        &runtime,
        "handler/receive page of 50",
        messages::receive,
        &state,
        &inbox_path,
        &bob,
    );
    let history_path = format!("/api/messages/history/{chat_id}");
    bench_page(
        c,
        &runtime,
        "handler/history page of 50",
        messages::history,
        &state,
        &history_path,
        &bob,
    );
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

    // A key package claim of one device's one-time package (Bob claims Alice's); uploading the packages that
    // the iterations consume is not timed.
    let (alice_laptop, alice_device_token, bob_device_token) = runtime.block_on(async {
        let (laptop, token) = first_device(&state, &alice, "laptop").await;
        let (_, bob_token) = first_device(&state, &bob, "phone").await;
        (laptop, token, bob_token)
    });
    c.bench_function("handler/claim-key-packages (1 device, one-time)", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let state = state.clone();
            let (laptop, upload_token, claim_token) =
                (&alice_laptop, &alice_device_token, &bob_device_token);
            let body = json!({"userId": alice.id});
            async move {
                let mut left = iterations;
                while left > 0 {
                    let batch = left.min(100);
                    let packages: Vec<Vec<u8>> = (0..batch).map(|_| laptop.key_package()).collect();
                    upload_key_packages(&state, upload_token, &packages)
                        .await
                        .assert_status(StatusCode::CREATED);
                    left -= batch;
                }
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let req = request(
                        Method::POST,
                        "/api/key-packages/claim",
                        claim_token,
                        Some(&body),
                        &[],
                    );
                    let started = std::time::Instant::now();
                    let response =
                        lambda::handle(key_packages::claim_key_packages, state.clone(), req).await;
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
