//! `POST /api/key-packages/claim`: see [`e2ee_api::handlers::key_packages::claim_key_packages`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::key_packages::claim_key_packages).await
}
