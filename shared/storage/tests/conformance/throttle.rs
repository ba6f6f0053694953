//! ThrottleStore conformance (always the SQL database of users: SQLite, or MySQL when configured).

use std::collections::HashSet;

use e2ee_storage::{Failures, MAX_THROTTLE_KEY_BYTES, StoreError, Stores};

use crate::support::concurrently;

const MINUTE: i64 = 60_000;
const WINDOW: i64 = 1_764_145_620_000;

pub async fn throttle_concurrent_hits_count_each_hit_once(stores: Stores) {
    let results = concurrently(16, |_| {
        let throttle = stores.throttle.clone();
        async move { throttle.hit("send:u_a", WINDOW).await }
    })
    .await;
    let mut counts: Vec<u64> = results.into_iter().map(|r| r.expect("hit")).collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<u64>>(),
        "each count exactly once"
    );
    assert_eq!(
        stores.throttle.hit("send:u_a", WINDOW).await.expect("hit"),
        17
    );

    // Counters are per key.
    assert_eq!(
        stores.throttle.hit("send:u_b", WINDOW).await.expect("hit"),
        1
    );

    // A new window starts again at 1 and keeps counting there.
    let next = WINDOW + MINUTE;
    assert_eq!(stores.throttle.hit("send:u_a", next).await.expect("hit"), 1);
    assert_eq!(stores.throttle.hit("send:u_a", next).await.expect("hit"), 2);
    // A caller whose clock lags (the previous window) counts in the stored, newer window.
    assert_eq!(
        stores.throttle.hit("send:u_a", WINDOW).await.expect("hit"),
        3
    );
    assert_eq!(stores.throttle.hit("send:u_a", next).await.expect("hit"), 4);

    // Concurrent hits across a window change: the counts of the new window are still exact.
    let later = next + MINUTE;
    let results = concurrently(8, |_| {
        let throttle = stores.throttle.clone();
        async move { throttle.hit("send:u_a", later).await }
    })
    .await;
    let mut counts: Vec<u64> = results.into_iter().map(|r| r.expect("hit")).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<u64>>());
}

pub async fn throttle_failures_count_exactly_and_clear(stores: Stores) {
    let key = "login-account:alice";
    assert_eq!(stores.throttle.failures(key).await.expect("failures"), None);

    let first = stores
        .throttle
        .record_failure(key, WINDOW)
        .await
        .expect("record");
    assert_eq!(
        first,
        Failures {
            count: 1,
            last_failure_at: WINDOW
        }
    );
    assert_eq!(
        stores.throttle.failures(key).await.expect("failures"),
        Some(first)
    );

    let results = concurrently(16, |index| {
        let throttle = stores.throttle.clone();
        async move {
            throttle
                .record_failure(key, WINDOW + 1 + index as i64)
                .await
        }
    })
    .await;
    let states: Vec<Failures> = results.into_iter().map(|r| r.expect("record")).collect();
    let counts: HashSet<u32> = states.iter().map(|s| s.count).collect();
    assert_eq!(
        counts,
        (2..=17).collect::<HashSet<u32>>(),
        "each new count exactly once: {states:?}"
    );
    let stored = stores
        .throttle
        .failures(key)
        .await
        .expect("failures")
        .expect("a counter");
    assert_eq!(stored.count, 17);
    // The last recorded failure is the one that returned the highest count.
    let last = states
        .iter()
        .max_by_key(|s| s.count)
        .expect("at least one state");
    assert_eq!(stored, *last);

    // Another key is independent; clearing one key leaves the other alone.
    let other = "login-source:192.0.2.7";
    stores
        .throttle
        .record_failure(other, WINDOW)
        .await
        .expect("record");
    stores.throttle.clear_failures(key).await.expect("clear");
    assert_eq!(stores.throttle.failures(key).await.expect("failures"), None);
    assert_eq!(
        stores
            .throttle
            .failures(other)
            .await
            .expect("failures")
            .map(|f| f.count),
        Some(1)
    );
    // Clearing is idempotent, and counting starts again at 1.
    stores.throttle.clear_failures(key).await.expect("clear");
    assert_eq!(
        stores
            .throttle
            .record_failure(key, WINDOW + MINUTE)
            .await
            .expect("record"),
        Failures {
            count: 1,
            last_failure_at: WINDOW + MINUTE
        }
    );
}

pub async fn throttle_keys_are_bounded(stores: Stores) {
    // 300 bytes (here 150 two-byte characters) is the limit, counted in bytes.
    let longest = "é".repeat(MAX_THROTTLE_KEY_BYTES / 2);
    assert_eq!(longest.len(), MAX_THROTTLE_KEY_BYTES);
    assert_eq!(stores.throttle.hit(&longest, WINDOW).await.expect("hit"), 1);
    assert_eq!(
        stores
            .throttle
            .record_failure(&longest, WINDOW)
            .await
            .expect("record")
            .count,
        1
    );
    // Keys are compared exactly: case, trailing spaces and a prefix make different keys.
    for similar in ["k", "K", "k ", "k\u{301}"] {
        assert_eq!(
            stores.throttle.hit(similar, WINDOW).await.expect("hit"),
            1,
            "{similar:?}"
        );
    }

    let too_long = format!("{longest}x");
    for key in ["", too_long.as_str()] {
        let bad = |result: Result<(), StoreError>, what: &str| {
            assert!(
                matches!(result, Err(StoreError::BadRequest(_))),
                "{what} {key:?}: {result:?}"
            );
        };
        bad(stores.throttle.hit(key, WINDOW).await.map(drop), "hit");
        bad(stores.throttle.failures(key).await.map(drop), "failures");
        bad(
            stores.throttle.record_failure(key, WINDOW).await.map(drop),
            "record_failure",
        );
        bad(stores.throttle.clear_failures(key).await, "clear_failures");
    }
}
