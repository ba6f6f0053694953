use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use zeroize::Zeroizing;

use e2ee_protocol::ErrorCode;

use super::url::segment;
use super::*;

/// An error response without headers, mapped.
fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    api_error_with_headers(status, &HeaderMap::new(), body)
}

#[test]
fn error_bodies_map_to_api_errors() {
    let body = br#"{"error":{"code":"stale_recipient_key","message":"fetch it again"}}"#;
    match api_error(StatusCode::CONFLICT, body) {
        ClientError::Api {
            status,
            code,
            message,
        } => {
            assert_eq!(status, 409);
            assert_eq!(code, ErrorCode::StaleRecipientKey);
            assert_eq!(message, "fetch it again");
        }
        other => panic!("{other:?}"),
    }
    match api_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>") {
        ClientError::Api { status, code, .. } => {
            assert_eq!(status, 502);
            assert_eq!(code, ErrorCode::Other("http_502".into()));
        }
        other => panic!("{other:?}"),
    }
    // Multi-line server messages become one line.
    let body = br#"{"error":{"code":"x","message":"a\nb"}}"#;
    assert!(
        !api_error(StatusCode::BAD_REQUEST, body)
            .to_string()
            .contains('\n')
    );
}

#[test]
fn base_urls_are_checked_and_normalized() {
    assert_eq!(
        normalize_base_url("http://127.0.0.1:9000/").unwrap(),
        "http://127.0.0.1:9000"
    );
    assert_eq!(
        normalize_base_url("https://api.example.test/prod").unwrap(),
        "https://api.example.test/prod"
    );
    for good in [
        "http://localhost:9000",
        "http://LOCALHOST",
        "http://127.1.2.3:80",
        "http://[::1]:9000",
        "https://203.0.113.7",
    ] {
        assert!(normalize_base_url(good).is_ok(), "{good}");
    }
    for bad in [
        "ftp://x",
        "not a url",
        "http://u:p@host/",
        "http://host/?a=1",
        "https://host/#x",
    ] {
        assert!(
            matches!(normalize_base_url(bad), Err(ClientError::Usage(_))),
            "{bad}"
        );
    }
}

#[test]
fn plain_http_is_refused_beyond_this_machine() {
    for bad in [
        "http://api.example.test",
        "http://203.0.113.7:9000",
        "http://10.0.0.1",
        "http://[2001:db8::1]/",
        "http://localhost.example.test",
        "http://128.0.0.1",
    ] {
        let error = normalize_base_url(bad).unwrap_err();
        assert!(matches!(error, ClientError::Usage(_)), "{bad}");
        assert!(error.to_string().contains("https"), "{error}");
    }
    assert!(Client::new("http://api.example.test").is_err());
    assert!(Client::new("https://api.example.test").is_ok());
}

#[test]
fn too_many_requests_is_a_rate_limit_with_its_retry_after() {
    let body = br#"{"error":{"code":"too_many_attempts","message":"locked for a while"}}"#;
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::RETRY_AFTER,
        reqwest::header::HeaderValue::from_static("17"),
    );
    match api_error_with_headers(StatusCode::TOO_MANY_REQUESTS, &headers, body) {
        ClientError::RateLimited {
            code,
            message,
            retry_after,
        } => {
            assert_eq!(code, ErrorCode::TooManyAttempts);
            assert_eq!(message, "locked for a while");
            assert_eq!(retry_after, Some(17));
        }
        other => panic!("{other:?}"),
    }
    // Without the header, or with a body that is not ours: still a rate limit.
    match api_error(StatusCode::TOO_MANY_REQUESTS, b"slow down") {
        ClientError::RateLimited {
            code, retry_after, ..
        } => {
            assert_eq!(code.as_str(), "too_many_requests");
            assert_eq!(retry_after, None);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn server_messages_lose_bidi_and_control_characters() {
    let body = "{\"error\":{\"code\":\"x\",\"message\":\"a\\u202eb\\u0007c\"}}";
    let text = api_error(StatusCode::BAD_REQUEST, body.as_bytes()).to_string();
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    assert!(text.starts_with("ab c"), "{text:?}");
}

#[test]
fn path_segments_are_escaped() {
    assert_eq!(segment("u_abc-1.x~"), "u_abc-1.x~");
    assert_eq!(segment("a/b c"), "a%2Fb%20c");
    assert_eq!(segment("ünï"), "%C3%BCn%C3%AF");
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    // Bind and drop a listener to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let error = client.lookup_user("bob").await.unwrap_err();
    assert!(
        matches!(error, ClientError::Unreachable { .. }),
        "{error:?}"
    );
    assert_eq!(error.exit_code(), crate::error::exit::UNREACHABLE);
}

#[test]
fn debug_never_shows_the_token() {
    let mut client = Client::new("http://127.0.0.1:1").unwrap();
    client.set_token(Some(Zeroizing::new("secret-token-value".into())));
    assert!(!format!("{client:?}").contains("secret-token-value"));
}
