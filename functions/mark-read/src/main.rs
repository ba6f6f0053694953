//! `PATCH /api/messages/mark-read/{messageId}`: see [`e2ee_api::handlers::messages::mark_read`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::messages::mark_read).await
}
