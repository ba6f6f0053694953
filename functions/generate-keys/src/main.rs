//! `POST /api/crypto/generate-keys`: see [`e2ee_api::handlers::keys::generate_keys`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::keys::generate_keys).await
}
