//! The client core ([`e2ee_client_core`]) for JavaScript, through wasm-bindgen: the browser SDK is a driver
//! around these objects (it fetches, stores the state blob in IndexedDB, signs with WebCrypto), and the
//! protocol's decisions are the same code the Rust SDK and the `e2ee` CLI run.
//!
//! - [`Trust`]: this device's contacts (pinned identity keys, rotations, key changes) and the devices it
//!   trusts from the listings the driver fetched; the decision functions the client vectors replay.
//! - [`MlsDevice`]: this device's MLS state (one blob to encrypt and save) and every group operation.
//!
//! Values cross as JSON strings in the API's own field names (camelCase), bytes as `Uint8Array` or base64 as in
//! the API. Errors are JavaScript `Error`s with a `code` (see [`ErrorCode`]).

mod device;
mod trust;

pub use device::MlsDevice;
pub use trust::Trust;

use wasm_bindgen::JsValue;

/// The `code` of an error thrown to JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// A malformed argument (JSON, base64, an id).
    InvalidInput,
    /// This device holds no such group.
    NotInGroup,
    /// A state blob that does not load.
    Damaged,
    /// A peer's key package or device that this device does not trust: nothing was changed.
    Untrusted,
    /// openmls failed on this device's own state.
    Mls,
    /// A call out of order (e.g. finishing a commit that was not read).
    State,
}

impl ErrorCode {
    fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotInGroup => "not_in_group",
            ErrorCode::Damaged => "damaged_state",
            ErrorCode::Untrusted => "untrusted",
            ErrorCode::Mls => "mls",
            ErrorCode::State => "out_of_order",
        }
    }
}

/// A JavaScript `Error` named `E2eeCoreError` with `code`.
pub(crate) fn error(code: ErrorCode, message: impl std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&message.to_string());
    error.set_name("E2eeCoreError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.as_str().into());
    error.into()
}

impl From<e2ee_client_core::CoreError> for Error {
    fn from(value: e2ee_client_core::CoreError) -> Self {
        use e2ee_client_core::CoreError;
        let code = match &value {
            CoreError::Input(_) => ErrorCode::InvalidInput,
            CoreError::NotInGroup(_) => ErrorCode::NotInGroup,
            CoreError::Damaged(_) => ErrorCode::Damaged,
            CoreError::Encode(_) | CoreError::Mls(_) => ErrorCode::Mls,
        };
        Error(code, value.to_string())
    }
}

/// An error on its way to JavaScript, where it becomes an `Error` with a `code` (kept apart from `JsValue` so
/// that `?` converts the core's errors).
#[derive(Debug)]
pub struct Error(ErrorCode, String);

impl From<Error> for JsValue {
    fn from(value: Error) -> Self {
        error(value.0, value.1)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn fail<T>(code: ErrorCode, message: impl std::fmt::Display) -> Result<T> {
    Err(Error(code, message.to_string()))
}

/// Parses a JSON argument.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).or_else(|e| fail(ErrorCode::InvalidInput, format!("{what}: {e}")))
}

/// Writes a JSON answer.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).or_else(|e| fail(ErrorCode::Mls, format!("cannot encode: {e}")))
}

/// A time from JavaScript (ms since the epoch, a `number`).
pub(crate) fn millis(ms: f64) -> Result<i64> {
    if ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 9.0e15 {
        // In range and integral: the conversion is exact.
        #[allow(clippy::cast_possible_truncation)]
        Ok(ms as i64)
    } else {
        fail(ErrorCode::InvalidInput, format!("not a time in ms: {ms}"))
    }
}
