//! `POST /api/crypto/register-key`: see [`e2ee_api::handlers::keys::register_key`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::keys::register_key).await
}
