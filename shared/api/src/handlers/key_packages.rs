//! MLS key packages (RFC 9420 §10): a device uploads its own, validated with openmls; any active device claims
//! one package per device of a user to add that user to a group.

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_mls::{DeviceIdentity, MAX_KEY_PACKAGE_BYTES, validate_key_package};
use e2ee_protocol::{ClaimKeyPackagesRequest, ClaimKeyPackagesResponse, UploadKeyPackagesRequest};
use e2ee_storage::{MAX_KEY_PACKAGE_BATCH, NewKeyPackage};
use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::devices::active_device;
use super::{HandlerResult, base64_message, require_user};
use crate::error::{ApiError, mls_error};
use crate::http::json_body;
use crate::limits;
use crate::response::json_response;
use crate::state::AppState;
use crate::throttle::{self, now_millis};
use crate::views::{claimed_view, supply_view};

/// `POST /api/key-packages` (device token): stores 1 to 100 key packages of the calling device. Each must be
/// a valid openmls key package of ciphersuite 0x0001 whose credential names this user and device and whose
/// signature key is the device's registered one; one bad package refuses the whole batch (nothing is stored).
/// An upload that would take the device past `KEY_PACKAGE_SUPPLY_MAX` unexpired one-time packages is `409
/// key_package_supply_full` (nothing is stored).
pub async fn upload_key_packages(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, device) = active_device(&state, &request).await?;
    let body: UploadKeyPackagesRequest = json_body(&request)?;
    if !(1..=MAX_KEY_PACKAGE_BATCH).contains(&body.key_packages.len()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("keyPackages must hold 1 to {MAX_KEY_PACKAGE_BATCH} key packages"),
        ));
    }
    let identity = DeviceIdentity::new(&caller.user_id, &caller.device_id).map_err(mls_error)?;
    let now = now_millis();
    let now_seconds = u64::try_from(now / 1000).unwrap_or(0);
    let mut packages = Vec::with_capacity(body.key_packages.len());
    for (index, encoded) in body.key_packages.iter().enumerate() {
        let message = base64_message("keyPackages[]", encoded, MAX_KEY_PACKAGE_BYTES)?;
        let valid = validate_key_package(&message, &identity, now_seconds).map_err(|error| {
            let mut api_error = mls_error(error);
            api_error.message = format!("keyPackages[{index}]: {}", api_error.message);
            api_error
        })?;
        if valid.signature_key != device.signature_key {
            return Err(ApiError::unprocessable(
                ErrorCode::InvalidKeyPackage,
                format!(
                    "keyPackages[{index}]: signed with another key than the device's registered signature key"
                ),
            ));
        }
        packages.push(NewKeyPackage {
            key_package_ref: valid.key_package_ref,
            message: valid.message,
            not_after: i64::try_from(valid.not_after.saturating_mul(1000)).unwrap_or(i64::MAX),
            last_resort: valid.last_resort,
        });
    }
    limits::check_key_package_supply(&state, &caller, &packages, now).await?;
    let supply = state
        .stores
        .key_packages
        .upload(&caller.user_id, &caller.device_id, packages, now)
        .await?;
    Ok(json_response(StatusCode::CREATED, &supply_view(supply)))
}

/// `GET /api/key-packages/supply` (device token): what the calling device has left, so it knows when to
/// upload more.
pub async fn key_package_supply(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let supply = state
        .stores
        .key_packages
        .supply(&caller.user_id, &caller.device_id, now_millis())
        .await?;
    Ok(json_response(StatusCode::OK, &supply_view(supply)))
}

/// `POST /api/key-packages/claim` (device token): one package for each active device of `userId`; one-time
/// packages are consumed (never handed out twice), a device without any left gives its last-resort package.
/// Limited per claiming device and hour, and per claiming user and target user and hour (429 with
/// `Retry-After`), because every claim uses up packages.
pub async fn claim_key_packages(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let body: ClaimKeyPackagesRequest = json_body(&request)?;
    if !e2ee_protocol::ids::is_issued_user_id(&body.user_id) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "userId must be a user id (u_ and 32 lowercase hex digits)",
        ));
    }
    throttle::spend_claim(&state, &caller, &body.user_id).await?;
    require_user(&state, &body.user_id, ErrorCode::UserNotFound).await?;
    let claimed = state
        .stores
        .key_packages
        .claim(&caller.user_id, &body.user_id, now_millis())
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &ClaimKeyPackagesResponse {
            user_id: body.user_id,
            key_packages: claimed.iter().map(claimed_view).collect(),
        },
    ))
}
