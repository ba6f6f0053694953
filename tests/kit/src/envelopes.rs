//! Client-side envelopes between test users, sealed and opened as the SDK does.

use e2ee_crypto::{Envelope, PrivateKey, PublicKey, Recipient, SealParams};
use serde_json::Value;

use crate::User;

/// The `createdAt` of the envelopes [`envelope`] seals (2025-11-26, safely in the past).
pub const CREATED_AT: u64 = 1_764_145_653_000;

/// `plaintext` sealed by `sender_id` for `recipients` (user id and key), signed by `sign_with` when given,
/// as the JSON the API takes.
pub fn seal_json(
    plaintext: &[u8],
    sender_id: &str,
    recipients: &[(&str, &PublicKey)],
    message_id: &str,
    created_at: u64,
    sign_with: Option<&PrivateKey>,
) -> Value {
    let recipients: Vec<Recipient<'_>> = recipients
        .iter()
        .map(|&(user_id, key)| Recipient { user_id, key })
        .collect();
    let params = SealParams {
        sender_id,
        message_id,
        created_at,
        recipients: &recipients,
        sign_with,
    };
    e2ee_crypto::seal(plaintext, &params).unwrap().to_value()
}

/// `plaintext` from `from` to `to`, wrapped for both (the sender keeps the history readable), signed by
/// `from`'s key when `signed`.
pub fn seal_between(
    from: &User,
    to: &User,
    plaintext: &[u8],
    message_id: &str,
    signed: bool,
) -> Value {
    seal_json(
        plaintext,
        &from.id,
        &[
            (&to.id, to.key.public_key()),
            (&from.id, from.key.public_key()),
        ],
        message_id,
        CREATED_AT,
        signed.then_some(&from.key),
    )
}

/// A text envelope from `from` to `to`, as our SDK would build it.
pub fn envelope(from: &User, to: &User, text: &str, message_id: &str, signed: bool) -> Value {
    seal_between(from, to, text.as_bytes(), message_id, signed)
}

/// Opens `envelope` with `reader`'s key, verifying `sender`'s signature, and returns the text.
pub fn open_text(reader: &User, sender: &User, envelope: &Value) -> String {
    let envelope = Envelope::from_json(envelope.to_string().as_bytes()).unwrap();
    let opened = e2ee_crypto::open(&envelope, &reader.key, Some(sender.key.public_key())).unwrap();
    String::from_utf8(opened.plaintext.to_vec()).unwrap()
}
