//! Login backoff and per-user quotas (docs/security.md, "Rate limits and quotas"). The counters live in the
//! store, so every Lambda instance sees the same ones.

use e2ee_protocol::ErrorCode;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::auth::{DeviceCaller, MAX_PASSWORD_BYTES, verify_password};
use crate::config::Quotas;
use crate::error::ApiError;
use crate::state::AppState;

/// Failed logins per account name before the backoff starts.
const FREE_ACCOUNT_FAILURES: u32 = 5;
/// Failed logins per source address before the backoff starts (many users may share one address).
const FREE_SOURCE_FAILURES: u32 = 50;
/// The first lockout; each further failure doubles it …
const FIRST_LOCKOUT_MS: i64 = 1_000;
/// … up to this.
const MAX_LOCKOUT_MS: i64 = 15 * 60 * 1_000;
/// A counter whose last failure is this old starts again from zero.
const FORGET_FAILURES_AFTER_MS: i64 = 60 * 60 * 1_000;

const HOUR_MS: i64 = 60 * 60 * 1_000;
const DAY_MS: i64 = 24 * HOUR_MS;

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How long a counter with `failures` failures (beyond the `free` ones) locks out, in ms.
fn lockout_ms(failures: u32, free: u32) -> i64 {
    if failures <= free {
        return 0;
    }
    let doublings = (failures - free - 1).min(30);
    FIRST_LOCKOUT_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_LOCKOUT_MS)
}

/// The failure counters one password check is subject to: the account name (hashed, so the table holds no
/// usernames, and counted whether or not the account exists) and, when known, the source address.
pub struct PasswordCounters {
    counters: Vec<(String, u32)>,
}

impl PasswordCounters {
    /// The counters of a password check for the account named `username`, coming from `request`'s source.
    pub fn new(request: &Request, username: &str) -> Self {
        // A name that breaks the rules cannot exist, but is counted like one that does.
        let name = e2ee_storage::normalize_username(username)
            .map(|normalized| e2ee_storage::fold_username(&normalized))
            .unwrap_or_else(|_| username.to_lowercase());
        let mut counters = vec![(
            format!(
                "login-account:{}",
                hex::encode(Sha256::digest(name.as_bytes()))
            ),
            FREE_ACCOUNT_FAILURES,
        )];
        if let Some(source) = source_ip(request) {
            counters.push((format!("login-source:{source}"), FREE_SOURCE_FAILURES));
        }
        PasswordCounters { counters }
    }

    /// The one way the API checks a password: refused without checking while locked out (429), then one
    /// argon2id verification (against a dummy hash when `stored` is `None`), then the counters are updated.
    pub async fn verify_password(
        &self,
        state: &AppState,
        password: &Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<bool, ApiError> {
        self.check(state).await?;
        if password.len() > MAX_PASSWORD_BYTES {
            self.record_failure(state).await?;
            return Ok(false);
        }
        let matches = verify_password(password.to_string(), stored).await?;
        if matches {
            self.record_success(state).await?;
        } else {
            self.record_failure(state).await?;
        }
        Ok(matches)
    }

    /// `429 too_many_attempts` with `Retry-After` while any counter is locked out.
    async fn check(&self, state: &AppState) -> Result<(), ApiError> {
        let now = now_millis();
        let mut wait_ms = 0;
        for (key, free) in &self.counters {
            let Some(failures) = state.stores.throttle.failures(key).await? else {
                continue;
            };
            if now - failures.last_failure_at > FORGET_FAILURES_AFTER_MS {
                state.stores.throttle.clear_failures(key).await?;
                continue;
            }
            let until = failures.last_failure_at + lockout_ms(failures.count, *free);
            wait_ms = wait_ms.max(until - now);
        }
        if wait_ms > 0 {
            return Err(ApiError::too_many(
                ErrorCode::TooManyAttempts,
                "too many failed attempts; wait before trying again",
                seconds_rounded_up(wait_ms),
            ));
        }
        Ok(())
    }

    async fn record_failure(&self, state: &AppState) -> Result<(), ApiError> {
        let now = now_millis();
        for (key, _) in &self.counters {
            state.stores.throttle.record_failure(key, now).await?;
        }
        Ok(())
    }

    /// After a correct password: the account's counter starts again (the source's does not, or an attacker
    /// could reset it with an account of their own).
    async fn record_success(&self, state: &AppState) -> Result<(), ApiError> {
        if let Some((account, _)) = self.counters.first() {
            state.stores.throttle.clear_failures(account).await?;
        }
        Ok(())
    }
}

/// A quota window: a fixed clock hour or UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Per user.
    SendsPerHour,
    /// Per user.
    KeyOperationsPerDay,
    /// Per claiming device (`userId/deviceId`).
    KeyPackageClaimsPerHour,
    /// Per user.
    DeviceRegistrationsPerDay,
    /// Per claiming user and target user (`claimerId>targetId`).
    ClaimsPerTargetPerHour,
    /// Per user.
    GroupsPerDay,
    /// Per device (`userId/deviceId`).
    CommitsPerHour,
    /// Per device (`userId/deviceId`).
    GroupMessagesPerHour,
}

impl Quota {
    /// The counter's name, its window (ms), its limit under `quotas`, and what it counts (for the message).
    fn rule(self, quotas: &Quotas) -> (&'static str, i64, u64, &'static str) {
        match self {
            Quota::SendsPerHour => ("sends", HOUR_MS, quotas.sends_per_hour, "sends per hour"),
            Quota::KeyOperationsPerDay => (
                "key-ops",
                DAY_MS,
                quotas.key_operations_per_day,
                "key operations per day",
            ),
            Quota::KeyPackageClaimsPerHour => (
                "claims",
                HOUR_MS,
                quotas.key_package_claims_per_hour,
                "key package claims per hour",
            ),
            Quota::ClaimsPerTargetPerHour => (
                "claims-target",
                HOUR_MS,
                quotas.claims_per_target_per_hour,
                "claims of this user's key packages per hour",
            ),
            Quota::GroupsPerDay => (
                "groups",
                DAY_MS,
                quotas.groups_per_day,
                "group creations per day",
            ),
            Quota::CommitsPerHour => (
                "commits",
                HOUR_MS,
                quotas.commits_per_hour,
                "commits per hour",
            ),
            Quota::GroupMessagesPerHour => (
                "group-messages",
                HOUR_MS,
                quotas.group_messages_per_hour,
                "group messages per hour",
            ),
            Quota::DeviceRegistrationsPerDay => (
                "device-registrations",
                DAY_MS,
                quotas.device_registrations_per_day,
                "device registrations per day",
            ),
        }
    }
}

/// The counter subject of a device: `userId/deviceId`.
pub fn device_subject(caller: &DeviceCaller) -> String {
    format!("{}/{}", caller.user_id, caller.device_id)
}

/// Counts one use of `quota` by `subject` (the user, the device or the pair the quota is kept per, see
/// [`Quota`]); past the configured limit, `429 quota_exceeded` with `Retry-After` until the window ends.
pub async fn spend(state: &AppState, quota: Quota, subject: &str) -> Result<(), ApiError> {
    let (name, window_ms, limit, what) = quota.rule(&state.quotas);
    let now = now_millis();
    let window_start = now - now.rem_euclid(window_ms);
    let used = state
        .stores
        .throttle
        .hit(&format!("quota-{name}:{subject}"), window_start)
        .await?;
    if used > limit {
        return Err(ApiError::too_many(
            ErrorCode::QuotaExceeded,
            format!("quota of {limit} {what} used up; try again later"),
            seconds_rounded_up(window_start + window_ms - now),
        ));
    }
    Ok(())
}

/// The quotas of one key package claim by `caller` of `target`'s packages: the claiming device's
/// ([`Quota::KeyPackageClaimsPerHour`]) and, unless the caller claims its own user's packages (a device adding
/// its user's other devices), the claiming user's for this target ([`Quota::ClaimsPerTargetPerHour`]), so one
/// account cannot drain one user's one-time packages for everyone else.
pub async fn spend_claim(
    state: &AppState,
    caller: &DeviceCaller,
    target: &str,
) -> Result<(), ApiError> {
    spend(
        state,
        Quota::KeyPackageClaimsPerHour,
        &device_subject(caller),
    )
    .await?;
    // A target id longer than any user id names nobody (the claim is then `404 user_not_found`).
    if caller.user_id != target && target.len() <= e2ee_protocol::MAX_ID_BYTES {
        let pair = format!("{}>{}", caller.user_id, target);
        spend(state, Quota::ClaimsPerTargetPerHour, &pair).await?;
    }
    Ok(())
}

fn seconds_rounded_up(ms: i64) -> u64 {
    u64::try_from(ms.max(0)).unwrap_or(0).div_ceil(1000)
}

/// The caller's address as API Gateway saw it (absent in-process and in bare invocations).
fn source_ip(request: &Request) -> Option<String> {
    let ip = match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(context) => context.http.source_ip.clone(),
        RequestContext::ApiGatewayV1(context) => context.identity.source_ip.clone(),
        _ => None,
    }?;
    // An address is short and printable; anything else is not worth a counter of its own.
    (!ip.is_empty() && ip.len() <= 64 && ip.bytes().all(|b| b.is_ascii_graphic())).then_some(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockout_doubles_after_the_free_failures_and_is_capped() {
        assert_eq!(lockout_ms(0, 5), 0);
        assert_eq!(lockout_ms(5, 5), 0);
        assert_eq!(lockout_ms(6, 5), 1_000);
        assert_eq!(lockout_ms(7, 5), 2_000);
        assert_eq!(lockout_ms(10, 5), 16_000);
        assert_eq!(lockout_ms(30, 5), MAX_LOCKOUT_MS);
        assert_eq!(lockout_ms(u32::MAX, 5), MAX_LOCKOUT_MS);
    }

    #[test]
    fn rounds_waits_up_to_whole_seconds() {
        assert_eq!(seconds_rounded_up(1), 1);
        assert_eq!(seconds_rounded_up(1_000), 1);
        assert_eq!(seconds_rounded_up(1_001), 2);
        assert_eq!(seconds_rounded_up(-5), 0);
    }
}
