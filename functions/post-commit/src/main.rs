//! `POST /api/groups/{groupId}/commits`: see [`e2ee_api::handlers::groups::post_commit`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::post_commit).await
}
