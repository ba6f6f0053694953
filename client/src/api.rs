//! An async HTTP client for every endpoint of the API (docs/openapi.yaml), with the request and response
//! types of `e2ee-protocol` (the same types the server uses).
//!
//! This layer does no cryptography and keeps no state besides the session token: see [`crate::device`] for
//! the operations a user performs (seal, sign, verify, trust on first use).

use std::time::Duration;

use e2ee_crypto::Envelope;
use e2ee_protocol::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, ErrorBody,
    GenerateKeysRequest, GeneratedKeyResponse, KeyView, LoginRequest, LoginResponse,
    MarkReadResponse, MessagePage, PublicKeyResponse, RegisterKeyRequest, RegisterRequest,
    RegisterResponse, RevokeKeyRequest, SendRequest, SendResponse, UserResponse,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

/// Characters escaped in a path segment: everything but the RFC 3986 unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Largest page the API serves.
pub const MAX_PAGE: u32 = 100;

/// The most bytes of any response body this client reads (the API's pages are at most 4 MiB of envelopes,
/// and Lambda answers at most 6 MB); a larger answer is an error, not an allocation.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// `asc` (oldest first) or `desc` (newest first), for chat history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

impl Order {
    fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// The result of `POST /api/messages/send`: `created` is false when the server already had this envelope
/// (an idempotent retry, HTTP 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub response: SendResponse,
    pub created: bool,
}

/// The API client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<Zeroizing<String>>,
    /// Set when a saved session exists for another server: (profile, that server). The token is not sent
    /// here; a 401 then explains why.
    withheld: Option<(String, String)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Whether `host` is a loopback host: `localhost`, 127.0.0.0/8 or ::1 (plain `http` is allowed only there).
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks and normalizes a server base URL: `https` (or `http` to a loopback host only), no query or
/// fragment, no credentials, no trailing slash.
pub fn normalize_base_url(url: &str) -> Result<String> {
    let trimmed = url.trim();
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| ClientError::Usage(format!("invalid server URL {trimmed:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ClientError::Usage(format!(
            "invalid server URL {trimmed:?}: the scheme must be http or https"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(ClientError::Usage(format!(
            "invalid server URL {trimmed:?}: no query or fragment allowed"
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ClientError::Usage(
            "invalid server URL: credentials in the URL are not allowed".into(),
        ));
    }
    if parsed.scheme() == "http" && !is_loopback(&parsed) {
        return Err(ClientError::Usage(format!(
            "refusing {trimmed:?}: plain http is only allowed to this machine (localhost, 127.0.0.0/8, ::1); \
             use https"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

impl Client {
    /// A client for the API at `base_url` (e.g. `http://127.0.0.1:9000`; the `/api/...` paths are appended).
    pub fn new(base_url: &str) -> Result<Self> {
        let base = normalize_base_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("e2ee-client/", env!("CARGO_PKG_VERSION")))
            // The API never redirects; following one could leave https or the server.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        Ok(Client {
            http,
            base,
            token: None,
            withheld: None,
        })
    }

    /// Records that `profile` has a session for `profile_server`, which is not this client's server: no
    /// token is sent, and an authentication failure says so ([`ClientError::OtherServer`]).
    pub fn withhold_token(&mut self, profile: &str, profile_server: &str) {
        self.token = None;
        self.withheld = Some((profile.to_owned(), profile_server.to_owned()));
    }

    /// The normalized base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sets the bearer token sent with every authenticated request.
    pub fn set_token(&mut self, token: Option<Zeroizing<String>>) {
        if token.is_some() {
            self.withheld = None;
        }
        self.token = token;
    }

    pub fn with_token(mut self, token: Zeroizing<String>) -> Self {
        self.token = Some(token);
        self
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    async fn call<B, T>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
        authenticated: bool,
    ) -> Result<(StatusCode, T)>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(token) = self.token.as_ref().filter(|_| authenticated) {
            request = request.bearer_auth(token.as_str());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let mut response = request.send().await.map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let too_large = || {
            ClientError::InvalidResponse(format!(
                "{path}: the response is larger than {} MiB",
                MAX_RESPONSE_BYTES / (1024 * 1024)
            ))
        };
        if response
            .content_length()
            .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Zeroizing::new(Vec::new());
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(e))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        if status.is_success() {
            let value = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::InvalidResponse(format!("{path}: HTTP {status}: {e}")))?;
            Ok((status, value))
        } else if status == StatusCode::UNAUTHORIZED
            && authenticated
            && self.token.is_none()
            && let Some((profile, profile_server)) = &self.withheld
        {
            Err(ClientError::OtherServer {
                profile: profile.clone(),
                profile_server: profile_server.clone(),
                server: self.base.clone(),
            })
        } else {
            Err(api_error_with_headers(status, &headers, &bytes))
        }
    }

    fn transport_error(&self, error: reqwest::Error) -> ClientError {
        let unreachable = error.is_connect() || error.is_timeout();
        // Without the URL: the base is reported separately, and paths carry ids, never secrets.
        let reason = error_chain(&error.without_url());
        if unreachable {
            ClientError::Unreachable {
                url: self.base.clone(),
                reason,
            }
        } else {
            ClientError::Transport(reason)
        }
    }

    // ---- auth and directory ---------------------------------------------------------------------------

    /// `POST /api/auth/register`
    pub async fn register(&self, request: &RegisterRequest) -> Result<RegisterResponse> {
        self.call(
            Method::POST,
            "/api/auth/register",
            &[],
            Some(request),
            false,
        )
        .await
        .map(|(_, body)| body)
    }

    /// `POST /api/auth/login`. The token is returned, not stored: see [`Client::set_token`].
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse> {
        self.call(Method::POST, "/api/auth/login", &[], Some(request), false)
            .await
            .map(|(_, body)| body)
    }

    /// `GET /api/users/{username}`
    pub async fn lookup_user(&self, username: &str) -> Result<UserResponse> {
        let path = format!("/api/users/{}", segment(username));
        self.call::<(), _>(Method::GET, &path, &[], None, true)
            .await
            .map(|(_, body)| body)
    }

    // ---- keys -------------------------------------------------------------------------------------------

    /// `POST /api/crypto/register-key`: makes a public key the caller's active key (the previous one is
    /// retired). The request carries the proof of possession and the second factor (docs/security.md); build
    /// it with [`crate::keyops::register_request`].
    pub async fn register_key(&self, request: &RegisterKeyRequest) -> Result<KeyView> {
        self.call(
            Method::POST,
            "/api/crypto/register-key",
            &[],
            Some(request),
            true,
        )
        .await
        .map(|(_, body)| body)
    }

    /// `POST /api/crypto/revoke-key`: revokes one of the caller's keys (build the request with
    /// [`crate::keyops::revoke_request`]). Returns the key as it is now.
    pub async fn revoke_key(&self, request: &RevokeKeyRequest) -> Result<KeyView> {
        self.call(
            Method::POST,
            "/api/crypto/revoke-key",
            &[],
            Some(request),
            true,
        )
        .await
        .map(|(_, body)| body)
    }

    /// `GET /api/crypto/public-key/{userId}[?all=true]`: the active key; with `all`, every key (newest first,
    /// with its status).
    pub async fn public_key(&self, user_id: &str, all: bool) -> Result<PublicKeyResponse> {
        let path = format!("/api/crypto/public-key/{}", segment(user_id));
        let query = if all {
            vec![("all", "true".to_owned())]
        } else {
            Vec::new()
        };
        self.call::<(), _>(Method::GET, &path, &query, None, true)
            .await
            .map(|(_, body)| body)
    }

    // ---- messages ---------------------------------------------------------------------------------------

    /// `POST /api/messages/send` with an envelope sealed on this device.
    pub async fn send(&self, receiver_id: &str, envelope: &Envelope) -> Result<Sent> {
        let raw = RawValue::from_string(envelope.to_json())
            .map_err(|e| ClientError::InvalidResponse(format!("envelope JSON: {e}")))?;
        let body = SendRequest {
            receiver_id: receiver_id.to_owned(),
            envelope: raw,
        };
        let (status, response) = self
            .call(Method::POST, "/api/messages/send", &[], Some(&body), true)
            .await?;
        Ok(Sent {
            response,
            created: status == StatusCode::CREATED,
        })
    }

    /// `GET /api/messages/receive/{userId}`: the caller's unread messages, oldest first (not marked read).
    pub async fn receive(
        &self,
        user_id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<MessagePage> {
        let path = format!("/api/messages/receive/{}", segment(user_id));
        let query = page_query(limit, cursor, None);
        self.call::<(), _>(Method::GET, &path, &query, None, true)
            .await
            .map(|(_, body)| body)
    }

    /// `PATCH /api/messages/mark-read/{messageId}` (receiver only; idempotent).
    pub async fn mark_read(&self, message_id: &str) -> Result<MarkReadResponse> {
        let path = format!("/api/messages/mark-read/{}", segment(message_id));
        self.call::<(), _>(Method::PATCH, &path, &[], None, true)
            .await
            .map(|(_, body)| body)
    }

    /// `GET /api/messages/history/{chatId}` (see [`e2ee_crypto::chat_id`]).
    pub async fn history(
        &self,
        chat_id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
        order: Order,
    ) -> Result<MessagePage> {
        let path = format!("/api/messages/history/{}", segment(chat_id));
        let query = page_query(limit, cursor, Some(order));
        self.call::<(), _>(Method::GET, &path, &query, None, true)
            .await
            .map(|(_, body)| body)
    }

    // ---- server-assisted crypto -------------------------------------------------------------------------
    //
    // For thin clients only: these send a plaintext or a private key to the server, which breaks end-to-end
    // encryption for that request (see the README's trust model). The `e2ee` command never calls them.

    /// `POST /api/crypto/generate-keys` (server-assisted: the server sees the private key it returns).
    pub async fn generate_keys_server_assisted(
        &self,
        request: &GenerateKeysRequest,
    ) -> Result<GeneratedKeyResponse> {
        self.call(
            Method::POST,
            "/api/crypto/generate-keys",
            &[],
            Some(request),
            true,
        )
        .await
        .map(|(_, body)| body)
    }

    /// `POST /api/crypto/encrypt` (server-assisted: the server sees the plaintext).
    pub async fn encrypt_server_assisted(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptResponse> {
        self.call(
            Method::POST,
            "/api/crypto/encrypt",
            &[],
            Some(request),
            true,
        )
        .await
        .map(|(_, body)| body)
    }

    /// `POST /api/crypto/decrypt` (server-assisted: the server sees the private key and the plaintext).
    pub async fn decrypt_server_assisted(
        &self,
        request: &DecryptRequest,
    ) -> Result<DecryptResponse> {
        self.call(
            Method::POST,
            "/api/crypto/decrypt",
            &[],
            Some(request),
            true,
        )
        .await
        .map(|(_, body)| body)
    }
}

fn page_query(
    limit: Option<u32>,
    cursor: Option<&str>,
    order: Option<Order>,
) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_owned()));
    }
    if let Some(order) = order {
        query.push(("order", order.as_str().to_owned()));
    }
    query
}

/// Maps an error response to [`ClientError::Api`]; a body that is not the API's error shape (a proxy's
/// HTML page, an empty body) still gives the status and a generic code.
pub fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    api_error_with_headers(status, &HeaderMap::new(), body)
}

/// [`api_error`], with the headers: a 429 becomes [`ClientError::RateLimited`] with its `Retry-After`.
pub fn api_error_with_headers(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ClientError {
    let error = api_error_from_body(status, body);
    match error {
        ClientError::Api { code, message, .. } if status == StatusCode::TOO_MANY_REQUESTS => {
            ClientError::RateLimited {
                code: if code.starts_with("http_") {
                    "too_many_requests".to_owned()
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
            code: format!("http_{}", status.as_u16()),
            message: format!(
                "the server answered {}",
                status.canonical_reason().unwrap_or("with an error")
            ),
        },
    }
}

fn one_line(text: &str) -> String {
    crate::output::sanitize_line(text)
        .chars()
        .take(500)
        .collect()
}

fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
                assert_eq!(code, "stale_recipient_key");
                assert_eq!(message, "fetch it again");
            }
            other => panic!("{other:?}"),
        }
        match api_error(StatusCode::BAD_GATEWAY, b"<html>oops</html>") {
            ClientError::Api { status, code, .. } => {
                assert_eq!(status, 502);
                assert_eq!(code, "http_502");
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
                assert_eq!(code, "too_many_attempts");
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
                assert_eq!(code, "too_many_requests");
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
        let client = Client::new("http://127.0.0.1:1")
            .unwrap()
            .with_token(Zeroizing::new("secret-token-value".into()));
        assert!(!format!("{client:?}").contains("secret-token-value"));
    }
}
