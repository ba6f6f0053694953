//! `POST /api/welcomes/ack`: see [`e2ee_api::handlers::groups::ack_welcome`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::ack_welcome).await
}
