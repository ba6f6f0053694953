//! The offline commands: key generation, fingerprints, seal and open. Each takes its input as a reader
//! and writes to a writer, so the binary stays a thin argument parser.

use std::io::{Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use e2ee_crypto::{
    Envelope, KeySize, MAX_ENVELOPE_BYTES, MAX_PLAINTEXT_BYTES, PrivateKey, PublicKey, Recipient,
    SealParams,
};

use crate::keyfile;

/// Generates a key pair, writes the private key to `out` (0600, encrypted when a passphrase is given) and
/// returns the public key PEM.
pub fn keygen(out: &Path, bits: usize, passphrase: Option<&str>) -> Result<String> {
    let key = PrivateKey::generate(KeySize::from_bits(bits)?)?;
    let pem = match passphrase {
        Some(passphrase) => key.to_encrypted_pkcs8_pem(passphrase.as_bytes())?,
        None => key.to_pkcs8_pem()?,
    };
    keyfile::write_private(out, &pem)?;
    Ok(key.public_key().to_spki_pem()?)
}

/// `key id` and `fingerprint` lines for a public key.
pub fn describe(key: &PublicKey) -> String {
    format!(
        "key id:      {}\nfingerprint: {}\nbits:        {}\n",
        key.key_id(),
        key.key_id().fingerprint(),
        key.size().bits()
    )
}

pub struct SealInput<'a> {
    pub to: &'a [PublicKey],
    /// User ids for the `to` keys, in the same order; empty means "use each key's id".
    pub recipient_ids: &'a [String],
    pub sender_id: &'a str,
    pub message_id: Option<&'a str>,
    pub sign_with: Option<&'a PrivateKey>,
}

pub fn seal(input: &SealInput<'_>, plaintext: impl Read, out: impl Write) -> Result<()> {
    if input.to.is_empty() {
        bail!("at least one --to key is needed");
    }
    if !input.recipient_ids.is_empty() && input.recipient_ids.len() != input.to.len() {
        bail!("give one --recipient per --to key (or none)");
    }
    let plaintext = read_limited(plaintext, MAX_PLAINTEXT_BYTES, "plaintext")?;
    let key_ids: Vec<String> = input.to.iter().map(|k| k.key_id().to_string()).collect();
    let ids = if input.recipient_ids.is_empty() {
        &key_ids
    } else {
        input.recipient_ids
    };
    let recipients: Vec<Recipient<'_>> = input
        .to
        .iter()
        .zip(ids)
        .map(|(key, user_id)| Recipient { user_id, key })
        .collect();
    let message_id = input
        .message_id
        .map(str::to_owned)
        .unwrap_or_else(e2ee_crypto::random_message_id);
    let envelope = e2ee_crypto::seal(
        &plaintext,
        &SealParams {
            sender_id: input.sender_id,
            message_id: &message_id,
            created_at: now_millis(),
            recipients: &recipients,
            sign_with: input.sign_with,
        },
    )?;
    write_all(out, format!("{}\n", envelope.to_json()).as_bytes())
}

pub fn open(
    key: &PrivateKey,
    verify_with: Option<&PublicKey>,
    envelope: impl Read,
    out: impl Write,
) -> Result<()> {
    let json = read_limited(envelope, MAX_ENVELOPE_BYTES, "envelope")?;
    let envelope = Envelope::from_json(&json)?;
    let opened = e2ee_crypto::open(&envelope, key, verify_with)?;
    write_all(out, &opened.plaintext)
}

fn read_limited(mut input: impl Read, limit: usize, what: &str) -> Result<Vec<u8>> {
    let mut buffer = Vec::new();
    input
        .by_ref()
        .take(limit as u64 + 1)
        .read_to_end(&mut buffer)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    if buffer.len() > limit {
        bail!("the {what} is larger than {limit} bytes");
    }
    Ok(buffer)
}

fn write_all(mut out: impl Write, bytes: &[u8]) -> Result<()> {
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .context("cannot write to standard output")
}

pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
