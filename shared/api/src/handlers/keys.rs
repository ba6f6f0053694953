//! The key directory: generate (server-side, returned once), register (client-generated), look up.

use std::sync::Arc;

use e2ee_crypto::{KeySize, PrivateKey, PublicKey};
use e2ee_protocol::{
    GenerateKeysRequest, GeneratedKeyResponse, PublicKeyResponse, RegisterKeyRequest,
};
use e2ee_storage::{NewPublicKey, PublicKeyRecord, StoreError};
use lambda_http::Request;
use lambda_http::http::StatusCode;

use super::{HandlerResult, active_key_record, require_user};
use crate::error::{ApiError, crypto_error};
use crate::http::{json_body, json_response, optional_json_body, path_param, query_param};
use crate::state::AppState;
use crate::views::key_view;

/// `POST /api/crypto/generate-keys`: the private key is in this response only; it is never stored or logged.
pub async fn generate_keys(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: GenerateKeysRequest = optional_json_body(&request)?;
    let size = KeySize::from_bits(body.bits.unwrap_or(2048))
        .map_err(|e| ApiError::bad_request("invalid_bits", e.to_string()))?;
    // Key generation is tens of milliseconds of CPU: keep it off the async threads.
    let key = tokio::task::spawn_blocking(move || PrivateKey::generate(size))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let record = store_active_key(&state, &caller, key.public_key()).await?;
    let private_pem = key.to_pkcs8_pem().map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::CREATED,
        &GeneratedKeyResponse {
            key_id: record.key_id,
            fingerprint: key.key_id().fingerprint(),
            bits: record.bits,
            public_key: record.public_key_pem,
            private_key: private_pem,
        },
    ))
}

/// `POST /api/crypto/register-key`: the true E2EE path; the key pair was generated on the device.
pub async fn register_key(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: RegisterKeyRequest = json_body(&request)?;
    if body.public_key.len() > 4096 {
        return Err(ApiError::bad_request(
            "invalid_key",
            "publicKey is too long for an RSA-4096 SPKI PEM",
        ));
    }
    let key = PublicKey::from_spki_pem(&body.public_key).map_err(crypto_error)?;
    let record = store_active_key(&state, &caller, &key).await?;
    Ok(json_response(StatusCode::CREATED, &key_view(&record)))
}

/// Makes `key` the caller's active key (retiring the previous one).
async fn store_active_key(
    state: &AppState,
    user_id: &str,
    key: &PublicKey,
) -> Result<PublicKeyRecord, ApiError> {
    let new_key = NewPublicKey {
        user_id: user_id.to_owned(),
        key_id: key.key_id().to_string(),
        public_key_pem: key.to_spki_pem().map_err(ApiError::internal)?,
        bits: key.size().bits() as u32,
    };
    state
        .stores
        .keys
        .put_active(new_key)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(
                "key_retired",
                "this key was retired or revoked and cannot be made active again",
            ),
            other => other.into(),
        })
}

/// `GET /api/crypto/public-key/{userId}[?all=true]`
pub async fn get_public_key(state: Arc<AppState>, request: Request) -> HandlerResult {
    state.tokens.authenticate(&request)?;
    let user_id = path_param(&request, "userId", "/api/crypto/public-key/")?;
    let all = match query_param(&request, "all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_query",
                "all must be true or false",
            ));
        }
    };
    require_user(&state, &user_id, "user_not_found").await?;
    let active = active_key_record(&state, &user_id).await?;
    let keys = if all {
        Some(state.stores.keys.list_for_user(&user_id).await?)
    } else {
        None
    };
    let Some(active) = active else {
        return Err(ApiError::not_found(
            "no_active_key",
            "this user has no active key",
        ));
    };
    let view = key_view(&active);
    let body = PublicKeyResponse {
        user_id,
        key_id: view.key_id,
        fingerprint: view.fingerprint,
        bits: view.bits,
        public_key: view.public_key,
        created_at: view.created_at,
        keys: keys.map(|keys| keys.iter().map(key_view).collect()),
    };
    Ok(json_response(StatusCode::OK, &body))
}
