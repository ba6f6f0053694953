//! `GET /api/messages/history/{chatId}`: see [`e2ee_api::handlers::messages::history`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::messages::history).await
}
