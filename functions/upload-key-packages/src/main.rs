//! `POST /api/key-packages`: see [`e2ee_api::handlers::key_packages::upload_key_packages`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::key_packages::upload_key_packages).await
}
