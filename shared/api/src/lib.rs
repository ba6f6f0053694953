//! The HTTP API of the E2EE messaging backend, shared by every Lambda function binary.
//!
//! Handlers are plain async functions `(Arc<AppState>, lambda_http::Request) -> Result<Response, ApiError>`
//! (see [`handlers`]), testable in-process; [`lambda::serve`] runs one of them as a Lambda function.

pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod handlers;
pub mod http;
pub mod lambda;
pub mod limits;
pub mod response;
pub mod state;
pub mod throttle;
pub mod views;

pub use error::ApiError;
pub use state::AppState;
