//! `GET /api/users/{username}`: see [`e2ee_api::handlers::auth::lookup_user`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::auth::lookup_user).await
}
