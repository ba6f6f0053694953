//! The account: register, log in (the session saved in the profile), log out.

use e2ee_protocol::{LoginRequest, RegisterRequest};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Device;
use crate::error::{ClientError, Result};
use crate::profile::SessionData;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub profile: String,
    pub server: String,
    pub user_id: String,
    pub username: String,
    /// When the session token expires (ms since the epoch).
    pub expires_at: i64,
}

impl Device {
    /// Creates the account, then logs in (the session is saved in the profile).
    pub async fn register(
        &mut self,
        username: &str,
        password: Zeroizing<String>,
        display_name: Option<String>,
    ) -> Result<Account> {
        self.refuse_other_account(None, username)?;
        let registered = self
            .client
            .register(&RegisterRequest {
                username: username.to_owned(),
                password: password.clone(),
                display_name,
            })
            .await?;
        self.login(&registered.username, password).await
    }

    /// Logs in and saves the session token (mode 0600) and the account in the profile.
    pub async fn login(&mut self, username: &str, password: Zeroizing<String>) -> Result<Account> {
        let response = self
            .client
            .login(&LoginRequest {
                username: username.to_owned(),
                password,
            })
            .await?;
        self.refuse_other_account(Some(&response.user_id), username)?;
        self.client.set_token(Some(response.token.clone()));
        self.device_token = None;
        // The canonical spelling of the username, as the server stores it.
        let username = match self.client.lookup_user(username).await {
            Ok(user) if user.user_id == response.user_id => user.username,
            _ => username.to_owned(),
        };
        let session = SessionData {
            token: response.token,
            expires_at: response.expires_at,
        };
        self.profile.data.server = Some(self.client.base_url().to_owned());
        self.profile.data.user_id = Some(response.user_id.clone());
        self.profile.data.username = Some(username.clone());
        self.profile.save()?;
        self.profile.save_session(&session)?;
        self.session = Some(session);
        Ok(Account {
            profile: self.profile.name().to_owned(),
            server: self.client.base_url().to_owned(),
            user_id: response.user_id,
            username,
            expires_at: self.session.as_ref().map(|s| s.expires_at).unwrap_or(0),
        })
    }

    /// Forgets the session token.
    pub fn logout(&mut self) -> Result<()> {
        self.profile.clear_session()?;
        self.session = None;
        self.client.set_token(None);
        self.device_token = None;
        Ok(())
    }

    /// A profile belongs to one account: registering or logging in as another one is refused.
    fn refuse_other_account(&self, user_id: Option<&str>, username: &str) -> Result<()> {
        match (&self.profile.data.user_id, user_id) {
            (Some(existing), Some(new)) if existing == new => Ok(()),
            (Some(existing), _) => Err(ClientError::Usage(format!(
                "profile {} belongs to {} ({existing}), not {username}: use --profile NAME for another account",
                self.profile.name(),
                self.profile.username(),
            ))),
            (None, _) => Ok(()),
        }
    }
}
