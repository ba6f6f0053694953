//! `GET /api/crypto/public-key/{userId}`: see [`e2ee_api::handlers::keys::get_public_key`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::keys::get_public_key).await
}
