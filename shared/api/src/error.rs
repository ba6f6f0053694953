//! The one error of the API: a status, a public code and a message (rendered as
//! `{"error":{"code":"...","message":"..."}}` by [`crate::response`]), and the two functions that map the
//! errors of the crates below into it, once each: [`store_error`], [`crypto_error`] and [`mls_error`].

use e2ee_crypto::CryptoError;
use e2ee_mls::{MlsError, MlsInput};
use e2ee_protocol::ErrorCode;
use e2ee_storage::StoreError;
use lambda_http::http::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
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
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
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
    pub fn too_many(code: ErrorCode, message: impl Into<String>, seconds: u64) -> Self {
        ApiError {
            retry_after: Some(seconds.max(1)),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, message)
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub fn not_found(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unprocessable(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// A server-side fault. The detail goes to the log only; the client sees a generic message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
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
        StoreError::UsernameTaken => ApiError::conflict(ErrorCode::UsernameTaken, "that username is taken"),
        StoreError::KeyRetired | StoreError::KeyRevoked => ApiError::conflict(
            ErrorCode::KeyRetired,
            "this key was retired or revoked and cannot be made active again",
        ),
        StoreError::KeyNotPending { .. } => ApiError::conflict(
            ErrorCode::Conflict,
            "the key is already registered with another status",
        ),
        StoreError::KeyNotFound => {
            ApiError::not_found(ErrorCode::KeyNotFound, "you have no key with this id")
        }
        StoreError::MessageNotFound => ApiError::not_found(ErrorCode::MessageNotFound, "no such message"),
        StoreError::NotTheReceiver => ApiError::forbidden(
            ErrorCode::NotTheReceiver,
            "only the receiver can mark a message read",
        ),
        StoreError::MessageIdReused => ApiError::conflict(
            ErrorCode::MessageIdReused,
            "this client message id was already used for a different envelope",
        ),
        StoreError::DeviceExists => ApiError::conflict(
            ErrorCode::DeviceExists,
            "a device with this id is already registered with another key or certificate",
        ),
        StoreError::DeviceNotFound => ApiError::not_found(ErrorCode::DeviceNotFound, "no such device"),
        StoreError::DeviceRevoked => ApiError::conflict(
            ErrorCode::DeviceRevoked,
            "the device was revoked; register a new device id",
        ),
        StoreError::DeviceNotPending => ApiError::conflict(
            ErrorCode::DeviceNotPending,
            "the device is already approved with another certificate",
        ),
        StoreError::DevicePending => ApiError::conflict(
            ErrorCode::DevicePending,
            "the device is waiting for approval by another device of this user",
        ),
        StoreError::GroupExists => {
            ApiError::conflict(ErrorCode::GroupExists, "a group with this id exists")
        }
        StoreError::GroupNotFound => ApiError::not_found(ErrorCode::GroupNotFound, "no such group"),
        StoreError::EpochTaken { current_epoch, seq } => ApiError::conflict(
            ErrorCode::EpochTaken,
            format!(
                "another commit won this epoch: the group is at epoch {current_epoch}; fetch the log from seq {seq}"
            ),
        )
        .at_group_position(current_epoch, Some(seq)),
        StoreError::KeyPackageReused => ApiError::conflict(
            ErrorCode::KeyPackageReused,
            "a key package of this commit was already used by another commit; claim a new one",
        ),
        StoreError::KeyPackageNotClaimed => ApiError::unprocessable(
            ErrorCode::KeyPackageNotClaimed,
            "a key package of this commit was never handed to the committing user by a claim",
        ),
        StoreError::StaleEpoch { current_epoch } => ApiError::conflict(
            ErrorCode::StaleEpoch,
            format!("the group is at epoch {current_epoch}; process its commits and send again"),
        )
        .at_group_position(current_epoch, None),
        StoreError::Invalid { field, reason } => {
            let code = match field {
                "username" => ErrorCode::InvalidUsername,
                "display_name" => ErrorCode::InvalidDisplayName,
                _ => ErrorCode::InvalidRequest,
            };
            ApiError::bad_request(code, reason)
        }
        StoreError::Unavailable(detail) => {
            tracing::warn!(detail = %detail, "store unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::StoreUnavailable,
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
        CryptoError::InvalidEnvelope(reason) => {
            ApiError::unprocessable(ErrorCode::InvalidEnvelope, reason)
        }
        CryptoError::NotARecipient => ApiError::unprocessable(
            ErrorCode::NotARecipient,
            "the key is not a recipient of this envelope",
        ),
        CryptoError::BadSignature => ApiError::unprocessable(
            ErrorCode::BadSignature,
            "the signature is missing or does not verify",
        ),
        CryptoError::CannotDecrypt => {
            ApiError::unprocessable(ErrorCode::CannotDecrypt, "cannot decrypt")
        }
        CryptoError::PlaintextTooLarge { max } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::MessageTooLarge,
            format!("the message is larger than {max} bytes"),
        ),
        CryptoError::UnsupportedKeySize(_)
        | CryptoError::UnsupportedExponent
        | CryptoError::MalformedKey(_)
        | CryptoError::WrongPassphrase => {
            ApiError::bad_request(ErrorCode::InvalidKey, error.to_string())
        }
        CryptoError::InvalidInput(reason) => {
            ApiError::bad_request(ErrorCode::InvalidRequest, reason)
        }
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
                MlsInput::KeyPackage => ErrorCode::InvalidKeyPackage,
                MlsInput::GroupInfo | MlsInput::RatchetTree => ErrorCode::InvalidGroupInfo,
                MlsInput::Commit => ErrorCode::InvalidCommit,
                MlsInput::Welcome => ErrorCode::InvalidWelcome,
                MlsInput::ApplicationMessage => ErrorCode::InvalidApplicationMessage,
            };
            ApiError::bad_request(code, message)
        }
        MlsError::UnsupportedCiphersuite(_) => {
            ApiError::bad_request(ErrorCode::UnsupportedCiphersuite, message)
        }
        MlsError::InvalidKeyPackage(_)
        | MlsError::Lifetime(_)
        | MlsError::InvalidCredential(_)
        | MlsError::WrongIdentity { .. } => {
            ApiError::unprocessable(ErrorCode::InvalidKeyPackage, message)
        }
        MlsError::InvalidGroup(_) => ApiError::unprocessable(ErrorCode::InvalidGroup, message),
        MlsError::WrongEpoch { .. } => ApiError::conflict(ErrorCode::WrongEpoch, message),
        MlsError::InvalidCommit(_) => ApiError::unprocessable(ErrorCode::InvalidCommit, message),
        MlsError::WelcomeMismatch(_) => ApiError::unprocessable(ErrorCode::InvalidWelcome, message),
        MlsError::InvalidGroupInfo(_) => {
            ApiError::unprocessable(ErrorCode::InvalidGroupInfo, message)
        }
        MlsError::InvalidApplicationMessage(_) => {
            ApiError::unprocessable(ErrorCode::InvalidApplicationMessage, message)
        }
        MlsError::BadSignature => ApiError::unprocessable(ErrorCode::InvalidProof, message),
        MlsError::Internal => ApiError::internal(message),
    }
}
