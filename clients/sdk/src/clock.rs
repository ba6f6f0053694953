//! The device's clock: milliseconds since the Unix epoch (0 if the clock is before it).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in milliseconds since the Unix epoch, as envelopes and key statements carry it.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// [`now_millis`] as the API's signed times (`createdAt`, `expiresAt`, ...).
pub fn now_ms() -> i64 {
    i64::try_from(now_millis()).unwrap_or(i64::MAX)
}
