//! `POST /api/devices/session`: see [`e2ee_api::handlers::devices::device_session`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::devices::device_session).await
}
