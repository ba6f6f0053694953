//! The MLS device directory (docs/mls.md): register, open a device session, approve, revoke, list. Every
//! certificate is verified here, against the user's active identity key, before the store sees it.

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_crypto::{DeviceRevocation, DeviceStatement, KeyId, PublicKey};
use e2ee_protocol::ids::{MAX_SIGNATURE_KEY_BYTES, is_device_id};
use e2ee_protocol::{
    ApproveDeviceRequest, DeviceCertificateView, DeviceList, DeviceSessionRequest,
    DeviceSessionResponse, DeviceView, MAX_DEVICE_PAGE, MAX_DEVICE_PAGE_BYTES,
    RegisterDeviceRequest, RevokeDeviceRequest, device_session_input,
};
use e2ee_storage::{
    DeviceCertificate, DeviceRecord, DeviceStatus, KeyStatus, LINK_PROOF_BYTES,
    MAX_CERTIFICATE_SIGNATURE_BYTES, NewDevice, StoreError,
};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use zeroize::Zeroizing;

use super::authorize;
use super::{HandlerResult, MAX_CLOCK_SKEW_MS, base64_field, check_fresh, require_user};
use crate::auth::DeviceCaller;
use crate::error::{ApiError, mls_error};
use crate::http::{json_body, path_param, query_param};
use crate::response::json_response;
use crate::state::AppState;
use crate::throttle::{self, Quota, now_millis};
use crate::views::device_view;

/// Longest Ed25519 signature accepted in a session proof (64 bytes; a little room for other schemes).
const MAX_SESSION_SIGNATURE_BYTES: usize = 128;

/// `POST /api/devices` (user or device token): registers a device of the caller. With a certificate verified
/// under the user's active identity key the device is active at once, whatever other devices are active (the
/// identity key is the account's authority); otherwise it is pending. A new device counts against the caps
/// (`MAX_PENDING_DEVICES`, `MAX_DEVICES_PER_USER`: `409 too_many_pending_devices` / `too_many_devices`) and
/// the daily registration quota (`429 quota_exceeded`); a retry of a stored registration does not.
pub async fn register_device(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: RegisterDeviceRequest = json_body(&request)?;
    check_device_id(&body.device_id)?;
    let signature_key = base64_field("signatureKey", &body.signature_key, MAX_SIGNATURE_KEY_BYTES)?;
    let certificate = match &body.certificate {
        None => None,
        Some(view) => {
            let certificate = parse_certificate(view)?;
            verify_certificate(
                &state,
                &caller,
                &body.device_id,
                &signature_key,
                &certificate,
            )
            .await?;
            Some(certificate)
        }
    };
    // A device id already stored is a retry or a conflict, which the store decides: only new devices count.
    if state
        .stores
        .devices
        .get(&caller, &body.device_id)
        .await?
        .is_none()
    {
        check_device_caps(&state, &caller, certificate.is_none()).await?;
        throttle::spend(&state, Quota::DeviceRegistrationsPerDay, &caller).await?;
    }
    let record = state
        .stores
        .devices
        .register(NewDevice {
            user_id: caller,
            device_id: body.device_id,
            display_name: body.display_name,
            signature_key,
            certificate,
        })
        .await?;
    Ok(json_response(StatusCode::CREATED, &device_view(&record)))
}

/// Refuses a new device past the caps of docs/security.md: pending devices (`new_is_pending`) and pending plus
/// active ones. Checked before the insert, so concurrent registrations may pass a cap by their number.
async fn check_device_caps(
    state: &AppState,
    user_id: &str,
    new_is_pending: bool,
) -> Result<(), ApiError> {
    let counts = state.stores.devices.count_for_user(user_id).await?;
    let quotas = &state.quotas;
    if new_is_pending && counts.pending >= quotas.max_pending_devices {
        return Err(ApiError::conflict(
            ErrorCode::TooManyPendingDevices,
            format!(
                "at most {} pending devices: approve or revoke one first",
                quotas.max_pending_devices
            ),
        ));
    }
    if counts.pending + counts.active >= quotas.max_devices_per_user {
        return Err(ApiError::conflict(
            ErrorCode::TooManyDevices,
            format!(
                "at most {} devices: revoke one first",
                quotas.max_devices_per_user
            ),
        ));
    }
    Ok(())
}

/// `POST /api/devices/session` (user token): a device token for an active device of the caller, against a
/// fresh signature by the device's MLS signature key (so a password alone never acts as a device).
pub async fn device_session(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: DeviceSessionRequest = json_body(&request)?;
    check_device_id(&body.device_id)?;
    check_fresh(body.created_at)?;
    let signature = base64_field("signature", &body.signature, MAX_SESSION_SIGNATURE_BYTES)?;
    let device = stored_device(&state, &caller, &body.device_id).await?;
    match device.status {
        DeviceStatus::Active => {}
        DeviceStatus::Pending => return Err(StoreError::DevicePending.into()),
        DeviceStatus::Revoked => return Err(StoreError::DeviceRevoked.into()),
    }
    let signed = device_session_input(&caller, &body.device_id, body.created_at);
    e2ee_mls::verify_device_signature(&device.signature_key, &signed, &signature)
        .map_err(mls_error)?;
    let issued = state.tokens.issue_for_device(&caller, &body.device_id)?;
    Ok(json_response(
        StatusCode::OK,
        &DeviceSessionResponse {
            token: Zeroizing::new(issued.token),
            token_type: "Bearer".into(),
            expires_at: issued.expires_at,
            user_id: caller,
            device_id: body.device_id,
        },
    ))
}

/// `POST /api/devices/approve` (device token of an active device): certifies a pending device of the same user.
pub async fn approve_device(state: Arc<AppState>, request: Request) -> HandlerResult {
    let (caller, _) = active_device(&state, &request).await?;
    let body: ApproveDeviceRequest = json_body(&request)?;
    check_device_id(&body.device_id)?;
    let mut certificate = parse_certificate(&body.certificate)?;
    // Stored as given: only the approved device, which holds the link secret, can check it.
    certificate.link_proof = body
        .link_proof
        .as_deref()
        .map(parse_link_proof)
        .transpose()?;
    let target = stored_device(&state, &caller.user_id, &body.device_id).await?;
    if target.status == DeviceStatus::Revoked {
        return Err(StoreError::DeviceRevoked.into());
    }
    let user_id = &caller.user_id;
    verify_certificate(
        &state,
        user_id,
        &target.device_id,
        &target.signature_key,
        &certificate,
    )
    .await?;
    let record = state
        .stores
        .devices
        .approve(user_id, &body.device_id, certificate)
        .await?;
    Ok(json_response(StatusCode::OK, &device_view(&record)))
}

/// `POST /api/devices/revoke` (user or device token): revokes one of the caller's devices (any, the calling one
/// included) and deletes its key packages. A token alone is not enough (a stolen device's token must not
/// lock its owner out): the request carries a signature by the user's active identity key over
/// [`DeviceRevocation`] (`createdAt` within 5 minutes), or the account password (docs/security.md).
pub async fn revoke_device(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: RevokeDeviceRequest = json_body(&request)?;
    check_device_id(&body.device_id)?;
    check_fresh(body.created_at)?;
    // Before the second factor: another user's device, or none, is 404 device_not_found as `revoke` says.
    stored_device(&state, &caller, &body.device_id).await?;
    let revocation = DeviceRevocation {
        user_id: &caller,
        device_id: &body.device_id,
        created_at: body.created_at,
    };
    authorize::second_factor(
        &state,
        &request,
        &caller,
        authorize::Factors {
            authorization: body.authorization,
            password: body.password,
        },
        "revoking a device",
        |key, signature| revocation.verify(key, signature).is_ok(),
    )
    .await?;
    let record = state
        .stores
        .devices
        .revoke(&caller, &body.device_id)
        .await?;
    Ok(json_response(StatusCode::OK, &device_view(&record)))
}

/// `GET /api/devices/{userId}?after=&limit=` (any token): one page of a user's pending and active devices
/// with their certificates (which clients check against the identity key they pinned), oldest first: at most
/// `limit` (1–100, default 100) devices and [`MAX_DEVICE_PAGE_BYTES`] of JSON. `after` is the `nextAfter` of
/// the previous page (a device id of that user); `nextAfter` is absent on the last page.
pub async fn list_devices(state: Arc<AppState>, request: Request) -> HandlerResult {
    state.tokens.authenticate(&request)?;
    let user_id = path_param(&request, "userId", "/api/devices/")?;
    let limit = device_page_limit(&request)?;
    let after = query_param(&request, "after");
    require_user(&state, &user_id, ErrorCode::UserNotFound).await?;
    let invalid_after = || {
        ApiError::bad_request(
            ErrorCode::InvalidAfter,
            "after must be the nextAfter of a previous page (a device id of this user)",
        )
    };
    let position = match after.as_deref() {
        None => None,
        Some(device_id) if !is_device_id(device_id) => return Err(invalid_after()),
        Some(device_id) => {
            let device = state
                .stores
                .devices
                .get(&user_id, device_id)
                .await?
                .ok_or_else(invalid_after)?;
            Some((device.created_at, device.device_id))
        }
    };
    // One more than the page, to know whether another page follows.
    let records = state
        .stores
        .devices
        .list_page(
            &user_id,
            position.as_ref().map(|(at, id)| (*at, id.as_str())),
            limit + 1,
        )
        .await?;
    let (devices, next_after) = device_page(&user_id, &records, limit)?;
    Ok(json_response(
        StatusCode::OK,
        &DeviceList {
            user_id,
            devices,
            next_after,
        },
    ))
}

/// Room kept in a device page for everything but the devices: `{"userId":…,"devices":[],"nextAfter":…}`.
const DEVICE_PAGE_OVERHEAD: usize = 512;

/// The views of `records` that fit in one page (at most `limit` and [`MAX_DEVICE_PAGE_BYTES`] of JSON with
/// the envelope), and the `nextAfter` when devices are left over.
fn device_page(
    user_id: &str,
    records: &[DeviceRecord],
    limit: u32,
) -> Result<(Vec<DeviceView>, Option<String>), ApiError> {
    let budget = MAX_DEVICE_PAGE_BYTES.saturating_sub(DEVICE_PAGE_OVERHEAD + 2 * user_id.len());
    let mut used = 0;
    let mut views = Vec::new();
    for record in records.iter().take(limit as usize) {
        let view = device_view(record);
        // The view's JSON and the comma before it.
        let size = serde_json::to_vec(&view).map_err(ApiError::internal)?.len() + 1;
        if used + size > budget && !views.is_empty() {
            break;
        }
        used += size;
        views.push(view);
    }
    let next_after = (views.len() < records.len())
        .then(|| views.last().map(|view| view.device_id.clone()))
        .flatten();
    Ok((views, next_after))
}

/// `limit` of a device page: 1 to [`MAX_DEVICE_PAGE`], default [`MAX_DEVICE_PAGE`]; `400 invalid_limit`
/// otherwise.
fn device_page_limit(request: &Request) -> Result<u32, ApiError> {
    match query_param(request, "limit") {
        None => Ok(MAX_DEVICE_PAGE),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|limit| (1..=MAX_DEVICE_PAGE).contains(limit))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidLimit,
                    format!("limit must be a whole number from 1 to {MAX_DEVICE_PAGE}"),
                )
            }),
    }
}

/// The caller of a device-scoped route and its record: a device token whose device is active now (revocation
/// takes effect on the next request, whatever the token's lifetime).
pub(super) async fn active_device(
    state: &AppState,
    request: &Request,
) -> Result<(DeviceCaller, DeviceRecord), ApiError> {
    let caller = state.tokens.authenticate_device(request)?;
    let device = state
        .stores
        .devices
        .get(&caller.user_id, &caller.device_id)
        .await?
        .filter(|device| device.status == DeviceStatus::Active)
        .ok_or_else(|| {
            ApiError::forbidden(
                ErrorCode::DeviceNotActive,
                "the calling device is not an active device of this user",
            )
        })?;
    Ok((caller, device))
}

async fn stored_device(
    state: &AppState,
    user_id: &str,
    device_id: &str,
) -> Result<DeviceRecord, ApiError> {
    state
        .stores
        .devices
        .get(user_id, device_id)
        .await?
        .ok_or_else(|| StoreError::DeviceNotFound.into())
}

fn check_device_id(device_id: &str) -> Result<(), ApiError> {
    if is_device_id(device_id) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "deviceId must be 1 to 64 of A-Z a-z 0-9 _ -",
        ))
    }
}

fn parse_certificate(view: &DeviceCertificateView) -> Result<DeviceCertificate, ApiError> {
    KeyId::parse(&view.issuer_key_id).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "certificate.issuerKeyId must be 64 lowercase hex",
        )
    })?;
    let issued_at = i64::try_from(view.issued_at)
        .ok()
        .filter(|&at| at <= now_millis() + MAX_CLOCK_SKEW_MS)
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "certificate.issuedAt must not be in the future",
            )
        })?;
    Ok(DeviceCertificate {
        issuer_key_id: view.issuer_key_id.clone(),
        issued_at,
        signature: base64_field(
            "certificate.signature",
            &view.signature,
            MAX_CERTIFICATE_SIGNATURE_BYTES,
        )?,
        link_proof: None,
    })
}

/// `linkProof`: standard base64 of exactly [`LINK_PROOF_BYTES`] bytes, else `400 invalid_request`.
fn parse_link_proof(text: &str) -> Result<Vec<u8>, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("linkProof must be standard base64 of {LINK_PROOF_BYTES} bytes"),
        )
    };
    let proof = base64_field("linkProof", text, LINK_PROOF_BYTES).map_err(|_| invalid())?;
    if proof.len() != LINK_PROOF_BYTES {
        return Err(invalid());
    }
    Ok(proof)
}

/// The certificate verifies under the user's active identity key (the key other users pin), over this
/// device's statement; otherwise `422 invalid_certificate`.
async fn verify_certificate(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    signature_key: &[u8],
    certificate: &DeviceCertificate,
) -> Result<(), ApiError> {
    let invalid =
        |why: &str| ApiError::unprocessable(ErrorCode::InvalidCertificate, why.to_owned());
    let issuer = state
        .stores
        .keys
        .get(user_id, &certificate.issuer_key_id)
        .await?
        .filter(|key| key.status == KeyStatus::Active)
        .ok_or_else(|| invalid("the certificate's issuer is not the user's active identity key"))?;
    let identity_key =
        PublicKey::from_spki_pem(&issuer.public_key_pem).map_err(ApiError::internal)?;
    let statement = DeviceStatement {
        user_id,
        device_id,
        signature_key,
        issuer_key_id: identity_key.key_id(),
        created_at: u64::try_from(certificate.issued_at).unwrap_or(0),
    };
    statement
        .verify(&identity_key, &certificate.signature)
        .map_err(|_| invalid("the certificate does not verify for this device and signature key"))
}
