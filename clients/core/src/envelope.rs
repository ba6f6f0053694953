//! Opening a 1:1 envelope (docs/envelope.md) on this device: which key of this device can read it, whether the
//! sender's signature verifies under a key this device trusts, and one [`MessageReport`] per message, whatever
//! happened. A message that cannot be read is reported as [`Verification::Failed`], never dropped and never
//! shown as text. The driver finds the private key ([`sealed_for`], then unlocks it) and what it knows of the
//! signer's key ([`Signer`], from the contacts' pins); the rules are here.

use base64::Engine;
use e2ee_crypto::{CryptoError, Envelope, Header, PrivateKey, PublicKey};
use e2ee_protocol::MessageView;
use serde::Serialize;
use zeroize::Zeroizing;

/// The outcome of opening one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verification {
    /// Decrypted, and signed by a key this device trusts for the sender.
    Verified,
    /// Decrypted, but the signature could not be checked or its key is not trusted (see the reason).
    Unverified,
    /// Not readable: altered, forged, or not sealed for a key of this device (see the reason).
    Failed,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::Verified => "verified",
            Verification::Unverified => "unverified",
            Verification::Failed => "failed",
        }
    }
}

/// A user named by a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    pub user_id: String,
    /// The pinned (or looked-up) username, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// One message as the user sees it. What is shown as the message's time and recipients comes from the
/// envelope header authenticated by opening it, never from the server's fields.
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReport {
    /// The server's id of the message.
    pub message_id: String,
    pub chat_id: String,
    /// The sender (the envelope's, which must match the server's).
    pub sender_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The recipients besides the sender, from the authenticated header (empty when it did not open).
    pub recipients: Vec<Participant>,
    pub client_message_id: String,
    /// The sender's time from the authenticated header (ms since the epoch); `None` when it did not open.
    pub created_at: Option<i64>,
    /// When the server says it stored the message (not authenticated).
    pub stored_at: i64,
    pub read_at: Option<i64>,
    /// Sent by this account.
    pub outgoing: bool,
    pub status: Verification,
    /// Why the message is unverified or failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The server id under which this same signed message was first seen: this delivery is a replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// The plaintext, when it decrypted to UTF-8 text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Zeroizing<String>>,
    /// The plaintext in base64, when it decrypted to bytes that are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_base64: Option<Zeroizing<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer_key_id: Option<String>,
    /// The key of this device the message was decrypted with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decrypted_with_key_id: Option<String>,
}

/// Never prints the plaintext.
impl std::fmt::Debug for MessageReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |present: bool| present.then_some("[redacted]");
        f.debug_struct("MessageReport")
            .field("message_id", &self.message_id)
            .field("chat_id", &self.chat_id)
            .field("sender_id", &self.sender_id)
            .field("sender", &self.sender)
            .field("recipients", &self.recipients)
            .field("client_message_id", &self.client_message_id)
            .field("created_at", &self.created_at)
            .field("stored_at", &self.stored_at)
            .field("read_at", &self.read_at)
            .field("outgoing", &self.outgoing)
            .field("status", &self.status)
            .field("reason", &self.reason)
            .field("replay_of", &self.replay_of)
            .field("text", &redacted(self.text.is_some()))
            .field("data_base64", &redacted(self.data_base64.is_some()))
            .field("signer_key_id", &self.signer_key_id)
            .field("decrypted_with_key_id", &self.decrypted_with_key_id)
            .finish()
    }
}

impl MessageReport {
    /// Flags this delivery as a replay of the same signed message first seen as `first_message_id`: it is
    /// never shown as verified.
    pub fn mark_replay(&mut self, first_message_id: &str) {
        let replay =
            format!("REPLAY: the same signed message was already delivered as {first_message_id}");
        self.reason = Some(match self.reason.take() {
            Some(reason) => format!("{replay}; {reason}"),
            None => replay,
        });
        if self.status == Verification::Verified {
            self.status = Verification::Unverified;
        }
        self.replay_of = Some(first_message_id.to_owned());
    }
}

/// What is known about the key that signed an envelope.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// The envelope carries no signature.
    NotSigned,
    /// The signature's key id is a key of the sender (its SPKI hashes to that id). `trusted`: the key is this
    /// device's own, or one the user trusts for that contact.
    Key {
        key: &'a PublicKey,
        trusted: bool,
        /// Revoked: it verifies nothing.
        revoked: bool,
        /// Retired at this time (ms): it verifies only messages whose signed `createdAt` is earlier.
        retired_at: Option<i64>,
    },
    /// The signature names a key id the sender does not have (or that could not be fetched).
    Unknown,
}

/// Parses a stored envelope and checks it against the server's metadata.
pub fn parse_envelope(view: &MessageView) -> std::result::Result<Envelope, String> {
    let json = serde_json::to_vec(&view.envelope).map_err(|e| format!("invalid envelope: {e}"))?;
    let envelope = Envelope::from_json(&json).map_err(|e| e.to_string())?;
    if envelope.sender_id() != view.sender_id {
        return Err(format!(
            "the envelope names sender {:?}, the server says {:?}",
            envelope.sender_id(),
            view.sender_id
        ));
    }
    if envelope.message_id() != view.client_message_id {
        return Err("the envelope's message id does not match the stored one".into());
    }
    Ok(envelope)
}

/// The decrypted plaintext, or why it is unreadable.
pub struct Opening {
    pub status: Verification,
    pub reason: Option<String>,
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    pub decrypted_with: Option<String>,
    /// The header, authenticated by opening (None when it did not open).
    pub header: Option<Header>,
}

pub fn failed(reason: impl Into<String>) -> Opening {
    Opening {
        status: Verification::Failed,
        reason: Some(reason.into()),
        plaintext: None,
        decrypted_with: None,
        header: None,
    }
}

/// Whether a key retired at `retired_at` may still vouch for a message signed at `created_at`.
fn signed_before(created_at: u64, retired_at: i64) -> bool {
    i64::try_from(created_at).is_ok_and(|t| t < retired_at)
}

/// The id of the key of `me` that `envelope` is sealed for, among the keys this device holds.
pub fn sealed_for(envelope: &Envelope, me: &str, holds: impl Fn(&str) -> bool) -> Option<String> {
    envelope
        .recipients()
        .iter()
        .filter(|r| r.user_id == me)
        .map(|r| r.key_id.clone())
        .find(|k| holds(k))
}

/// Opens `envelope` with the key `key_id` of this device ([`sealed_for`]; `key` is `Err(why)` when the
/// driver could not unlock it), checking the signature against what is known of the signer's key:
/// verified only when the key is trusted, not revoked, and was not retired before the message's time.
pub fn open_with(
    envelope: &Envelope,
    key_id: String,
    key: Result<&PrivateKey, String>,
    signer: Signer<'_>,
    sender_name: &str,
) -> Opening {
    let key = match key {
        Ok(key) => key,
        Err(why) => return failed(why),
    };
    let (verify_with, unverified_reason) = match signer {
        Signer::NotSigned => (None, Some("not signed".to_owned())),
        Signer::Unknown => (
            None,
            Some(format!(
                "signed with a key that is not a registered key of {sender_name}"
            )),
        ),
        Signer::Key { revoked: true, .. } => (
            None,
            Some(format!("signed with a revoked key of {sender_name}")),
        ),
        Signer::Key {
            retired_at: Some(retired_at),
            ..
        } if !signed_before(envelope.created_at(), retired_at) => (
            None,
            Some(format!(
                "signed with a key of {sender_name} that was retired before the message's time: \
                 a retired key only vouches for older messages"
            )),
        ),
        Signer::Key {
            key,
            trusted,
            revoked: false,
            ..
        } => (
            Some(key),
            (!trusted).then(|| {
                format!(
                    "signed with a key of {sender_name} you have not accepted: compare fingerprints with \
                     `e2ee keys verify {sender_name}`"
                )
            }),
        ),
    };
    match e2ee_crypto::open(envelope, key, verify_with) {
        Ok(opened) => Opening {
            status: if unverified_reason.is_none() {
                Verification::Verified
            } else {
                Verification::Unverified
            },
            reason: unverified_reason,
            plaintext: Some(opened.plaintext),
            decrypted_with: Some(key_id),
            header: Some(opened.header),
        },
        Err(CryptoError::BadSignature) => {
            failed("bad signature: the message was altered or forged")
        }
        Err(CryptoError::CannotDecrypt) => {
            failed("cannot decrypt: the message was altered or damaged")
        }
        Err(CryptoError::NotARecipient) => failed("not sealed for any key on this device"),
        Err(other) => failed(other.to_string()),
    }
}

/// Builds the report of a message: the ids from the server's metadata (checked against the envelope by
/// [`parse_envelope`]), the time and the recipients from the authenticated header of the opening.
pub fn report(
    view: &MessageView,
    me: &str,
    names: &dyn Fn(&str) -> Option<String>,
    signer_key_id: Option<String>,
    opening: Opening,
) -> MessageReport {
    let (text, data_base64) = match opening.plaintext {
        Some(plaintext) => match std::str::from_utf8(&plaintext) {
            Ok(text) => (Some(Zeroizing::new(text.to_owned())), None),
            Err(_) => (
                None,
                Some(Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(&plaintext[..]),
                )),
            ),
        },
        None => (None, None),
    };
    let (created_at, recipients) = match &opening.header {
        Some(header) => {
            let mut ids: Vec<&str> = Vec::new();
            for recipient in &header.recipients {
                if recipient.user_id != header.sender_id
                    && !ids.contains(&recipient.user_id.as_str())
                {
                    ids.push(&recipient.user_id);
                }
            }
            if ids.is_empty() {
                // A note to self.
                ids.push(&header.sender_id);
            }
            let recipients = ids
                .into_iter()
                .map(|id| Participant {
                    user_id: id.to_owned(),
                    username: names(id),
                })
                .collect();
            (i64::try_from(header.created_at).ok(), recipients)
        }
        None => (None, Vec::new()),
    };
    MessageReport {
        message_id: view.message_id.clone(),
        chat_id: view.chat_id.clone(),
        sender_id: view.sender_id.clone(),
        sender: names(&view.sender_id),
        recipients,
        client_message_id: view.client_message_id.clone(),
        created_at,
        stored_at: view.created_at,
        read_at: view.read_at,
        outgoing: view.sender_id == me,
        status: opening.status,
        reason: opening.reason,
        replay_of: None,
        text,
        data_base64,
        signer_key_id,
        decrypted_with_key_id: opening.decrypted_with,
    }
}

/// The first 16 hex digits of a key id, for messages.
pub fn short(key_id: &str) -> &str {
    key_id.get(..16).unwrap_or(key_id)
}
