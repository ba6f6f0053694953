//! Error answers of the server, and transport errors, as [`ClientError`]s with one-line messages.

use e2ee_protocol::{ErrorBody, ErrorCode};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::ClientError;

/// Maps an error response to [`ClientError::Api`]; a body that is not the API's error shape (a proxy's
/// HTML page, an empty body) still gives the status and a generic code. A 429 becomes
/// [`ClientError::RateLimited`] with its `Retry-After`.
pub(super) fn api_error_with_headers(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ClientError {
    let error = api_error_from_body(status, body);
    match error {
        ClientError::Api { code, message, .. } if status == StatusCode::TOO_MANY_REQUESTS => {
            ClientError::RateLimited {
                code: if code.as_str().starts_with("http_") {
                    ErrorCode::from_name("too_many_requests")
                } else {
                    code
                },
                message,
                retry_after: retry_after(headers),
            }
        }
        other => other,
    }
}

/// `Retry-After` in seconds (the API sends seconds; an HTTP date is not used by it and is ignored).
fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn api_error_from_body(status: StatusCode, body: &[u8]) -> ClientError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => ClientError::Api {
            status: status.as_u16(),
            code: error.code,
            message: one_line(&error.message),
        },
        Err(_) => ClientError::Api {
            status: status.as_u16(),
            code: ErrorCode::Other(format!("http_{}", status.as_u16())),
            message: format!(
                "the server answered {}",
                status.canonical_reason().unwrap_or("with an error")
            ),
        },
    }
}

fn one_line(text: &str) -> String {
    crate::text::sanitize_line(text).chars().take(500).collect()
}

/// An error and its sources, joined on one line (a cause already in the text is not repeated).
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    one_line(&text)
}
