//! One async function per endpoint: `(state, request) -> response`. Each Lambda binary runs exactly one.

pub mod assisted;
pub mod auth;
pub mod keys;
pub mod messages;

use e2ee_storage::PageRequest;
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
