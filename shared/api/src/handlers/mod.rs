//! One async function per endpoint: `(state, request) -> response`. Each Lambda binary runs exactly one.

pub mod assisted;
pub mod auth;
pub mod keys;
pub mod messages;

use e2ee_crypto::PublicKey;
use e2ee_storage::{KeyStatus, PageRequest, PublicKeyRecord};
use lambda_http::{Body, Request, Response};

use crate::error::ApiError;
use crate::http::query_param;
use crate::state::AppState;

pub type HandlerResult = Result<Response<Body>, ApiError>;

/// `?limit=&cursor=` (the store validates the range and the cursor).
fn page_request(request: &Request) -> Result<PageRequest, ApiError> {
    let limit = match query_param(request, "limit") {
        Some(text) => Some(text.parse::<u32>().map_err(|_| {
            ApiError::bad_request(
                "invalid_limit",
                "limit must be a whole number from 1 to 100",
            )
        })?),
        None => None,
    };
    Ok(PageRequest {
        limit,
        cursor: query_param(request, "cursor"),
    })
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

/// The key a signature by `user_id` names: a registered, not revoked key of that user with `key_id`.
/// Anything else is `422 bad_signature`.
async fn signing_key(state: &AppState, user_id: &str, key_id: &str) -> Result<PublicKey, ApiError> {
    let record = state
        .stores
        .keys
        .get(user_id, key_id)
        .await?
        .filter(|k| k.status != KeyStatus::Revoked)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "bad_signature",
                "the signing key is not a registered key of the sender",
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
