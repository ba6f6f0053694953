//! The one error shape of the API: `{"error":{"code":"...","message":"..."}}` with the right status.

use e2ee_crypto::CryptoError;
use e2ee_protocol::{ErrorBody, ErrorDetail};
use e2ee_storage::StoreError;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `429` with `Retry-After: seconds` (at least 1).
    pub fn too_many(code: &'static str, message: impl Into<String>, seconds: u64) -> Self {
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// A server-side fault. The detail goes to the log only; the client sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = crate::http::json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                lambda_http::http::header::RETRY_AFTER,
                lambda_http::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::not_found("not_found", "not found"),
            StoreError::Conflict(message) => Self::conflict("conflict", message),
            StoreError::Forbidden => {
                Self::forbidden("forbidden", "this resource belongs to someone else")
            }
            StoreError::BadRequest(message) => Self::bad_request("invalid_request", message),
            StoreError::Unavailable(detail) => {
                tracing::warn!(detail = %detail, "store unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the data store is unavailable; retry later",
                )
            }
            StoreError::Internal(detail) => Self::internal(detail),
        }
    }
}

/// Maps failures on client-supplied envelopes and keys: envelope problems are 422s with distinct public codes,
/// unusable keys 400 `invalid_key`. Exhaustive on purpose, so a new error variant must be placed here.
pub fn crypto_error(error: CryptoError) -> ApiError {
    match error {
        CryptoError::InvalidEnvelope(reason) => ApiError::unprocessable("invalid_envelope", reason),
        CryptoError::NotARecipient => ApiError::unprocessable(
            "not_a_recipient",
            "the key is not a recipient of this envelope",
        ),
        CryptoError::BadSignature => ApiError::unprocessable(
            "bad_signature",
            "the signature is missing or does not verify",
        ),
        CryptoError::CannotDecrypt => ApiError::unprocessable("cannot_decrypt", "cannot decrypt"),
        CryptoError::PlaintextTooLarge { max } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "message_too_large",
            format!("the message is larger than {max} bytes"),
        ),
        CryptoError::UnsupportedKeySize(_)
        | CryptoError::UnsupportedExponent
        | CryptoError::MalformedKey(_)
        | CryptoError::WrongPassphrase => ApiError::bad_request("invalid_key", error.to_string()),
        CryptoError::InvalidInput(reason) => ApiError::bad_request("invalid_request", reason),
        CryptoError::Internal => ApiError::internal("cryptographic failure"),
    }
}
