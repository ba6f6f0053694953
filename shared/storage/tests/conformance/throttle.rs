//! ThrottleStore conformance (always the SQL database of users: SQLite, or MySQL when configured).

use std::collections::HashSet;

use e2ee_storage::{Failures, MAX_THROTTLE_KEY_BYTES, Stores};

use crate::support::{assert_invalid, concurrently, failures, hit, record_failure};

const MINUTE: i64 = 60_000;
const WINDOW: i64 = 1_764_145_620_000;

/// `count` concurrent hits of `send:u_a` in the window starting at `window`; the counts they got, sorted.
async fn concurrent_hits(stores: &Stores, count: usize, window: i64) -> Vec<u64> {
    let results = concurrently(count, |_| {
        let throttle = stores.throttle.clone();
        async move { throttle.hit("send:u_a", window).await }
    })
    .await;
    let mut counts: Vec<u64> = results.into_iter().map(|r| r.expect("hit")).collect();
    counts.sort_unstable();
    counts
}

pub async fn throttle_concurrent_hits_count_each_hit_once(stores: Stores) {
    let counts = concurrent_hits(&stores, 16, WINDOW).await;
    assert_eq!(
        counts,
        (1..=16).collect::<Vec<u64>>(),
        "each count exactly once"
    );
    assert_eq!(hit(&stores, "send:u_a", WINDOW).await, 17);

    // Counters are per key.
    assert_eq!(hit(&stores, "send:u_b", WINDOW).await, 1);

    // A new window starts again at 1 and keeps counting there.
    let next = WINDOW + MINUTE;
    assert_eq!(hit(&stores, "send:u_a", next).await, 1);
    assert_eq!(hit(&stores, "send:u_a", next).await, 2);
    // A caller whose clock lags (the previous window) counts in the stored, newer window.
    assert_eq!(hit(&stores, "send:u_a", WINDOW).await, 3);
    assert_eq!(hit(&stores, "send:u_a", next).await, 4);

    // Concurrent hits across a window change: the counts of the new window are still exact.
    let later = next + MINUTE;
    let counts = concurrent_hits(&stores, 8, later).await;
    assert_eq!(counts, (1..=8).collect::<Vec<u64>>());
}

pub async fn throttle_failures_count_exactly_and_clear(stores: Stores) {
    let key = "login-account:alice";
    assert_eq!(failures(&stores, key).await, None);

    let first = record_failure(&stores, key, WINDOW).await;
    assert_eq!(
        first,
        Failures {
            count: 1,
            last_failure_at: WINDOW
        }
    );
    assert_eq!(failures(&stores, key).await, Some(first));

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
    let stored = failures(&stores, key).await.expect("a counter");
    assert_eq!(stored.count, 17);
    // The last recorded failure is the one that returned the highest count.
    let last = states
        .iter()
        .max_by_key(|s| s.count)
        .expect("at least one state");
    assert_eq!(stored, *last);

    // Another key is independent; clearing one key leaves the other alone.
    let other = "login-source:192.0.2.7";
    record_failure(&stores, other, WINDOW).await;
    stores.throttle.clear_failures(key).await.expect("clear");
    assert_eq!(failures(&stores, key).await, None);
    assert_eq!(failures(&stores, other).await.map(|f| f.count), Some(1));
    // Clearing is idempotent, and counting starts again at 1.
    stores.throttle.clear_failures(key).await.expect("clear");
    assert_eq!(
        record_failure(&stores, key, WINDOW + MINUTE).await,
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
    assert_eq!(hit(&stores, &longest, WINDOW).await, 1);
    assert_eq!(record_failure(&stores, &longest, WINDOW).await.count, 1);
    // Keys are compared exactly: case, trailing spaces and a prefix make different keys.
    for similar in ["k", "K", "k ", "k\u{301}"] {
        assert_eq!(hit(&stores, similar, WINDOW).await, 1, "{similar:?}");
    }

    let too_long = format!("{longest}x");
    for key in ["", too_long.as_str()] {
        let what = |operation: &str| format!("{operation} {key:?}");
        assert_invalid(stores.throttle.hit(key, WINDOW).await, &what("hit"));
        assert_invalid(stores.throttle.failures(key).await, &what("failures"));
        assert_invalid(
            stores.throttle.record_failure(key, WINDOW).await,
            &what("record_failure"),
        );
        assert_invalid(
            stores.throttle.clear_failures(key).await,
            &what("clear_failures"),
        );
    }
}
