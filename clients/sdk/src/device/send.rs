//! Sending: seal for the receiver's trusted key and for this device's own key, sign, post (re-sealing once
//! for a receiver's new key, repeating the identical envelope after a transient failure).

use std::time::Duration;

use e2ee_crypto::{Envelope, Recipient, SealParams};
use serde::Serialize;

use super::{Device, UserRef};
use crate::api::Sent;
use crate::clock::now_millis;
use crate::error::{ClientError, Result};
use crate::keyring::KeyRing;

/// Pauses before repeating a send that failed in transit (same envelope, so the server de-duplicates it).
const SEND_RETRY_DELAYS: [Duration; 2] = [Duration::from_millis(500), Duration::from_millis(1500)];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReport {
    pub to: UserRef,
    pub message_id: String,
    pub chat_id: String,
    pub client_message_id: String,
    pub created_at: i64,
    /// The receiver's key the message was sealed for.
    pub receiver_key_id: String,
    /// True when the first attempt hit `stale_recipient_key` and the message was re-sealed for a newer key.
    pub resealed: bool,
    /// False when the server already had this exact envelope (an idempotent retry).
    pub created: bool,
}

impl Device {
    /// Seals `plaintext` for `username` and for this device's own key, signs it, and sends it.
    ///
    /// * The receiver's active key must be the pinned one ([`ClientError::KeyChanged`] otherwise); a
    ///   contact seen for the first time is pinned now.
    /// * On `409 stale_recipient_key` the receiver's key is fetched again and the message re-sealed once,
    ///   with the same client message id. Trust on first use still applies: a key that differs from a pin
    ///   the user already relied on is refused; only a pin made moments ago by this same send is replaced.
    /// * Transport failures and 502/503/504 repeat the identical envelope (the server answers 200 if it had
    ///   already stored it), so a message is never stored twice.
    pub async fn send(
        &mut self,
        ring: &KeyRing,
        username: &str,
        plaintext: &[u8],
    ) -> Result<SendReport> {
        let me = self.me()?;
        let own_key_id = ring.current().key_id().to_string();
        if let Some(revoked) = self
            .profile
            .local_key(&own_key_id)
            .filter(|k| k.revoked_at.is_some())
        {
            return Err(ClientError::Usage(format!(
                "your key {} is revoked: run `e2ee keys rotate` to make a new one before sending",
                revoked.fingerprint
            )));
        }
        let user = self.lookup(username).await?;
        let message_id = e2ee_crypto::random_message_id();
        let created_at = now_millis();
        let mut resealed = false;
        let mut pinned_now = false;
        let result = loop {
            let (receiver_key_id, receiver_key) =
                match self.trusted_active_key(&user, pinned_now).await {
                    Ok((key_id, key, pinned)) => {
                        pinned_now = pinned;
                        (key_id, key)
                    }
                    Err(error) => break Err(error),
                };
            let recipients = e2ee_crypto::conversation_recipients(
                Recipient {
                    user_id: &user.user_id,
                    key: &receiver_key,
                },
                Recipient {
                    user_id: &me,
                    key: ring.current().public_key(),
                },
            );
            let envelope = e2ee_crypto::seal(
                plaintext,
                &SealParams {
                    sender_id: &me,
                    message_id: &message_id,
                    created_at,
                    recipients: &recipients,
                    sign_with: Some(ring.current()),
                },
            )?;
            match self.post(&user.user_id, &envelope).await {
                Ok(sent) => {
                    break Ok(SendReport {
                        to: UserRef {
                            user_id: user.user_id.clone(),
                            username: user.username.clone(),
                        },
                        message_id: sent.response.message_id,
                        chat_id: sent.response.chat_id,
                        client_message_id: sent.response.client_message_id,
                        created_at: sent.response.created_at,
                        receiver_key_id,
                        resealed,
                        created: sent.created,
                    });
                }
                Err(error)
                    if !resealed
                        && error.api_code()
                            == Some(&e2ee_protocol::ErrorCode::StaleRecipientKey) =>
                {
                    resealed = true;
                }
                Err(error) => break Err(error),
            }
        };
        self.save_contacts()?;
        result
    }

    /// Posts `envelope`, repeating it unchanged after a transient failure.
    async fn post(&self, receiver_id: &str, envelope: &Envelope) -> Result<Sent> {
        let mut delays = SEND_RETRY_DELAYS.iter();
        loop {
            match self.client.send(receiver_id, envelope).await {
                Err(error) if error.is_transient() => match delays.next() {
                    Some(delay) => tokio::time::sleep(*delay).await,
                    None => return Err(error),
                },
                other => return other,
            }
        }
    }
}
