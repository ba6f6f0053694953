//! The one error of the API: a status, a public code and a message (rendered as
//! `{"error":{"code":"...","message":"..."}}` by [`crate::response`]), and the two functions that map the
//! errors of the crates below into it, once each: [`store_error`], [`crypto_error`] and [`mls_error`].

use e2ee_crypto::CryptoError;
use e2ee_mls::{MlsError, MlsInput};
use e2ee_storage::StoreError;
use lambda_http::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<u64>,
    /// Where a group is, for the epoch conflicts (409s) that a client resolves by catching up.
    pub group_position: Option<GroupPosition>,
}

/// A group's current epoch and, when known, the log position of the row that started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupPosition {
    pub epoch: u64,
    pub seq: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            group_position: None,
        }
    }

    /// The same error, naming where the group is.
    pub fn at_group_position(self, epoch: u64, seq: Option<u64>) -> Self {
        ApiError {
            group_position: Some(GroupPosition { epoch, seq }),
            ..self
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
}

/// `?` on a store call maps its error with [`store_error`].
impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        store_error(error)
    }
}

/// Maps every store outcome to its status and public code, in one place (docs/openapi.yaml lists the codes).
/// Handlers do not match on `StoreError`; each outcome means one thing wherever it comes from. Exhaustive on
/// purpose (as is `StoreError`), so a new variant must be placed here.
pub fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::UsernameTaken => ApiError::conflict("username_taken", "that username is taken"),
        StoreError::KeyRetired | StoreError::KeyRevoked => ApiError::conflict(
            "key_retired",
            "this key was retired or revoked and cannot be made active again",
        ),
        StoreError::KeyNotPending { .. } => ApiError::conflict(
            "conflict",
            "the key is already registered with another status",
        ),
        StoreError::KeyNotFound => {
            ApiError::not_found("key_not_found", "you have no key with this id")
        }
        StoreError::MessageNotFound => ApiError::not_found("message_not_found", "no such message"),
        StoreError::NotTheReceiver => ApiError::forbidden(
            "not_the_receiver",
            "only the receiver can mark a message read",
        ),
        StoreError::MessageIdReused => ApiError::conflict(
            "message_id_reused",
            "this client message id was already used for a different envelope",
        ),
        StoreError::DeviceExists => ApiError::conflict(
            "device_exists",
            "a device with this id is already registered with another key or certificate",
        ),
        StoreError::DeviceNotFound => ApiError::not_found("device_not_found", "no such device"),
        StoreError::DeviceRevoked => ApiError::conflict(
            "device_revoked",
            "the device was revoked; register a new device id",
        ),
        StoreError::DeviceNotPending => ApiError::conflict(
            "device_not_pending",
            "the device is already approved with another certificate",
        ),
        StoreError::DevicePending => ApiError::conflict(
            "device_pending",
            "the device is waiting for approval by another device of this user",
        ),
        StoreError::GroupExists => {
            ApiError::conflict("group_exists", "a group with this id exists")
        }
        StoreError::GroupNotFound => ApiError::not_found("group_not_found", "no such group"),
        StoreError::EpochTaken { current_epoch, seq } => ApiError::conflict(
            "epoch_taken",
            format!(
                "another commit won this epoch: the group is at epoch {current_epoch}; fetch the log from seq {seq}"
            ),
        )
        .at_group_position(current_epoch, Some(seq)),
        StoreError::KeyPackageReused => ApiError::conflict(
            "key_package_reused",
            "a key package of this commit was already used by another commit; claim a new one",
        ),
        StoreError::KeyPackageNotClaimed => ApiError::unprocessable(
            "key_package_not_claimed",
            "a key package of this commit was never handed to the committing user by a claim",
        ),
        StoreError::StaleEpoch { current_epoch } => ApiError::conflict(
            "stale_epoch",
            format!("the group is at epoch {current_epoch}; process its commits and send again"),
        )
        .at_group_position(current_epoch, None),
        StoreError::Invalid { field, reason } => {
            let code = match field {
                "username" => "invalid_username",
                "display_name" => "invalid_display_name",
                _ => "invalid_request",
            };
            ApiError::bad_request(code, reason)
        }
        StoreError::Unavailable(detail) => {
            tracing::warn!(detail = %detail, "store unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the data store is unavailable; retry later",
            )
        }
        StoreError::Internal(detail) => ApiError::internal(detail),
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

/// Maps failures on client-supplied MLS messages. Bytes that are not the expected message are 400, named after
/// the object the field is for (`invalid_key_package`, `invalid_group_info`, `invalid_commit`, …), or
/// `unsupported_ciphersuite`; a well-formed
/// message that does not validate is 422; a commit for another epoch is 409 `wrong_epoch`. Exhaustive on purpose,
/// so a new variant must be placed here.
pub fn mls_error(error: MlsError) -> ApiError {
    let message = error.to_string();
    match error {
        // Bytes that are not the MLS object the field is for: a bad request, named after the field's object.
        MlsError::Malformed { input, .. } => {
            let code = match input {
                MlsInput::KeyPackage => "invalid_key_package",
                MlsInput::GroupInfo | MlsInput::RatchetTree => "invalid_group_info",
                MlsInput::Commit => "invalid_commit",
                MlsInput::Welcome => "invalid_welcome",
                MlsInput::ApplicationMessage => "invalid_application_message",
            };
            ApiError::bad_request(code, message)
        }
        MlsError::UnsupportedCiphersuite(_) => {
            ApiError::bad_request("unsupported_ciphersuite", message)
        }
        MlsError::InvalidKeyPackage(_)
        | MlsError::Lifetime(_)
        | MlsError::InvalidCredential(_)
        | MlsError::WrongIdentity { .. } => ApiError::unprocessable("invalid_key_package", message),
        MlsError::InvalidGroup(_) => ApiError::unprocessable("invalid_group", message),
        MlsError::WrongEpoch { .. } => ApiError::conflict("wrong_epoch", message),
        MlsError::InvalidCommit(_) => ApiError::unprocessable("invalid_commit", message),
        MlsError::WelcomeMismatch(_) => ApiError::unprocessable("invalid_welcome", message),
        MlsError::InvalidGroupInfo(_) => ApiError::unprocessable("invalid_group_info", message),
        MlsError::InvalidApplicationMessage(_) => {
            ApiError::unprocessable("invalid_application_message", message)
        }
        MlsError::BadSignature => ApiError::unprocessable("invalid_proof", message),
        MlsError::Internal => ApiError::internal(message),
    }
}
