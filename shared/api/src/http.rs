//! Request parsing shared by every handler (responses are built in [`crate::response`]).

use e2ee_protocol::ErrorCode;
use lambda_http::http::StatusCode;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, RequestExt};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::ApiError;
/// Re-exported from [`crate::response`], where it lives, so `e2ee_api::http::json_response` keeps working.
pub use crate::response::json_response;

/// Largest request body accepted (2 MiB): an envelope of the maximum size plus its JSON wrapper.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Parses a JSON request body into `T` (whose serde attributes reject unknown fields).
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(request)?;
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "the request body must be application/json",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidJson, json_error_message(&e)))
}

/// Like [`json_body`], for bodies that carry a private key or a plaintext: the body is taken out of the
/// request and its buffer zeroized as soon as it is parsed, whatever the outcome. (`T` should hold the
/// secret fields in `Zeroizing` types, so they are wiped when the handler is done with them.)
pub fn secret_json_body<T: DeserializeOwned>(request: &mut Request) -> Result<T, ApiError> {
    let parsed = json_body(request);
    match std::mem::replace(request.body_mut(), Body::Empty) {
        Body::Text(text) => drop(Zeroizing::new(text)),
        Body::Binary(bytes) => drop(Zeroizing::new(bytes)),
        _ => {}
    }
    parsed
}

/// Like [`json_body`], but an absent body means `T::default()`.
pub fn optional_json_body<T: DeserializeOwned + Default>(request: &Request) -> Result<T, ApiError> {
    if body_bytes(request)?.is_empty() {
        Ok(T::default())
    } else {
        json_body(request)
    }
}

fn body_bytes(request: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::BodyTooLarge,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// serde_json's message names the field and position, never the value.
fn json_error_message(error: &serde_json::Error) -> String {
    format!("invalid JSON body: {error}")
}

/// A path parameter: from the API Gateway event, or, where the route has none (a function URL, a bare
/// invocation), the path segment that follows `prefix`.
pub fn path_param(request: &Request, name: &str, prefix: &str) -> Result<String, ApiError> {
    let from_event = request
        .path_parameters_ref()
        .and_then(|params| params.first(name))
        .map(str::to_owned);
    let value = match from_event {
        Some(value) => value,
        None => {
            let path = request.uri().path();
            let rest = path
                .find(prefix)
                .map(|at| &path[at + prefix.len()..])
                .unwrap_or("");
            let segment = rest.trim_start_matches('/').split('/').next().unwrap_or("");
            percent_decode_str(segment)
                .decode_utf8()
                .map_err(|_| {
                    ApiError::bad_request(
                        ErrorCode::InvalidPath,
                        format!("{name} is not valid UTF-8"),
                    )
                })?
                .into_owned()
        }
    };
    if value.is_empty() || value.len() > 256 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidPath,
            format!("{name} is missing or too long"),
        ));
    }
    Ok(value)
}

/// A single query-string parameter, if present.
pub fn query_param(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use lambda_http::http::HeaderValue;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Secret {
        #[allow(dead_code)]
        secret: Zeroizing<String>,
    }

    fn request(body: &str) -> Request {
        let mut request = Request::new(Body::Text(body.to_owned()));
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        request
    }

    #[test]
    fn secret_bodies_are_taken_out_of_the_request_whatever_the_outcome() {
        let mut good = request(r#"{"secret":"hunter2"}"#);
        assert!(secret_json_body::<Secret>(&mut good).is_ok());
        assert!(matches!(good.body(), Body::Empty));
        let mut bad = request(r#"{"secret":"hunter2"#);
        assert!(secret_json_body::<Secret>(&mut bad).is_err());
        assert!(matches!(bad.body(), Body::Empty));
    }
}
