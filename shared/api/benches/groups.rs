//! Delivery Service handler latency in-process on the embedded SQLite store (`cargo bench -p e2ee-api --bench
//! groups`): a commit bundle (an update by a member: validate against the public state + store) for groups of 2,
//! 10 and 100 members, an application message post, and a page of 50 of the group log. Preparing each commit
//! or message on the client side is not timed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use e2ee_api::config::Quotas;
use e2ee_api::handlers::groups;
use e2ee_api::lambda;
use e2ee_storage::{GroupDevice, NewGroupMessage};
use e2ee_test_kit::in_process::{
    Backend, Call, b64, first_device, group_of_size, state_with_quotas, update_bundle, users,
};
use lambda_http::http::{Method, StatusCode};
use serde_json::{Value, json};

fn request(method: Method, path: &str, token: &str, body: Option<Value>) -> lambda_http::Request {
    let mut call = Call::new(method, path).token(token);
    call.body = body;
    call.build()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let backend = Backend::sqlite();
    let quotas = Quotas::unlimited();
    let (state, alice, token) = runtime.block_on(async {
        let state = state_with_quotas(&backend, false, quotas).await;
        let [user] = users(&state, ["alice"]).await;
        let (alice, token) = first_device(&state, &user, "laptop").await;
        (state, alice, token)
    });

    let mut commits = c.benchmark_group("handler/post-commit (update)");
    let mut two_members = None;
    for size in [2, 10, 100, 1000] {
        let (group, group_id) = runtime.block_on(group_of_size(&state, &alice, &token, size));
        // Shared with each iteration's future; borrowed only between awaits.
        let group = RefCell::new(group);
        let path = format!("/api/groups/{group_id}/commits");
        commits.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, _| {
            b.to_async(&runtime).iter_custom(|iterations| {
                let (state, alice, token, path) = (state.clone(), &alice, &token, &path);
                let group = &group;
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        let body = update_bundle(alice, &mut group.borrow_mut());
                        let req = request(Method::POST, path, token, Some(body));
                        let started = Instant::now();
                        let response =
                            lambda::handle(groups::post_commit, state.clone(), req).await;
                        total += started.elapsed();
                        assert_eq!(response.status(), StatusCode::CREATED);
                    }
                    total
                }
            })
        });
        if size == 2 {
            two_members = Some((group.into_inner(), group_id));
        }
    }
    commits.finish();

    let (group, group_id) = two_members.unwrap();
    let group = RefCell::new(group);
    let messages_path = format!("/api/groups/{group_id}/messages");
    let counter = Cell::new(0u64);
    c.bench_function("handler/post-group-message (1 KiB, 2 members)", |b| {
        b.to_async(&runtime).iter_custom(|iterations| {
            let (state, alice, token, path) = (state.clone(), &alice, &token, &messages_path);
            let (group, counter) = (&group, &counter);
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    counter.set(counter.get() + 1);
                    let message = group
                        .borrow_mut()
                        .create_message(&alice.provider, &alice.signer, &[0x42; 1024])
                        .unwrap();
                    let body = json!({
                        "clientMessageId": format!("bench-{}", counter.get()),
                        "message": b64(&message.to_bytes().unwrap()),
                    });
                    let req = request(Method::POST, path, token, Some(body));
                    let started = Instant::now();
                    let response =
                        lambda::handle(groups::post_group_message, state.clone(), req).await;
                    total += started.elapsed();
                    assert_eq!(response.status(), StatusCode::CREATED);
                }
                total
            }
        })
    });

    // A log of 50 fresh 1 KiB application messages after the current position, read as one page.
    let mut group = group.into_inner();
    let after = runtime.block_on(async {
        let head = state.stores.groups.head(&group_id).await.unwrap().unwrap();
        let before = state
            .stores
            .groups
            .log(&group_id, Some(head.seq), 100)
            .await
            .unwrap();
        let after = before.last().map_or(head.seq, |entry| entry.seq);
        for i in 0..50 {
            let message = group
                .create_message(&alice.provider, &alice.signer, &[0x42; 1024])
                .unwrap();
            state
                .stores
                .groups
                .post(NewGroupMessage {
                    group_id: group_id.clone(),
                    sender: GroupDevice {
                        user_id: alice.user_id.clone(),
                        device_id: alice.device_id.clone(),
                    },
                    client_message_id: format!("fill-{i}"),
                    epoch: head.epoch,
                    message: message.to_bytes().unwrap(),
                })
                .await
                .unwrap();
        }
        after
    });
    let log_path = format!("/api/groups/{group_id}/log");
    let after = after.to_string();
    c.bench_function("handler/read-group-log page of 50 (1 KiB each)", |b| {
        b.to_async(&runtime).iter(|| {
            let query = [("after", after.as_str()), ("limit", "50")];
            let req = Call::new(Method::GET, &log_path)
                .token(&token)
                .query(&query)
                .build();
            let state = state.clone();
            async move {
                let response = lambda::handle(groups::read_group_log, state, req).await;
                assert_eq!(response.status(), StatusCode::OK);
            }
        })
    });
}

criterion_group!(group_handlers, benches);
criterion_main!(group_handlers);
