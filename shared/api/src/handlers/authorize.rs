//! The second factor of the operations a bearer token alone must not allow (docs/security.md): changing keys
//! and revoking devices. Either a signature by the user's **active** identity key over the operation's
//! statement, or the account password, checked like a login and counted by the login throttle.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use e2ee_crypto::PublicKey;
use e2ee_protocol::ErrorCode;
use e2ee_protocol::KeyAuthorization;
use lambda_http::Request;
use zeroize::Zeroizing;

use super::{active_key_record, require_user};
use crate::error::ApiError;
use crate::state::AppState;
use crate::throttle::PasswordCounters;

/// What the request offered: at most one of the two is allowed.
pub(super) struct Factors {
    pub authorization: Option<KeyAuthorization>,
    pub password: Option<Zeroizing<String>>,
}

/// Base64 of an RSA signature (at most 512 bytes), or `400 invalid_signature_encoding`.
pub(super) fn signature_bytes(text: &str) -> Result<Vec<u8>, ApiError> {
    if text.len() > 700 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidSignatureEncoding,
            "a signature is at most 512 bytes",
        ));
    }
    STANDARD.decode(text).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidSignatureEncoding,
            "signatures are standard base64",
        )
    })
}

/// Checks the second factor of `user_id`'s operation `what` (for messages, e.g. "revoking a device"):
/// `authorization` must name the user's active key and `verify` its signature under that key; or `password`
/// must be the account password. Neither: `403 authorization_required`; both: `400 invalid_request`; a wrong
/// one: `403 authorization_failed` (or `429 too_many_attempts` while the login throttle locks the account).
pub(super) async fn second_factor(
    state: &AppState,
    request: &Request,
    user_id: &str,
    given: Factors,
    what: &str,
    verify: impl Fn(&PublicKey, &[u8]) -> bool,
) -> Result<(), ApiError> {
    let failed = || {
        ApiError::forbidden(
            ErrorCode::AuthorizationFailed,
            "the authorization signature or password is not valid",
        )
    };
    match (given.authorization, given.password) {
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "give either authorization or password, not both",
        )),
        (None, None) => Err(ApiError::forbidden(
            ErrorCode::AuthorizationRequired,
            format!("{what} needs a signature by your active key (authorization) or your password"),
        )),
        (Some(authorization), None) => {
            let signature = signature_bytes(&authorization.signature)?;
            let active = active_key_record(state, user_id)
                .await?
                .filter(|k| k.key_id == authorization.key_id)
                .ok_or_else(failed)?;
            let key =
                PublicKey::from_spki_pem(&active.public_key_pem).map_err(ApiError::internal)?;
            if verify(&key, &signature) {
                Ok(())
            } else {
                Err(failed())
            }
        }
        (None, Some(password)) => {
            let user = require_user(state, user_id, ErrorCode::UserNotFound).await?;
            let counters = PasswordCounters::new(request, &user.username);
            if counters
                .verify_password(state, &password, Some(user.password_hash))
                .await?
            {
                Ok(())
            } else {
                Err(failed())
            }
        }
    }
}
