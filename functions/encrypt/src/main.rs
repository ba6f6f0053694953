//! `POST /api/crypto/encrypt`: see [`e2ee_api::handlers::assisted::encrypt`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::assisted::encrypt).await
}
