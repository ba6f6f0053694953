//! What a group stores (`cargo bench -p e2ee-api --bench group_storage`): the bytes of a group's rows in the
//! embedded SQLite store after 100 update commits through the handler, at 10, 100 and 1,000 members, next to what
//! the same log would take if every commit row kept its epoch's public state and GroupInfo (the layout before
//! the Delivery Service kept one state per group). Prints a Markdown table; one run, nothing timed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use e2ee_api::config::Quotas;
use e2ee_test_kit::in_process::{
    Backend, first_device, group_of_size, post, state_with_quotas, update_bundle, users,
};
use lambda_http::http::StatusCode;
use sqlx::Connection as _;

const COMMITS: u64 = 100;

/// Bytes of the group's rows as SQLite holds them: every BLOB and TEXT column's length.
const GROUP_BYTES: &str = "SELECT COALESCE(SUM(LENGTH(message) + COALESCE(LENGTH(welcome), 0) \
    + COALESCE(LENGTH(group_info), 0) + COALESCE(LENGTH(public_state), 0) + COALESCE(LENGTH(members), 0) \
    + LENGTH(client_message_id) + LENGTH(sender_user) + LENGTH(sender_device) + LENGTH(group_id)), 0) \
    FROM group_log WHERE group_id = ?";

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    println!("| members | stored now | states kept | if every commit kept its state | ratio |");
    println!("|---:|---:|---:|---:|---:|");
    for size in [10, 100, 1000] {
        runtime.block_on(measure(size));
    }
}

async fn measure(size: usize) {
    let backend = Backend::sqlite();
    let quotas = Quotas::unlimited();
    let state = state_with_quotas(&backend, false, quotas).await;
    let [user] = users(&state, ["alice"]).await;
    let (alice, token) = first_device(&state, &user, "laptop").await;
    let (mut group, group_id) = group_of_size(&state, &alice, &token, size).await;
    let path = format!("/api/groups/{group_id}/commits");
    // Every epoch's state and GroupInfo, as the earlier layout kept them on each commit row.
    let mut every_state = 0usize;
    let mut current = None;
    for _ in 0..COMMITS {
        post(&state, &path, &token, update_bundle(&alice, &mut group))
            .await
            .assert_status(StatusCode::CREATED);
        let epoch = state
            .stores
            .groups
            .current(&group_id)
            .await
            .unwrap()
            .unwrap();
        every_state += epoch.public_state.len() + epoch.group_info.len();
        current = Some(epoch);
    }
    let current = current.unwrap();
    let states = state.stores.groups.stored_states(&group_id).await.unwrap();
    let path = backend.storage.sqlite_path.clone().unwrap();
    let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let stored: i64 = sqlx::query_scalar(GROUP_BYTES)
        .bind(&group_id)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let stored = usize::try_from(stored).unwrap();
    // The same rows with every commit's state: today's bytes, less the states kept, plus every epoch's.
    let kept = current.public_state.len() + current.group_info.len();
    let before = stored - kept + every_state;
    println!(
        "| {size} | {} | {states} | {} | {:.0}× |",
        human(stored),
        human(before),
        before as f64 / stored as f64
    );
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1 << 20)),
        b => format!("{:.0} KB", b as f64 / 1024.0),
    }
}
