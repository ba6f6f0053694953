//! `POST /api/crypto/decrypt`: see [`e2ee_api::handlers::assisted::decrypt`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::assisted::decrypt).await
}
