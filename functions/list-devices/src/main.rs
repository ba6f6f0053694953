//! `GET /api/devices/{userId}`: see [`e2ee_api::handlers::devices::list_devices`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::devices::list_devices).await
}
