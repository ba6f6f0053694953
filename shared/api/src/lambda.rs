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

/// Calls `handler`, turning errors into their JSON response and logging one line per request (method,
/// path, status, duration; never headers or bodies).
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
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %request_id);
    async move {
        let started = Instant::now();
        let response = handler(state, request)
            .await
            .unwrap_or_else(ApiError::into_response);
        tracing::info!(
            method = %method,
            path = %path,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            "handled"
        );
        response
    }
    .instrument(span)
    .await
}
