//! `POST /api/groups`: see [`e2ee_api::handlers::groups::create_group`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::create_group).await
}
