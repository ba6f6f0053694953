//! `GET /api/key-packages/supply`: see [`e2ee_api::handlers::key_packages::key_package_supply`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::key_packages::key_package_supply).await
}
