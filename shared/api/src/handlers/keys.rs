//! The key directory: register (client-generated, with proof of possession), revoke, look up; and the
//! server-assisted key generation, whose keys stay pending until the client proves it holds them.

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_crypto::{KeyId, KeyOperation, KeySize, KeyStatement, PrivateKey, PublicKey};
use e2ee_protocol::{
    GenerateKeysRequest, GeneratedKeyResponse, KeyAuthorization, KeyStatus, PublicKeyResponse,
    RegisterKeyRequest, RevokeKeyRequest,
};
use e2ee_storage::{KeyEndorsement, NewPublicKey, PublicKeyRecord, StoreError};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use zeroize::Zeroizing;

use super::assisted::ensure_enabled;
use super::authorize::{self, signature_bytes};
use super::{HandlerResult, active_key_record, check_fresh, require_user};
use crate::error::{ApiError, crypto_error};
use crate::http::{json_body, optional_json_body, path_param, query_param};
use crate::response::json_response;
use crate::state::AppState;
use crate::throttle::{self, Quota};
use crate::views::key_view;

/// `POST /api/crypto/generate-keys` (server-assisted): the private key is in this response only; it is never
/// stored or logged. The public key is stored as pending: usable for nothing until the client registers it
/// with a proof of possession.
pub async fn generate_keys(state: Arc<AppState>, request: Request) -> HandlerResult {
    ensure_enabled(&state)?;
    let caller = state.tokens.authenticate(&request)?;
    let body: GenerateKeysRequest = optional_json_body(&request)?;
    let size = KeySize::from_bits(body.bits.unwrap_or(2048))
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidBits, e.to_string()))?;
    throttle::spend(&state, Quota::KeyOperationsPerDay, &caller).await?;
    // Key generation is tens of milliseconds of CPU: keep it off the async threads.
    let key = tokio::task::spawn_blocking(move || PrivateKey::generate(size))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let record = state
        .stores
        .keys
        .put_pending(new_public_key(&caller, key.public_key())?)
        .await?;
    let private_pem = key.to_pkcs8_pem().map_err(ApiError::internal)?;
    Ok(json_response(
        StatusCode::CREATED,
        &GeneratedKeyResponse {
            key_id: record.key_id,
            fingerprint: key.key_id().fingerprint(),
            bits: record.bits,
            public_key: record.public_key_pem,
            private_key: private_pem,
            status: KeyStatus::Pending,
        },
    ))
}

/// `POST /api/crypto/register-key`: makes a key the caller's active key (retiring the previous one). Needs a
/// signature by the new key (proof of possession) and, once the user has any key, a second factor: a
/// signature by the active key or the password (docs/security.md).
pub async fn register_key(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: RegisterKeyRequest = json_body(&request)?;
    if body.public_key.len() > 4096 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidKey,
            "publicKey is too long for an RSA-4096 SPKI PEM",
        ));
    }
    let key = PublicKey::from_spki_pem(&body.public_key).map_err(crypto_error)?;
    let statement = fresh_statement(
        KeyOperation::Register,
        &caller,
        key.key_id(),
        body.created_at,
    )?;
    statement
        .verify(&key, &signature_bytes(&body.proof)?)
        .map_err(|_| {
            ApiError::unprocessable(
                ErrorCode::InvalidProof,
                "proof is not a signature by this key over its registration statement",
            )
        })?;
    let has_keys = state
        .stores
        .keys
        .list_for_user(&caller)
        .await?
        .iter()
        .any(|k| k.status != KeyStatus::Pending);
    // Once checked as the second factor, the active key's authorization is kept with the new key: other
    // clients verify it to follow the rotation (docs/security.md, "Key rotation chains").
    let authorization = has_keys.then(|| body.authorization.clone()).flatten();
    let second_factor = has_keys.then_some((body.authorization, body.password));
    authorize_key_operation(&state, &request, &statement, second_factor).await?;
    let mut new_key = new_public_key(&caller, &key)?;
    new_key.endorsement = authorization
        .map(|authorization| endorsement(&authorization, body.created_at))
        .transpose()?;
    let record = state.stores.keys.put_active(new_key).await?;
    Ok(json_response(StatusCode::CREATED, &key_view(&record)))
}

/// The record of a registration's `authorization` (not checked here: only the second factor's check makes it
/// one) over the statement made at `created_at`.
fn endorsement(
    authorization: &KeyAuthorization,
    created_at: u64,
) -> Result<KeyEndorsement, ApiError> {
    Ok(KeyEndorsement {
        key_id: authorization.key_id.clone(),
        created_at: i64::try_from(created_at).map_err(ApiError::internal)?,
        signature: signature_bytes(&authorization.signature)?,
    })
}

/// `POST /api/crypto/revoke-key`: revokes one of the caller's keys (any, the last one too), with the same
/// second factor as registration. A revoked key signs nothing any more.
pub async fn revoke_key(state: Arc<AppState>, request: Request) -> HandlerResult {
    let caller = state.tokens.authenticate(&request)?;
    let body: RevokeKeyRequest = json_body(&request)?;
    let key_id = KeyId::parse(&body.key_id).map_err(|_| {
        ApiError::bad_request(ErrorCode::InvalidKeyId, "keyId must be 64 lowercase hex")
    })?;
    let statement = fresh_statement(KeyOperation::Revoke, &caller, key_id, body.created_at)?;
    // Before the second factor and the quota: an unknown key is 404 key_not_found, as `revoke` would say.
    if state
        .stores
        .keys
        .get(&caller, &body.key_id)
        .await?
        .is_none()
    {
        return Err(StoreError::KeyNotFound.into());
    }
    let second_factor = Some((body.authorization, body.password));
    authorize_key_operation(&state, &request, &statement, second_factor).await?;
    let record = state.stores.keys.revoke(&caller, &body.key_id).await?;
    Ok(json_response(StatusCode::OK, &key_view(&record)))
}

/// The statement a key operation signs, if its time is within [`super::MAX_CLOCK_SKEW_MS`] of now.
fn fresh_statement(
    operation: KeyOperation,
    user_id: &str,
    key_id: KeyId,
    created_at: u64,
) -> Result<KeyStatement<'_>, ApiError> {
    check_fresh(created_at)?;
    Ok(KeyStatement {
        operation,
        user_id,
        key_id,
        created_at,
    })
}

/// The checks every key operation passes after its statement: the second factor when one is required
/// (`Some((authorization, password))`), then the user's daily quota of key operations.
async fn authorize_key_operation(
    state: &AppState,
    request: &Request,
    statement: &KeyStatement<'_>,
    second_factor_given: Option<(Option<KeyAuthorization>, Option<Zeroizing<String>>)>,
) -> Result<(), ApiError> {
    if let Some((authorization, password)) = second_factor_given {
        second_factor(state, request, statement, authorization, password).await?;
    }
    throttle::spend(state, Quota::KeyOperationsPerDay, statement.user_id).await
}

/// The second factor of a key operation: a signature over `statement` by the caller's active key, or the
/// account password (throttled like a login).
async fn second_factor(
    state: &AppState,
    request: &Request,
    statement: &KeyStatement<'_>,
    authorization: Option<KeyAuthorization>,
    password: Option<Zeroizing<String>>,
) -> Result<(), ApiError> {
    authorize::second_factor(
        state,
        request,
        statement.user_id,
        authorize::Factors {
            authorization,
            password,
        },
        "changing keys",
        |key, signature| statement.verify(key, signature).is_ok(),
    )
    .await
}

fn new_public_key(user_id: &str, key: &PublicKey) -> Result<NewPublicKey, ApiError> {
    Ok(NewPublicKey {
        user_id: user_id.to_owned(),
        key_id: key.key_id().to_string(),
        public_key_pem: key.to_spki_pem().map_err(ApiError::internal)?,
        bits: key.size().bits() as u32,
        endorsement: None,
    })
}

/// `GET /api/crypto/public-key/{userId}[?all=true]`: the active key, and with `all` every key that is or was
/// in use (pending keys are nobody's business).
pub async fn get_public_key(state: Arc<AppState>, request: Request) -> HandlerResult {
    state.tokens.authenticate(&request)?;
    let user_id = path_param(&request, "userId", "/api/crypto/public-key/")?;
    let all = match query_param(&request, "all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "all must be true or false",
            ));
        }
    };
    let user = require_user(&state, &user_id, ErrorCode::UserNotFound).await?;
    let active = active_key_record(&state, &user_id).await?;
    let keys: Option<Vec<PublicKeyRecord>> = if all {
        Some(state.stores.keys.list_for_user(&user_id).await?)
    } else {
        None
    };
    let Some(active) = active else {
        return Err(ApiError::not_found(
            ErrorCode::NoActiveKey,
            "this user has no active key",
        ));
    };
    let view = key_view(&active);
    let body = PublicKeyResponse {
        user_id,
        username: Some(user.username),
        key_id: view.key_id,
        fingerprint: view.fingerprint,
        bits: view.bits,
        public_key: view.public_key,
        created_at: view.created_at,
        keys: keys.map(|keys| {
            keys.iter()
                .filter(|k| k.status != KeyStatus::Pending)
                .map(key_view)
                .collect()
        }),
    };
    Ok(json_response(StatusCode::OK, &body))
}
