//! `POST /api/messages/send`: see [`e2ee_api::handlers::messages::send`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::messages::send).await
}
