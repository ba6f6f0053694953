//! The Lambda entry point every function binary calls: JSON logs, state built once, one handler served.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};
use tracing::Instrument;

use crate::error::ApiError;
use crate::state::AppState;

/// Structured JSON logs on stderr (CloudWatch); level from `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_target(false)
        .without_time() // CloudWatch timestamps every line already.
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one handler as a Lambda function. State is built once per cold start; a failure there is logged
/// clearly and fails the init, so Lambda reports it instead of serving broken requests.
pub async fn serve<H, F>(handler: H) -> Result<(), Error>
where
    H: Fn(Arc<AppState>, Request) -> F + Copy + Send + 'static,
    F: Future<Output = Result<Response<Body>, ApiError>> + Send,
{
    init_tracing();
    let state = match AppState::init().await {
        Ok(state) => state,
        Err(error) => {
            tracing::error!(error = %error, "cold start failed");
            return Err(error.into());
        }
    };
    lambda_http::run(service_fn(move |request: Request| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Error>(handle(handler, state, request).await) }
    }))
    .await
}

/// Calls `handler`, turning errors into their JSON response and logging one line per request: the method,
/// the route template (`/api/groups/{groupId}/log`, never the path itself, which carries user, device and group
/// ids), the status and the duration; never headers, query strings or bodies.
pub async fn handle<H, F>(handler: H, state: Arc<AppState>, request: Request) -> Response<Body>
where
    H: Fn(Arc<AppState>, Request) -> F,
    F: Future<Output = Result<Response<Body>, ApiError>>,
{
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let method = request.method().to_string();
    // REST (v1) events may carry the stage in front of the path: match the API's routes at any stage prefix.
    let path = request.uri().path();
    let route = route_template(&method, path);
    let span = tracing::info_span!("request", request_id = %request_id);
    async move {
        let started = Instant::now();
        let response = handler(state, request)
            .await
            .unwrap_or_else(ApiError::into_response);
        tracing::info!(
            method = %method,
            route = %route,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "handled"
        );
        response
    }
    .instrument(span)
    .await
}

/// The template of the route a request is for, or `unknown` (a path the API does not serve is not logged either).
fn route_template(method: &str, path: &str) -> &'static str {
    let mut rest = path;
    loop {
        if let Some(route) = e2ee_protocol::routes::Route::of_request(method, rest) {
            return route.path;
        }
        // Drop one leading segment (an API Gateway stage such as `/Prod`) and try again.
        match rest.get(1..).and_then(|tail| tail.find('/')) {
            Some(next) => rest = &rest[next + 1..],
            None => return "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::route_template;

    #[test]
    fn logs_name_the_route_template_never_the_path() {
        assert_eq!(
            route_template("GET", "/api/groups/0a1b2c/log"),
            "/api/groups/{groupId}/log"
        );
        assert_eq!(
            route_template("GET", "/Prod/api/messages/history/c_123"),
            "/api/messages/history/{chatId}"
        );
        assert_eq!(route_template("GET", "/u_123/secret"), "unknown");
        assert_eq!(route_template("PUT", "/api/groups"), "unknown");
    }
}
