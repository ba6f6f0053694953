//! Throttle counters: the key rule, then one atomic backend statement.

use std::future::Future;

use async_trait::async_trait;

use super::{Throttle, ThrottleRecords, bounded};
use crate::error::StoreResult;
use crate::model::{Failures, Millis, ThrottleStore};
use crate::validate;

/// `operation` on a valid throttle key, within the operation time bound.
async fn on_valid_key<T>(
    key: &str,
    operation: impl Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    bounded(async {
        validate::throttle_key(key)?;
        operation.await
    })
    .await
}

#[async_trait]
impl<R: ThrottleRecords> ThrottleStore for Throttle<R> {
    async fn hit(&self, key: &str, window_start: Millis) -> StoreResult<u64> {
        on_valid_key(key, self.0.hit_window(key, window_start)).await
    }

    async fn failures(&self, key: &str) -> StoreResult<Option<Failures>> {
        on_valid_key(key, self.0.failure_counter(key)).await
    }

    async fn record_failure(&self, key: &str, now: Millis) -> StoreResult<Failures> {
        on_valid_key(key, self.0.add_failure(key, now)).await
    }

    async fn clear_failures(&self, key: &str) -> StoreResult<()> {
        on_valid_key(key, self.0.delete_failures(key)).await
    }
}
