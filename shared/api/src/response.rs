//! Building responses: a JSON body, and an [`ApiError`] rendered as `{"error":{"code":"...","message":"..."}}`
//! with its status (and `Retry-After` for 429s).

use e2ee_protocol::{ErrorBody, ErrorDetail};
use lambda_http::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::error::ApiError;

/// A JSON response. Every response is private to its caller, so none may be cached.
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response<Body> {
    let body = serde_json::to_string(body).unwrap_or_else(|_| "{}".to_owned());
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl ApiError {
    /// The error's response: its status, the JSON error body, and `Retry-After` when it has one.
    pub fn into_response(self) -> Response<Body> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                current_epoch: self.group_position.map(|position| position.epoch),
                seq: self.group_position.and_then(|position| position.seq),
            },
        };
        let mut response = json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_as_the_json_error_shape_with_retry_after() {
        let response = ApiError::too_many(e2ee_protocol::ErrorCode::QuotaExceeded, "slow down", 7)
            .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let body: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        assert_eq!(
            body,
            serde_json::json!({"error": {"code": "quota_exceeded", "message": "slow down"}})
        );
    }
}
