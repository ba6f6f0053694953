//! `GET /api/messages/receive/{userId}`: see [`e2ee_api::handlers::messages::receive`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::messages::receive).await
}
