//! `POST /api/crypto/revoke-key`: see [`e2ee_api::handlers::keys::revoke_key`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::keys::revoke_key).await
}
