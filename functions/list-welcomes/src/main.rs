//! `GET /api/welcomes`: see [`e2ee_api::handlers::groups::list_welcomes`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::list_welcomes).await
}
