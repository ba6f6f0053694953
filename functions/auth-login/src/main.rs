//! `POST /api/auth/login`: see [`e2ee_api::handlers::auth::login`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::auth::login).await
}
