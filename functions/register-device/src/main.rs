//! `POST /api/devices`: see [`e2ee_api::handlers::devices::register_device`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::devices::register_device).await
}
