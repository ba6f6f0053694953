//! The offline commands: key generation, fingerprints, seal and open. Each takes its input as a reader
//! and writes to a writer, so the command definitions stay thin.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use e2ee_client::clock::now_millis;
use e2ee_crypto::{
    Envelope, KeySize, MAX_ENVELOPE_BYTES, MAX_PLAINTEXT_BYTES, PrivateKey, PublicKey, Recipient,
    SealParams,
};

use crate::keyfile::{self, Passphrase};

#[derive(Subcommand)]
pub enum OfflineCommand {
    /// Generate an RSA key pair: writes the private key (mode 0600), prints the public key PEM.
    Keygen {
        /// Where to write the private key; must not exist yet.
        #[arg(long)]
        out: PathBuf,
        /// RSA modulus size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Encrypt the private key with the passphrase in this environment variable.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Print the SPKI PEM public key of a private key file.
    Pubkey {
        #[arg(long)]
        key: PathBuf,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Print the key id and the human-readable fingerprint of a public or private key file.
    Fingerprint {
        file: PathBuf,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Encrypt standard input for one or more public keys; writes the envelope JSON to standard output.
    Seal {
        /// A recipient's SPKI PEM public key (repeat for more recipients, including yourself).
        #[arg(long = "to", value_name = "PUB.pem", required = true)]
        to: Vec<PathBuf>,
        /// Sign with this private key (RSA-PSS).
        #[arg(long, value_name = "PRIV.pem")]
        sign_with: Option<PathBuf>,
        /// Passphrase variable for an encrypted --sign-with key.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The sender's user id.
        #[arg(long, default_value = "sender")]
        sender: String,
        /// The user id for each --to key, in the same order (default: each key's id).
        #[arg(long = "recipient", value_name = "ID")]
        recipients: Vec<String>,
        /// The client message id (default: random).
        #[arg(long)]
        message_id: Option<String>,
    },
    /// Decrypt an envelope from standard input; writes the plaintext to standard output.
    Open {
        #[arg(long, value_name = "PRIV.pem")]
        key: PathBuf,
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Require a valid signature by this sender public key.
        #[arg(long, value_name = "SENDER_PUB.pem")]
        verify_with: Option<PathBuf>,
    },
}

/// Runs one offline command on standard input and output.
pub fn run(command: OfflineCommand) -> Result<()> {
    match command {
        OfflineCommand::Keygen {
            out,
            bits,
            passphrase_env,
        } => {
            let passphrase = Passphrase::from_env(passphrase_env.as_deref())?;
            let public = keygen(&out, bits, passphrase.get())?;
            if passphrase.get().is_none() {
                eprintln!(
                    "warning: {} holds the private key unencrypted (no --passphrase-env): anyone who can read \
                     the file can decrypt your messages and sign as you",
                    out.display()
                );
            }
            print!("{public}");
        }
        OfflineCommand::Pubkey {
            key,
            passphrase_env,
        } => {
            let key =
                keyfile::load_private(&key, &Passphrase::from_env(passphrase_env.as_deref())?)?;
            print!("{}", key.public_key().to_spki_pem()?);
        }
        OfflineCommand::Fingerprint {
            file,
            passphrase_env,
        } => {
            let passphrase = Passphrase::from_env(passphrase_env.as_deref())?;
            print!(
                "{}",
                describe(&keyfile::load_any_public(&file, &passphrase)?)
            );
        }
        OfflineCommand::Seal {
            to,
            sign_with,
            passphrase_env,
            sender,
            recipients,
            message_id,
        } => {
            let to = to
                .iter()
                .map(|p| keyfile::load_public(p))
                .collect::<Result<Vec<_>>>()?;
            let passphrase = Passphrase::from_env(passphrase_env.as_deref())?;
            let signer = sign_with
                .map(|p| keyfile::load_private(&p, &passphrase))
                .transpose()?;
            let input = SealInput {
                to: &to,
                recipient_ids: &recipients,
                sender_id: &sender,
                message_id: message_id.as_deref(),
                sign_with: signer.as_ref(),
            };
            seal(&input, io::stdin().lock(), io::stdout().lock())?;
        }
        OfflineCommand::Open {
            key,
            passphrase_env,
            verify_with,
        } => {
            let key =
                keyfile::load_private(&key, &Passphrase::from_env(passphrase_env.as_deref())?)?;
            let verify_with = verify_with.map(|p| keyfile::load_public(&p)).transpose()?;
            open(
                &key,
                verify_with.as_ref(),
                io::stdin().lock(),
                io::stdout().lock(),
            )?;
        }
    }
    Ok(())
}

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
