//! One async function per endpoint: `(state, request) -> response`. Each Lambda binary runs exactly one.

pub mod assisted;
pub mod auth;
pub mod keys;
pub mod messages;

use e2ee_crypto::PublicKey;
use e2ee_storage::{KeyStatus, Message, Page, PageRequest, PublicKeyRecord};
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
                "invalid_limit",
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

/// Whether `record` may sign a message created at `created_at` (docs/security.md): an active key may; a
/// retired key only for messages created before its retirement; a revoked or pending key never.
fn may_sign(record: &PublicKeyRecord, created_at: u64) -> bool {
    match record.status {
        KeyStatus::Active => true,
        KeyStatus::Retired => record
            .retired_at
            .is_some_and(|retired_at| i64::try_from(created_at).is_ok_and(|t| t < retired_at)),
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
) -> Result<PublicKey, ApiError> {
    let record = state
        .stores
        .keys
        .get(user_id, key_id)
        .await?
        .filter(|record| may_sign(record, created_at))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "bad_signature",
                "the signing key is not a key of the sender that may sign this message",
            )
        })?;
    PublicKey::from_spki_pem(&record.public_key_pem).map_err(ApiError::internal)
}

/// Looks a user up by id, `404 {code}` if unknown.
async fn require_user(
    state: &AppState,
    user_id: &str,
    code: &'static str,
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
        }
    }

    #[test]
    fn retired_keys_sign_only_what_predates_their_retirement() {
        assert!(may_sign(&record(KeyStatus::Active, None), 5_000));
        assert!(may_sign(&record(KeyStatus::Retired, Some(5_000)), 4_999));
        assert!(!may_sign(&record(KeyStatus::Retired, Some(5_000)), 5_000));
        assert!(!may_sign(&record(KeyStatus::Retired, None), 1));
        assert!(!may_sign(&record(KeyStatus::Revoked, None), 1));
        assert!(!may_sign(&record(KeyStatus::Pending, None), 1));
    }
}
