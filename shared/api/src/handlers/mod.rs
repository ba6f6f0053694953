//! One async function per endpoint: `(state, request) -> response`. Each Lambda binary runs exactly one.

pub mod assisted;
pub mod auth;
mod authorize;
pub mod devices;
pub mod groups;
pub mod key_packages;
pub mod keys;
pub mod messages;

use e2ee_crypto::PublicKey;
use e2ee_protocol::ErrorCode;
use e2ee_protocol::KeyStatus;
use e2ee_storage::{Message, Page, PageRequest, PublicKeyRecord};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::cursor::CursorScope;
use crate::error::ApiError;
use crate::http::query_param;
use crate::state::AppState;
use crate::views::message_page;

pub type HandlerResult = Result<Response<Body>, ApiError>;

/// `?limit=&cursor=`: the store validates the range; the cursor must have been sealed for `scope`.
fn page_request(
    state: &AppState,
    request: &Request,
    scope: CursorScope<'_>,
) -> Result<PageRequest, ApiError> {
    let limit = match query_param(request, "limit") {
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidLimit,
                "limit must be a whole number from 1 to 100",
            )
        })?),
        None => None,
    };
    let cursor = match query_param(request, "cursor") {
        Some(cursor) => Some(state.cursors.open(scope, &cursor)?),
        None => None,
    };
    Ok(PageRequest { limit, cursor })
}

/// The response body of a page, its cursor sealed for `scope`.
fn sealed_page(
    state: &AppState,
    scope: CursorScope<'_>,
    mut page: Page<Message>,
) -> e2ee_protocol::MessagePage {
    page.next_cursor = page
        .next_cursor
        .map(|cursor| state.cursors.seal(scope, &cursor));
    message_page(page)
}

/// The user's active key, if they have one. (A record is only ever returned as active while it is; the
/// status check guards against a store answering with a just-retired key.)
async fn active_key_record(
    state: &AppState,
    user_id: &str,
) -> Result<Option<PublicKeyRecord>, ApiError> {
    Ok(state
        .stores
        .keys
        .active_for_user(user_id)
        .await?
        .filter(|k| k.status == KeyStatus::Active))
}

/// How far a signed time (a key statement's or a new message's `createdAt`) may be from the server's clock.
pub const MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// `created_at` (ms) of a signed statement is within [`MAX_CLOCK_SKEW_MS`] of the server's clock, or
/// `400 stale_statement`.
fn check_fresh(created_at: u64) -> Result<(), ApiError> {
    let skew = i64::try_from(created_at)
        .map(|t| (t - crate::throttle::now_millis()).abs())
        .unwrap_or(i64::MAX);
    if skew > MAX_CLOCK_SKEW_MS {
        return Err(ApiError::bad_request(
            ErrorCode::StaleStatement,
            "createdAt must be within 5 minutes of the server's clock",
        ));
    }
    Ok(())
}

/// A base64 field of at most `max_bytes` decoded bytes: a small value (a key, a signature), so anything else is
/// `400 invalid_base64`.
fn base64_field(field: &str, text: &str, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    decode_base64(text, max_bytes).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidBase64,
            format!("{field} must be standard base64 of at most {max_bytes} bytes"),
        )
    })
}

/// A base64 field carrying an MLS message of at most `max_bytes` decoded bytes: larger is `413 field_too_large`
/// (the body may be well below the 2 MiB limit and the message still too large), not base64 `400 invalid_base64`.
fn base64_message(field: &str, text: &str, max_bytes: usize) -> Result<Vec<u8>, ApiError> {
    decode_base64(text, max_bytes).map_err(|error| match error {
        Base64Error::TooLarge => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::FieldTooLarge,
            format!("{field} is larger than {max_bytes} bytes"),
        ),
        Base64Error::NotBase64 => ApiError::bad_request(
            ErrorCode::InvalidBase64,
            format!("{field} must be standard base64"),
        ),
    })
}

enum Base64Error {
    NotBase64,
    TooLarge,
}

fn decode_base64(text: &str, max_bytes: usize) -> Result<Vec<u8>, Base64Error> {
    use base64::Engine as _;
    // Checked before decoding, so an oversize field costs no allocation.
    if text.len() > max_bytes.div_ceil(3) * 4 {
        return Err(Base64Error::TooLarge);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| Base64Error::NotBase64)?;
    if bytes.len() > max_bytes {
        return Err(Base64Error::TooLarge);
    }
    Ok(bytes)
}

/// Where a message signature is checked.
#[derive(Debug, Clone, Copy)]
enum SignatureUse {
    /// On a message being sent at `now` (ms): a retired key may only sign what is in flight, i.e. messages
    /// created before its retirement and at most [`MAX_CLOCK_SKEW_MS`] ago, so a stolen retired key cannot
    /// backdate new messages.
    Sending { now: i64 },
    /// On a stored message being read.
    Reading,
}

/// Whether `record` may sign a message created at `created_at` (docs/security.md): an active key may; a
/// retired key only for messages created before its retirement; a revoked or pending key never.
fn may_sign(record: &PublicKeyRecord, created_at: u64, purpose: SignatureUse) -> bool {
    let Ok(created_at) = i64::try_from(created_at) else {
        return false;
    };
    match record.status {
        KeyStatus::Active => true,
        KeyStatus::Retired => {
            let before_retirement = record
                .retired_at
                .is_some_and(|retired_at| created_at < retired_at);
            let in_flight = match purpose {
                SignatureUse::Sending { now } => created_at >= now - MAX_CLOCK_SKEW_MS,
                SignatureUse::Reading => true,
            };
            before_retirement && in_flight
        }
        KeyStatus::Revoked | KeyStatus::Pending => false,
    }
}

/// The key a signature by `user_id` on a message created at `created_at` names: a registered key of that user
/// with `key_id` that [`may_sign`] it. Anything else is `422 bad_signature`.
async fn signing_key(
    state: &AppState,
    user_id: &str,
    key_id: &str,
    created_at: u64,
    purpose: SignatureUse,
) -> Result<PublicKey, ApiError> {
    let record = state
        .stores
        .keys
        .get(user_id, key_id)
        .await?
        .filter(|record| may_sign(record, created_at, purpose))
        .ok_or_else(|| {
            ApiError::unprocessable(
                ErrorCode::BadSignature,
                "the signing key is not a key of the sender that may sign this message",
            )
        })?;
    PublicKey::from_spki_pem(&record.public_key_pem).map_err(ApiError::internal)
}

/// Looks a user up by id, `404 {code}` if unknown.
async fn require_user(
    state: &AppState,
    user_id: &str,
    code: ErrorCode,
) -> Result<e2ee_storage::User, ApiError> {
    state
        .stores
        .users
        .get(user_id)
        .await?
        .ok_or_else(|| ApiError::not_found(code, "no such user"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(status: KeyStatus, retired_at: Option<i64>) -> PublicKeyRecord {
        PublicKeyRecord {
            user_id: "u_1".into(),
            key_id: "0".repeat(64),
            public_key_pem: String::new(),
            bits: 2048,
            created_at: 1_000,
            status,
            retired_at,
            revoked_at: None,
            endorsement: None,
        }
    }

    #[test]
    fn retired_keys_sign_only_what_predates_their_retirement() {
        let reading = SignatureUse::Reading;
        assert!(may_sign(&record(KeyStatus::Active, None), 5_000, reading));
        assert!(may_sign(
            &record(KeyStatus::Retired, Some(5_000)),
            4_999,
            reading
        ));
        assert!(!may_sign(
            &record(KeyStatus::Retired, Some(5_000)),
            5_000,
            reading
        ));
        assert!(!may_sign(&record(KeyStatus::Retired, None), 1, reading));
        assert!(!may_sign(&record(KeyStatus::Revoked, None), 1, reading));
        assert!(!may_sign(&record(KeyStatus::Pending, None), 1, reading));
    }

    #[test]
    fn a_retired_key_signs_new_sends_only_while_they_are_in_flight() {
        let now = 10 * MAX_CLOCK_SKEW_MS;
        let retired = record(KeyStatus::Retired, Some(now - 1_000));
        let sending = SignatureUse::Sending { now };
        let t = |ms: i64| u64::try_from(ms).unwrap_or_default();
        assert!(may_sign(&retired, t(now - 2_000), sending));
        assert!(!may_sign(&retired, t(now - MAX_CLOCK_SKEW_MS - 1), sending));
        assert!(may_sign(
            &retired,
            t(now - MAX_CLOCK_SKEW_MS - 1),
            SignatureUse::Reading
        ));
        // An active key signs old and new messages alike.
        assert!(may_sign(&record(KeyStatus::Active, None), 1, sending));
    }
}
