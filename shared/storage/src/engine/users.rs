//! Users: validated, with a fresh id, unique on the folded username.

use async_trait::async_trait;

use super::{UserRecords, Users, Written, bounded};
use crate::error::{StoreError, StoreResult};
use crate::ids::{self, now_millis};
use crate::model::{NewUser, User, UserStore};
use crate::validate;

#[async_trait]
impl<R: UserRecords> UserStore for Users<R> {
    async fn create(&self, user: NewUser) -> StoreResult<User> {
        bounded(async {
            let valid = validate::new_user(&user)?;
            let record = User {
                id: ids::new_user_id(),
                username: valid.username,
                password_hash: user.password_hash,
                display_name: user.display_name,
                created_at: now_millis(),
            };
            match self.0.insert_user(&record, &valid.username_folded).await? {
                Written::Inserted => Ok(record),
                // The random 128-bit id cannot realistically collide, so the username index refused it.
                Written::Duplicate => Err(StoreError::UsernameTaken),
            }
        })
        .await
    }

    async fn get(&self, id: &str) -> StoreResult<Option<User>> {
        bounded(self.0.user_by_id(id)).await
    }

    async fn get_by_username(&self, username: &str) -> StoreResult<Option<User>> {
        bounded(async {
            // A name that breaks the rules can never have been registered.
            let Ok(normalized) = validate::normalize_username(username) else {
                return Ok(None);
            };
            self.0
                .user_by_folded_username(&validate::fold_username(&normalized))
                .await
        })
        .await
    }
}
