//! `GET /api/groups/{groupId}`: see [`e2ee_api::handlers::groups::get_group`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::get_group).await
}
