//! `POST /api/groups/{groupId}/messages`: see [`e2ee_api::handlers::groups::post_group_message`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::post_group_message).await
}
