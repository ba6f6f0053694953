//! The API served by `cargo lambda watch` (scripts/test.sh), over HTTP.

use reqwest::Client;
pub use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::account::{Api, Exchange, User, sign_up};

/// The served API at one base URL.
#[derive(Debug, Clone)]
pub struct Server {
    base: String,
    http: Client,
}

impl Server {
    pub fn new(base: &str) -> Self {
        Server {
            base: base.to_owned(),
            http: Client::new(),
        }
    }

    /// The served API of [`crate::env::served`], under the CI rule.
    pub fn from_env() -> Option<(Server, crate::env::Served)> {
        let served = crate::env::served()?;
        Some((Server::new(&served.base), served))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// One request: `path` (with its query string) under the base URL, the bearer token and JSON body when
    /// given. Returns the status and the JSON body (`Value::Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("server reachable");
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// `GET path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST path` with `token` and a JSON `body`.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `PATCH path` with `token`.
    pub async fn patch(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(token), None).await
    }

    /// A new user with a device key (see [`sign_up`]) whom the directory finds by name.
    pub async fn account(&self, prefix: &str, password: &str) -> User {
        let user = sign_up(self, prefix, password).await;
        let path = format!("/api/users/{}", user.username);
        let (_, me) = self.get(&path, &user.token).await;
        assert_eq!(me["userId"].as_str(), Some(user.id.as_str()));
        user
    }
}

impl Api for Server {
    async fn exchange(&self, request: Exchange<'_>) -> (u16, Value) {
        let method = Method::from_bytes(request.method.as_bytes()).unwrap();
        let (status, body) = self
            .call(method, request.path, request.token, request.body)
            .await;
        (status.as_u16(), body)
    }
}
