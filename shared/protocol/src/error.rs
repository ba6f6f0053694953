//! The error body every failing route answers with, and its public codes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Every error response: `{"error":{"code":"...","message":"..."}}`. An epoch conflict on a group (409
/// `epoch_taken`, `wrong_epoch`, `stale_epoch`) adds where the group is: `currentEpoch`, and `seq` (the log position
/// of the row that started it) when known, so a client fetches the log from there and retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Declares [`ErrorCode`] once: each variant beside its wire name, so the name, the list and the parser cannot
/// disagree (scripts/check_error_contract.py reads the `Variant = "name"` lines to check docs/openapi.yaml).
macro_rules! error_codes {
    ($($variant:ident = $name:literal,)*) => {
        /// A public error code (`error.code`), serialized as its snake_case name. Clients match on these
        /// instead of strings. A code this version does not know (a newer server's) is kept as
        /// [`ErrorCode::Other`] rather than failing the whole answer; equality and hashing go by the name, so
        /// `Other("epoch_taken")` equals [`ErrorCode::EpochTaken`].
        #[derive(Debug, Clone)]
        pub enum ErrorCode {
            $($variant,)*
            /// A code not in this list, as the server sent it.
            Other(String),
        }

        impl ErrorCode {
            /// Every code the server answers with, in docs order (alphabetical).
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The wire name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Other(name) => name,
                }
            }

            /// The code named `name`: a known variant, or [`ErrorCode::Other`].
            pub fn from_name(name: &str) -> Self {
                match name {
                    $($name => ErrorCode::$variant,)*
                    other => ErrorCode::Other(other.to_owned()),
                }
            }
        }
    };
}

error_codes! {
    AuthorizationFailed = "authorization_failed",
    AuthorizationRequired = "authorization_required",
    BadSignature = "bad_signature",
    BodyTooLarge = "body_too_large",
    CannotDecrypt = "cannot_decrypt",
    ChatNotFound = "chat_not_found",
    Conflict = "conflict",
    DeviceExists = "device_exists",
    DeviceNotActive = "device_not_active",
    DeviceNotFound = "device_not_found",
    DeviceNotPending = "device_not_pending",
    DevicePending = "device_pending",
    DeviceRevoked = "device_revoked",
    DeviceTokenRequired = "device_token_required",
    EpochTaken = "epoch_taken",
    FieldTooLarge = "field_too_large",
    ForeignRecipient = "foreign_recipient",
    GroupExists = "group_exists",
    GroupNotFound = "group_not_found",
    Internal = "internal",
    InvalidAfter = "invalid_after",
    InvalidApplicationMessage = "invalid_application_message",
    InvalidBase64 = "invalid_base64",
    InvalidBits = "invalid_bits",
    InvalidCertificate = "invalid_certificate",
    InvalidCommit = "invalid_commit",
    InvalidCreatedAt = "invalid_created_at",
    InvalidCredentials = "invalid_credentials",
    InvalidCursor = "invalid_cursor",
    InvalidDisplayName = "invalid_display_name",
    InvalidEnvelope = "invalid_envelope",
    InvalidGroup = "invalid_group",
    InvalidGroupInfo = "invalid_group_info",
    InvalidJson = "invalid_json",
    InvalidKey = "invalid_key",
    InvalidKeyId = "invalid_key_id",
    InvalidKeyPackage = "invalid_key_package",
    InvalidLimit = "invalid_limit",
    InvalidOrder = "invalid_order",
    InvalidPath = "invalid_path",
    InvalidProof = "invalid_proof",
    InvalidQuery = "invalid_query",
    InvalidRequest = "invalid_request",
    InvalidSignatureEncoding = "invalid_signature_encoding",
    InvalidUsername = "invalid_username",
    InvalidWelcome = "invalid_welcome",
    KeyNotFound = "key_not_found",
    KeyPackageNotClaimed = "key_package_not_claimed",
    KeyPackageReused = "key_package_reused",
    KeyPackageSupplyFull = "key_package_supply_full",
    KeyRetired = "key_retired",
    MessageIdReused = "message_id_reused",
    MessageNotFound = "message_not_found",
    MessageTooLarge = "message_too_large",
    NoActiveKey = "no_active_key",
    NotAMember = "not_a_member",
    NotARecipient = "not_a_recipient",
    NotTheCommitter = "not_the_committer",
    NotTheReceiver = "not_the_receiver",
    NotYourInbox = "not_your_inbox",
    QuotaExceeded = "quota_exceeded",
    ReceiverNotFound = "receiver_not_found",
    ReceiverNotInEnvelope = "receiver_not_in_envelope",
    SenderMismatch = "sender_mismatch",
    ServerAssistedCryptoDisabled = "server_assisted_crypto_disabled",
    StaleEpoch = "stale_epoch",
    StaleRecipientKey = "stale_recipient_key",
    StaleStatement = "stale_statement",
    StoreUnavailable = "store_unavailable",
    TooManyAttempts = "too_many_attempts",
    TooManyDevices = "too_many_devices",
    TooManyPendingDevices = "too_many_pending_devices",
    Unauthorized = "unauthorized",
    UnknownDevice = "unknown_device",
    UnknownRecipientKey = "unknown_recipient_key",
    UnsupportedCiphersuite = "unsupported_ciphersuite",
    UnsupportedMediaType = "unsupported_media_type",
    UserNotFound = "user_not_found",
    UsernameTaken = "username_taken",
    WeakPassword = "weak_password",
    WelcomeTooLarge = "welcome_too_large",
    WrongEpoch = "wrong_epoch",
}

impl PartialEq for ErrorCode {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ErrorCode {}

impl std::hash::Hash for ErrorCode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ErrorCode {
    fn from(name: &str) -> Self {
        ErrorCode::from_name(name)
    }
}

impl From<String> for ErrorCode {
    fn from(name: String) -> Self {
        ErrorCode::from_name(&name)
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(ErrorCode::from_name(&name))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn codes_round_trip_as_their_snake_case_names() {
        for code in ErrorCode::KNOWN {
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert!(
                !matches!(back, ErrorCode::Other(_)),
                "{code} parses as itself"
            );
            assert_eq!(&back, code);
        }
        assert_eq!(ErrorCode::EpochTaken.as_str(), "epoch_taken");
    }

    #[test]
    fn names_are_unique_sorted_snake_case() {
        let names: Vec<&str> = ErrorCode::KNOWN.iter().map(ErrorCode::as_str).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for name in names {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
        }
    }

    #[test]
    fn an_unknown_code_from_a_newer_server_is_kept_not_refused() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":"brand_new_code","message":"m","currentEpoch":3}}"#,
        )
        .unwrap();
        assert_eq!(body.error.code, ErrorCode::Other("brand_new_code".into()));
        assert_eq!(body.error.current_epoch, Some(3));
        let again = serde_json::to_value(&body).unwrap();
        assert_eq!(again["error"]["code"], "brand_new_code");
        assert_eq!(
            ErrorCode::Other("epoch_taken".into()),
            ErrorCode::EpochTaken
        );
    }

    /// docs/openapi.yaml is the contract clients are written from: its `ErrorCode` schema lists exactly these
    /// codes (`x-known-codes`), and no error example there shows a code outside them.
    #[test]
    fn the_openapi_list_of_codes_is_this_enum() {
        let docs = include_str!("../../../docs/openapi.yaml");
        let list = docs.split("x-known-codes: [").nth(1).unwrap();
        let list = &list[..list.find(']').unwrap()];
        let documented: Vec<&str> = list.split(',').map(str::trim).collect();
        let known: Vec<&str> = ErrorCode::KNOWN.iter().map(ErrorCode::as_str).collect();
        assert_eq!(documented, known);
        for example in docs.split("{error: {code: ").skip(1) {
            let code = example.split(',').next().unwrap().trim();
            assert!(
                known.contains(&code),
                "docs/openapi.yaml shows the unknown code {code}"
            );
        }
    }
}
