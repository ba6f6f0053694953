//! `POST /api/auth/register`: see [`e2ee_api::handlers::auth::register`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::auth::register).await
}
