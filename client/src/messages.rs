//! Opening received and stored messages on the device: which key of this device can read it, whether the
//! sender's signature verifies, and one [`MessageReport`] per message, whatever happened. A message that
//! cannot be read is reported as [`Verification::Failed`], never dropped and never shown as text.

use std::collections::HashMap;

use base64::Engine;
use e2ee_crypto::{CryptoError, Envelope, Header, PrivateKey, PublicKey};
use e2ee_protocol::MessageView;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};
use crate::profile::Profile;

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

/// The private keys of this device, unlocked with one passphrase. The current key is decrypted up front
/// (so a wrong passphrase fails before anything else happens); older keys when a message needs them.
pub struct KeyRing {
    passphrase: Zeroizing<String>,
    current: PrivateKey,
    loaded: HashMap<String, PrivateKey>,
    /// Key ids that exist on disk but are not loaded yet.
    on_disk: Vec<String>,
    /// Public halves of every key of this device (from the `.pub` files): own signatures verify offline.
    publics: HashMap<String, PublicKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", &self.current.key_id())
            .field("keys", &self.publics.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// Unlocks the profile's current key with `passphrase` ([`ClientError::WrongPassphrase`] if it does not).
    pub fn unlock(profile: &Profile, passphrase: Zeroizing<String>) -> Result<KeyRing> {
        let current = profile
            .current_key()
            .ok_or_else(|| ClientError::NoKey {
                profile: profile.name().to_owned(),
            })?
            .key_id
            .clone();
        let current_key = profile.load_private_key(&current, &passphrase)?;
        let mut publics = HashMap::new();
        publics.insert(current.clone(), current_key.public_key().clone());
        let mut on_disk = Vec::new();
        for key in &profile.data.keys {
            if key.key_id == current {
                continue;
            }
            if let Ok(public) = profile.load_public_key(&key.key_id) {
                publics.insert(key.key_id.clone(), public);
            }
            on_disk.push(key.key_id.clone());
        }
        Ok(KeyRing {
            passphrase,
            current: current_key,
            loaded: HashMap::new(),
            on_disk,
            publics,
        })
    }

    /// A key ring of in-memory keys (tests, embedders with their own key storage).
    pub fn from_keys(current: PrivateKey, older: Vec<PrivateKey>) -> KeyRing {
        let mut publics = HashMap::new();
        publics.insert(current.key_id().to_string(), current.public_key().clone());
        let mut loaded = HashMap::new();
        for key in older {
            publics.insert(key.key_id().to_string(), key.public_key().clone());
            loaded.insert(key.key_id().to_string(), key);
        }
        KeyRing {
            passphrase: Zeroizing::new(String::new()),
            current,
            loaded,
            on_disk: Vec::new(),
            publics,
        }
    }

    pub fn current(&self) -> &PrivateKey {
        &self.current
    }

    /// The public key of one of this device's keys.
    pub fn public(&self, key_id: &str) -> Option<&PublicKey> {
        self.publics.get(key_id)
    }

    /// Whether this device holds the private key `key_id`.
    pub fn holds(&self, key_id: &str) -> bool {
        self.current.key_id().to_string() == key_id
            || self.loaded.contains_key(key_id)
            || self.on_disk.iter().any(|k| k == key_id)
    }

    /// The private key `key_id`, decrypting an older key on first use.
    fn private(&mut self, key_id: &str, profile: Option<&Profile>) -> Result<Option<&PrivateKey>> {
        if self.current.key_id().to_string() == key_id {
            return Ok(Some(&self.current));
        }
        if !self.loaded.contains_key(key_id) {
            let Some(profile) = profile else {
                return Ok(None);
            };
            if !self.on_disk.iter().any(|k| k == key_id) {
                return Ok(None);
            }
            let key = profile.load_private_key(key_id, &self.passphrase)?;
            self.on_disk.retain(|k| k != key_id);
            self.loaded.insert(key_id.to_owned(), key);
        }
        Ok(self.loaded.get(key_id))
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
    if envelope.sender_id != view.sender_id {
        return Err(format!(
            "the envelope names sender {:?}, the server says {:?}",
            envelope.sender_id, view.sender_id
        ));
    }
    if envelope.message_id != view.client_message_id {
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

/// Opens `envelope` for `me` with whichever key of `ring` it is wrapped for, checking the signature when
/// the signer's key is known. `profile` lets the ring decrypt older keys on demand.
pub fn open_envelope(
    envelope: &Envelope,
    me: &str,
    ring: &mut KeyRing,
    profile: Option<&Profile>,
    signer: Signer<'_>,
    sender_name: &str,
) -> Opening {
    let Some(key_id) = envelope
        .recipients
        .iter()
        .filter(|r| r.user_id == me)
        .map(|r| r.key_id.clone())
        .find(|k| ring.holds(k))
    else {
        return failed("not sealed for any key on this device");
    };
    let key = match ring.private(&key_id, profile) {
        Ok(Some(key)) => key,
        Ok(None) => return failed("not sealed for any key on this device"),
        Err(ClientError::WrongPassphrase) => {
            return failed(format!(
                "the passphrase does not unlock the older key {} this message is sealed for",
                short(&key_id)
            ));
        }
        Err(error) => return failed(error.to_string()),
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
        } if !signed_before(envelope.created_at, retired_at) => (
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

#[cfg(test)]
mod tests {
    use super::*;
    use e2ee_crypto::{KeySize, Recipient, SealParams};
    use std::sync::OnceLock;

    struct Keys {
        alice: PrivateKey,
        alice_old: PrivateKey,
        bob: PrivateKey,
    }

    fn keys() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys {
            alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
            alice_old: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
            bob: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        })
    }

    fn clone_key(key: &PrivateKey) -> PrivateKey {
        PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap()
    }

    /// Bob writes to Alice's `alice_key`, signed by Bob.
    fn from_bob(alice_key: &PrivateKey, text: &str, sign: bool) -> Envelope {
        let k = keys();
        let recipients = [
            Recipient {
                user_id: "u_alice",
                key: alice_key.public_key(),
            },
            Recipient {
                user_id: "u_bob",
                key: k.bob.public_key(),
            },
        ];
        e2ee_crypto::seal(
            text.as_bytes(),
            &SealParams {
                sender_id: "u_bob",
                message_id: "m-1",
                created_at: 1,
                recipients: &recipients,
                sign_with: sign.then_some(&k.bob),
            },
        )
        .unwrap()
    }

    fn alice_ring() -> KeyRing {
        let k = keys();
        KeyRing::from_keys(clone_key(&k.alice), vec![clone_key(&k.alice_old)])
    }

    fn trusted_bob() -> Signer<'static> {
        Signer::Key {
            key: keys().bob.public_key(),
            trusted: true,
            revoked: false,
            retired_at: None,
        }
    }

    fn text(opening: &Opening) -> Option<String> {
        opening
            .plaintext
            .as_ref()
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
    }

    #[test]
    fn a_signed_message_from_a_trusted_key_is_verified() {
        let mut ring = alice_ring();
        let envelope = from_bob(&keys().alice, "hello", true);
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_eq!(opening.status, Verification::Verified);
        assert_eq!(text(&opening).as_deref(), Some("hello"));
        assert_eq!(opening.reason, None);
    }

    #[test]
    fn older_keys_still_read_old_messages() {
        let mut ring = alice_ring();
        let envelope = from_bob(&keys().alice_old, "sealed for the old key", true);
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_eq!(opening.status, Verification::Verified);
        assert_eq!(
            opening.decrypted_with.as_deref(),
            Some(keys().alice_old.key_id().to_string().as_str())
        );
    }

    #[test]
    fn unsigned_unknown_untrusted_and_revoked_signers_are_unverified_but_readable() {
        let mut ring = alice_ring();
        let k = keys();
        let unsigned = from_bob(&k.alice, "no signature", false);
        let opening = open_envelope(
            &unsigned,
            "u_alice",
            &mut ring,
            None,
            Signer::NotSigned,
            "bob",
        );
        assert_eq!(opening.status, Verification::Unverified);
        assert_eq!(opening.reason.as_deref(), Some("not signed"));
        assert_eq!(text(&opening).as_deref(), Some("no signature"));

        let signed = from_bob(&k.alice, "signed", true);
        for signer in [
            Signer::Unknown,
            Signer::Key {
                key: k.bob.public_key(),
                trusted: false,
                revoked: false,
                retired_at: None,
            },
            Signer::Key {
                key: k.bob.public_key(),
                trusted: true,
                revoked: true,
                retired_at: None,
            },
        ] {
            let opening = open_envelope(&signed, "u_alice", &mut ring, None, signer, "bob");
            assert_eq!(opening.status, Verification::Unverified, "{signer:?}");
            assert!(opening.reason.is_some());
            assert_eq!(text(&opening).as_deref(), Some("signed"));
        }
    }

    #[test]
    fn tampering_fails_and_never_yields_text() {
        let mut ring = alice_ring();
        let k = keys();
        let mut envelope = from_bob(&k.alice, "original", true);
        envelope.ciphertext[0] ^= 1;
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_eq!(opening.status, Verification::Failed);
        assert!(opening.plaintext.is_none());
        assert!(opening.reason.unwrap().contains("bad signature"));

        // Stripping the signature does not make a tampered ciphertext readable either.
        envelope.signature = None;
        let opening = open_envelope(
            &envelope,
            "u_alice",
            &mut ring,
            None,
            Signer::NotSigned,
            "bob",
        );
        assert_eq!(opening.status, Verification::Failed);
        assert!(opening.reason.unwrap().contains("cannot decrypt"));

        // A signature by someone else (e.g. the server substituting the sender's key) fails.
        let envelope = from_bob(&k.alice, "original", true);
        let opening = open_envelope(
            &envelope,
            "u_alice",
            &mut ring,
            None,
            Signer::Key {
                key: k.alice_old.public_key(),
                trusted: true,
                revoked: false,
                retired_at: None,
            },
            "bob",
        );
        assert_eq!(opening.status, Verification::Failed);
    }

    #[test]
    fn a_retired_key_vouches_only_for_messages_signed_before_its_retirement() {
        let mut ring = alice_ring();
        let k = keys();
        // from_bob signs at createdAt = 1.
        let envelope = from_bob(&k.alice, "old enough", true);
        let retired = |retired_at| Signer::Key {
            key: k.bob.public_key(),
            trusted: true,
            revoked: false,
            retired_at: Some(retired_at),
        };
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, retired(2), "bob");
        assert_eq!(opening.status, Verification::Verified);
        for retired_at in [1, 0, -5] {
            let opening = open_envelope(
                &envelope,
                "u_alice",
                &mut ring,
                None,
                retired(retired_at),
                "bob",
            );
            assert_eq!(opening.status, Verification::Unverified, "{retired_at}");
            assert!(opening.reason.unwrap().contains("retired"));
        }
        // Revoked: never verified, whatever the time.
        let revoked = Signer::Key {
            key: k.bob.public_key(),
            trusted: true,
            revoked: true,
            retired_at: Some(i64::MAX),
        };
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, revoked, "bob");
        assert_eq!(opening.status, Verification::Unverified);
        assert!(opening.reason.unwrap().contains("revoked"));
    }

    #[test]
    fn an_unsigned_message_from_a_pinned_contact_is_never_verified() {
        let mut ring = alice_ring();
        let k = keys();
        // Sealed without a signature (v2: the empty signer is bound into the AAD).
        let unsigned = from_bob(&k.alice, "unsigned", false);
        let opening = open_envelope(
            &unsigned,
            "u_alice",
            &mut ring,
            None,
            Signer::NotSigned,
            "bob",
        );
        assert_eq!(opening.status, Verification::Unverified);
        // Even if a caller wrongly passes bob's trusted key, the missing signature is not a verification.
        let opening = open_envelope(&unsigned, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_ne!(opening.status, Verification::Verified);
        assert!(opening.plaintext.is_none());
        // Adding bob's signature to someone else's unsigned envelope does not make it open.
        let signed = from_bob(&k.alice, "unsigned", true);
        let mut grafted = unsigned.clone();
        grafted.signature = signed.signature.clone();
        let opening = open_envelope(&grafted, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_eq!(opening.status, Verification::Failed);
    }

    #[test]
    fn a_message_for_another_key_is_failed_not_dropped() {
        let mut ring = KeyRing::from_keys(clone_key(&keys().bob), vec![]);
        let envelope = from_bob(&keys().alice, "for alice", true);
        // Bob's ring reading as "u_alice": no entry for a key he holds.
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        assert_eq!(opening.status, Verification::Failed);
        assert!(opening.reason.unwrap().contains("not sealed"));
    }

    fn view(envelope: &Envelope) -> MessageView {
        MessageView {
            message_id: "m_1".into(),
            chat_id: "c_1".into(),
            sender_id: "u_bob".into(),
            receiver_id: "u_alice".into(),
            client_message_id: envelope.message_id.clone(),
            envelope: envelope.to_value(),
            created_at: 5,
            read_at: None,
        }
    }

    #[test]
    fn stored_envelopes_are_checked_against_the_metadata() {
        let envelope = from_bob(&keys().alice, "x", true);
        let mut stored = view(&envelope);
        assert!(parse_envelope(&stored).is_ok());
        stored.sender_id = "u_mallory".into();
        assert!(parse_envelope(&stored).unwrap_err().contains("sender"));
        let mut stored = view(&envelope);
        // v1 and v2 are readable; anything else is not.
        stored.envelope["version"] = serde_json::json!(3);
        assert!(parse_envelope(&stored).is_err());
    }

    #[test]
    fn reports_carry_text_or_base64_and_the_status() {
        let envelope = from_bob(&keys().alice, "x", true);
        let stored = view(&envelope);
        let names = |id: &str| (id == "u_bob").then(|| "bob".to_owned());
        let opening = Opening {
            status: Verification::Verified,
            reason: None,
            plaintext: Some(Zeroizing::new(vec![0xff, 0x00])),
            decrypted_with: None,
            header: None,
        };
        let report = report(&stored, "u_alice", &names, None, opening);
        assert!(report.text.is_none());
        assert_eq!(
            report.data_base64.as_deref().map(|s| s.as_str()),
            Some("/wA=")
        );
        assert_eq!(report.sender.as_deref(), Some("bob"));
        assert!(!report.outgoing);
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "verified");
        assert_eq!(json["dataBase64"], "/wA=");
    }

    #[test]
    fn time_and_recipients_come_from_the_authenticated_header() {
        let mut ring = alice_ring();
        let envelope = from_bob(&keys().alice, "x", true);
        let mut stored = view(&envelope);
        // The server's own fields say otherwise.
        stored.created_at = 1_999_999_999_999;
        stored.receiver_id = "u_carol".into();
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        let names = |id: &str| (id == "u_alice").then(|| "alice".to_owned());
        let report = report(&stored, "u_alice", &names, None, opening);
        assert_eq!(report.created_at, Some(1), "the envelope's signed time");
        assert_eq!(report.stored_at, 1_999_999_999_999);
        assert_eq!(
            report.recipients,
            [Participant {
                user_id: "u_alice".into(),
                username: Some("alice".into())
            }]
        );
        // Not opened: no authenticated time or recipients at all.
        let failed_report = super::report(&stored, "u_alice", &names, None, failed("x"));
        assert_eq!(failed_report.created_at, None);
        assert!(failed_report.recipients.is_empty());
    }

    #[test]
    fn debug_never_prints_the_plaintext_and_replays_are_not_verified() {
        let mut ring = alice_ring();
        let envelope = from_bob(&keys().alice, "top secret words", true);
        let opening = open_envelope(&envelope, "u_alice", &mut ring, None, trusted_bob(), "bob");
        let mut report = report(&view(&envelope), "u_alice", &|_: &str| None, None, opening);
        assert_eq!(
            report.text.as_deref().map(String::as_str),
            Some("top secret words")
        );
        let debug = format!("{report:?}");
        assert!(!debug.contains("top secret"), "{debug}");
        assert!(debug.contains("[redacted]"), "{debug}");

        report.mark_replay("m_0");
        assert_eq!(report.status, Verification::Unverified);
        assert_eq!(report.replay_of.as_deref(), Some("m_0"));
        assert!(report.reason.as_deref().unwrap().contains("REPLAY"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["replayOf"], "m_0");
    }
}
