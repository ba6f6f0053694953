//! An async HTTP client for every endpoint of the API (docs/openapi.yaml), with the request and response
//! types of `e2ee-protocol` (the same types the server uses) and its route list: every request is built
//! from an [`e2ee_protocol::routes`] constant (method and path).
//!
//! This layer does no cryptography and keeps no state besides the session token: see [`crate::device`] for
//! the operations a user performs (seal, sign, verify, trust on first use).

mod errors;
mod mls;
mod url;

use std::time::Duration;

use e2ee_crypto::Envelope;
use e2ee_protocol::routes::{self, Route};
use e2ee_protocol::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, GenerateKeysRequest,
    GeneratedKeyResponse, KeyView, LoginRequest, LoginResponse, MarkReadResponse, MessagePage,
    Order, PublicKeyResponse, RegisterKeyRequest, RegisterRequest, RegisterResponse,
    RevokeKeyRequest, SendRequest, SendResponse, UserResponse,
};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use errors::{api_error_with_headers, error_chain};
pub use url::normalize_base_url;
use url::segment;

/// The most bytes of any response body this client reads (the API's pages are at most 4 MiB of envelopes,
/// and Lambda answers at most 6 MB); a larger answer is an error, not an allocation.
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

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

/// One request: a route, its path parameters (not yet escaped), the query and the JSON body.
struct Call<'a, B: ?Sized> {
    route: Route,
    params: &'a [&'a str],
    query: &'a [(&'a str, String)],
    body: Option<&'a B>,
}

impl<'a> Call<'a, ()> {
    /// A request without a body; `params` fill the route's path parameters, in order.
    fn new(route: Route, params: &'a [&'a str]) -> Self {
        Call {
            route,
            params,
            query: &[],
            body: None,
        }
    }

    fn query(self, query: &'a [(&'a str, String)]) -> Self {
        Call { query, ..self }
    }
}

impl<'a, B: ?Sized> Call<'a, B> {
    /// A request with a JSON body (the body routes have no path parameters).
    fn body(route: Route, body: &'a B) -> Self {
        Call {
            route,
            params: &[],
            query: &[],
            body: Some(body),
        }
    }

    /// A request with path parameters and a JSON body.
    fn body_at(route: Route, params: &'a [&'a str], body: &'a B) -> Self {
        Call {
            route,
            params,
            query: &[],
            body: Some(body),
        }
    }

    /// Every route but registering and logging in needs the session token.
    fn authenticated(&self) -> bool {
        self.route != routes::AUTH_REGISTER && self.route != routes::AUTH_LOGIN
    }
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

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Sends `call` and returns the status and the decoded JSON answer (or the error it maps to).
    async fn send_call<B, T>(&self, call: Call<'_, B>) -> Result<(StatusCode, T)>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let segments: Vec<String> = call.params.iter().map(|p| segment(p)).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let path = call.route.fill(&segments);
        let method = Method::from_bytes(call.route.method.as_bytes())
            .map_err(|e| ClientError::Usage(format!("route {}: {e}", call.route.path)))?;
        let authenticated = call.authenticated();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if !call.query.is_empty() {
            request = request.query(call.query);
        }
        if let Some(token) = self.token.as_ref().filter(|_| authenticated) {
            request = request.bearer_auth(token.as_str());
        }
        if let Some(body) = call.body {
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

    /// [`Client::send_call`], the answer only.
    async fn request<B, T>(&self, call: Call<'_, B>) -> Result<T>
    where
        B: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        self.send_call(call).await.map(|(_, body)| body)
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
        self.request(Call::body(routes::AUTH_REGISTER, request))
            .await
    }

    /// `POST /api/auth/login`. The token is returned, not stored: see [`Client::set_token`].
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse> {
        self.request(Call::body(routes::AUTH_LOGIN, request)).await
    }

    /// `GET /api/users/{username}`
    pub async fn lookup_user(&self, username: &str) -> Result<UserResponse> {
        self.request(Call::new(routes::LOOKUP_USER, &[username]))
            .await
    }

    // ---- keys -------------------------------------------------------------------------------------------

    /// `POST /api/crypto/register-key`: makes a public key the caller's active key (the previous one is
    /// retired). The request carries the proof of possession and the second factor (docs/security.md); build
    /// it with [`crate::keyops::register_request`].
    pub async fn register_key(&self, request: &RegisterKeyRequest) -> Result<KeyView> {
        self.request(Call::body(routes::REGISTER_KEY, request))
            .await
    }

    /// `POST /api/crypto/revoke-key`: revokes one of the caller's keys (build the request with
    /// [`crate::keyops::revoke_request`]). Returns the key as it is now.
    pub async fn revoke_key(&self, request: &RevokeKeyRequest) -> Result<KeyView> {
        self.request(Call::body(routes::REVOKE_KEY, request)).await
    }

    /// `GET /api/crypto/public-key/{userId}[?all=true]`: the active key; with `all`, every key (newest first,
    /// with its status).
    pub async fn public_key(&self, user_id: &str, all: bool) -> Result<PublicKeyResponse> {
        let query = if all {
            vec![("all", "true".to_owned())]
        } else {
            Vec::new()
        };
        self.request(Call::new(routes::GET_PUBLIC_KEY, &[user_id]).query(&query))
            .await
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
            .send_call(Call::body(routes::SEND_MESSAGE, &body))
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
        let query = page_query(limit, cursor, None);
        self.request(Call::new(routes::RECEIVE_MESSAGES, &[user_id]).query(&query))
            .await
    }

    /// `PATCH /api/messages/mark-read/{messageId}` (receiver only; idempotent).
    pub async fn mark_read(&self, message_id: &str) -> Result<MarkReadResponse> {
        self.request(Call::new(routes::MARK_READ, &[message_id]))
            .await
    }

    /// `GET /api/messages/history/{chatId}` (see [`e2ee_protocol::chat_id`]).
    pub async fn history(
        &self,
        chat_id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
        order: Order,
    ) -> Result<MessagePage> {
        let query = page_query(limit, cursor, Some(order));
        self.request(Call::new(routes::CHAT_HISTORY, &[chat_id]).query(&query))
            .await
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
        self.request(Call::body(routes::GENERATE_KEYS, request))
            .await
    }

    /// `POST /api/crypto/encrypt` (server-assisted: the server sees the plaintext).
    pub async fn encrypt_server_assisted(
        &self,
        request: &EncryptRequest,
    ) -> Result<EncryptResponse> {
        self.request(Call::body(routes::ENCRYPT, request)).await
    }

    /// `POST /api/crypto/decrypt` (server-assisted: the server sees the private key and the plaintext).
    pub async fn decrypt_server_assisted(
        &self,
        request: &DecryptRequest,
    ) -> Result<DecryptResponse> {
        self.request(Call::body(routes::DECRYPT, request)).await
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

#[cfg(test)]
mod tests;
