//! `POST /api/devices/approve`: see [`e2ee_api::handlers::devices::approve_device`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::devices::approve_device).await
}
