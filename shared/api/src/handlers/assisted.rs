//! Server-assisted crypto for thin clients that cannot run RSA themselves. The trust cost is documented
//! (docs/security.md): the server sees this request's plaintext (encrypt) or private key (decrypt) in memory,
//! for this request only; nothing is stored or logged, and the buffers this code owns are zeroized when the
//! request ends. Off unless `SERVER_ASSISTED_CRYPTO=on` (which also covers `generate-keys`).

use e2ee_protocol::ErrorCode;
use std::sync::Arc;

use e2ee_crypto::{
    Envelope, PrivateKey, PublicKey, Recipient, SealParams, conversation_recipients,
    random_message_id,
};
use e2ee_protocol::{DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse};
use lambda_http::Request;
use lambda_http::http::StatusCode;
use zeroize::Zeroizing;

use super::{HandlerResult, SignatureUse, active_key_record, require_user, signing_key};
use crate::error::{ApiError, crypto_error};
use crate::http::{json_response, secret_json_body};
use crate::state::AppState;

/// `404 server_assisted_crypto_disabled` unless the operator turned these routes on.
pub(crate) fn ensure_enabled(state: &AppState) -> Result<(), ApiError> {
    if state.server_assisted_crypto {
        Ok(())
    } else {
        Err(ApiError::not_found(
            ErrorCode::ServerAssistedCryptoDisabled,
            "server-assisted encryption is disabled on this deployment; encrypt and decrypt on the device",
        ))
    }
}

/// A private key PEM from a request body: unencrypted PKCS#8 only, parsed off the async threads.
async fn parse_private_key(pem: Zeroizing<String>) -> Result<PrivateKey, ApiError> {
    if pem.len() > 8192 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidKey,
            "privateKey is too long for an RSA-4096 PKCS#8 PEM",
        ));
    }
    if pem.contains("ENCRYPTED") {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidKey,
            "send an unencrypted PKCS#8 key, or better: decrypt on the device",
        ));
    }
    tokio::task::spawn_blocking(move || PrivateKey::from_pkcs8_pem(&pem))
        .await
        .map_err(ApiError::internal)?
        .map_err(crypto_error)
}

/// The user's active key, parsed; `404 no_active_key` without one.
async fn active_key(state: &AppState, user_id: &str, whose: &str) -> Result<PublicKey, ApiError> {
    let record = active_key_record(state, user_id).await?.ok_or_else(|| {
        ApiError::not_found(ErrorCode::NoActiveKey, format!("{whose} no active key"))
    })?;
    PublicKey::from_spki_pem(&record.public_key_pem).map_err(ApiError::internal)
}

/// `POST /api/crypto/encrypt`: seals `message` for the receiver's and the caller's active keys.
pub async fn encrypt(state: Arc<AppState>, mut request: Request) -> HandlerResult {
    ensure_enabled(&state)?;
    let caller = state.tokens.authenticate(&request)?;
    let body: EncryptRequest = secret_json_body(&mut request)?;
    let message = body.message;
    let private_key = body.private_key;
    require_user(&state, &body.receiver_id, ErrorCode::ReceiverNotFound).await?;
    let receiver_key = active_key(&state, &body.receiver_id, "the receiver has").await?;
    let caller_key = active_key(&state, &caller, "you have").await?;
    let signer = match (body.sign, private_key) {
        (false, None) => None,
        (false, Some(_)) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "privateKey is only accepted with sign: true",
            ));
        }
        (true, None) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "sign: true needs your privateKey; the server holds none",
            ));
        }
        (true, Some(pem)) => {
            let key = parse_private_key(pem).await?;
            if key.key_id() != caller_key.key_id() {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidKey,
                    "privateKey is not your active key",
                ));
            }
            Some(key)
        }
    };
    let client_message_id = random_message_id();
    let receiver_id = body.receiver_id;
    let envelope = tokio::task::spawn_blocking(move || {
        let recipients = conversation_recipients(
            Recipient {
                user_id: &receiver_id,
                key: &receiver_key,
            },
            Recipient {
                user_id: &caller,
                key: &caller_key,
            },
        );
        e2ee_crypto::seal(
            message.as_bytes(),
            &SealParams {
                sender_id: &caller,
                message_id: &client_message_id,
                created_at: now_millis(),
                recipients: &recipients,
                sign_with: signer.as_ref(),
            },
        )
        .map(|envelope| (envelope, client_message_id.clone()))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(crypto_error)?;
    Ok(json_response(
        StatusCode::OK,
        &EncryptResponse {
            envelope: envelope.0.to_value(),
            client_message_id: envelope.1,
        },
    ))
}

/// `POST /api/crypto/decrypt`: opens an envelope with a private key used for this request only. When the
/// envelope is signed, the signature is checked against the sender's registered key with that id.
pub async fn decrypt(state: Arc<AppState>, mut request: Request) -> HandlerResult {
    ensure_enabled(&state)?;
    state.tokens.authenticate(&request)?;
    let body: DecryptRequest = secret_json_body(&mut request)?;
    let private_pem = body.private_key;
    let envelope = Envelope::from_json(body.envelope.get().as_bytes()).map_err(crypto_error)?;
    let sender_key = match envelope.signature() {
        Some(signature) => Some(
            signing_key(
                &state,
                envelope.sender_id(),
                &signature.key_id,
                envelope.created_at(),
                SignatureUse::Reading,
            )
            .await?,
        ),
        None => None,
    };
    let key = parse_private_key(private_pem).await?;
    let opened = tokio::task::spawn_blocking(move || {
        e2ee_crypto::open(&envelope, &key, sender_key.as_ref())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(crypto_error)?;
    let (message, message_base64) = match std::str::from_utf8(&opened.plaintext) {
        Ok(text) => (Some(Zeroizing::new(text.to_owned())), None),
        Err(_) => {
            use base64::Engine;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(opened.plaintext.as_slice());
            (None, Some(Zeroizing::new(encoded)))
        }
    };
    let header = serde_json::to_value(&opened.header).map_err(ApiError::internal)?;
    let body = DecryptResponse {
        message,
        message_base64,
        header,
        signature_verified: opened.signature_verified,
    };
    Ok(json_response(StatusCode::OK, &body))
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
