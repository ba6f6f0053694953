//! `GET /api/groups/{groupId}/log`: see [`e2ee_api::handlers::groups::read_group_log`].

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    e2ee_api::lambda::serve(e2ee_api::handlers::groups::read_group_log).await
}
