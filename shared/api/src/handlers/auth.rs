//! Register, log in, look a user up by name.

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_protocol::{LoginRequest, LoginResponse, RegisterRequest, RegisterResponse, UserResponse};
use e2ee_storage::NewUser;
use lambda_http::Request;
use lambda_http::http::StatusCode;
use zeroize::Zeroizing;

use super::HandlerResult;
use crate::auth::{check_password_rules, hash_password};
use crate::error::ApiError;
use crate::http::{json_body, path_param};
use crate::response::json_response;
use crate::state::AppState;
use crate::throttle::PasswordCounters;

/// `POST /api/auth/register`
pub async fn register(state: Arc<AppState>, request: Request) -> HandlerResult {
    let body: RegisterRequest = json_body(&request)?;
    let password = body.password;
    check_password_rules(&password)?;
    if let Some(name) = &body.display_name
        && (name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control))
    {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidDisplayName,
            "displayName must be 1 to 64 characters, no control characters",
        ));
    }
    // Reject an invalid username before paying for a password hash (400 invalid_username); whether it is
    // taken only `create` can tell, after the hash (409 username_taken).
    e2ee_storage::normalize_username(&body.username)?;
    let password_hash = hash_password(password.to_string()).await?;
    let user = state
        .stores
        .users
        .create(NewUser {
            username: body.username,
            password_hash,
            display_name: body.display_name,
        })
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &RegisterResponse {
            user_id: user.id,
            username: user.username,
        },
    ))
}

/// `POST /api/auth/login`: the same 401 and the same cost whether the user is unknown or the password wrong;
/// repeated failures for one account name or from one source address lock out with backoff (429).
pub async fn login(state: Arc<AppState>, request: Request) -> HandlerResult {
    let body: LoginRequest = json_body(&request)?;
    // A username that cannot exist is just an unknown user (the store answers `None`).
    let user = state.stores.users.get_by_username(&body.username).await?;
    let counters = PasswordCounters::new(&request, &body.username);
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !counters
        .verify_password(&state, &body.password, stored)
        .await?
    {
        return Err(invalid_credentials());
    }
    let user = user.ok_or_else(invalid_credentials)?;
    let issued = state.tokens.issue(&user.id)?;
    Ok(json_response(
        StatusCode::OK,
        &LoginResponse {
            token: Zeroizing::new(issued.token),
            token_type: "Bearer".into(),
            expires_at: issued.expires_at,
            user_id: user.id,
        },
    ))
}

pub(crate) fn invalid_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "unknown username or wrong password",
    )
}

/// `GET /api/users/{username}`: the directory lookup clients use to find a contact's user id.
pub async fn lookup_user(state: Arc<AppState>, request: Request) -> HandlerResult {
    state.tokens.authenticate(&request)?;
    let username = path_param(&request, "username", "/api/users/")?;
    let user = state
        .stores
        .users
        .get_by_username(&username)
        .await?
        .ok_or_else(|| ApiError::not_found(ErrorCode::UserNotFound, "no such user"))?;
    Ok(json_response(
        StatusCode::OK,
        &UserResponse {
            user_id: user.id,
            username: user.username,
            display_name: user.display_name,
        },
    ))
}
