//! `e2ee`: the command-line client. Crypto happens on this device; see `e2ee --help`.

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use e2ee_client::{keyfile, offline};

#[derive(Parser)]
#[command(
    name = "e2ee",
    version,
    about = "End-to-end encrypted messaging client: keys, seal and open"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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

fn passphrase(var: Option<&String>) -> Result<Option<zeroize::Zeroizing<String>>> {
    var.map(|v| keyfile::passphrase_from_env(v)).transpose()
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen {
            out,
            bits,
            passphrase_env,
        } => {
            let passphrase = passphrase(passphrase_env.as_ref())?;
            print!(
                "{}",
                offline::keygen(&out, bits, passphrase.as_deref().map(String::as_str))?
            );
        }
        Command::Pubkey {
            key,
            passphrase_env,
        } => {
            let passphrase = passphrase(passphrase_env.as_ref())?;
            let key = keyfile::load_private(&key, passphrase.as_deref().map(String::as_str))?;
            print!("{}", key.public_key().to_spki_pem()?);
        }
        Command::Fingerprint {
            file,
            passphrase_env,
        } => {
            let passphrase = passphrase(passphrase_env.as_ref())?;
            let key = keyfile::load_any_public(&file, passphrase.as_deref().map(String::as_str))?;
            print!("{}", offline::describe(&key));
        }
        Command::Seal {
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
            let passphrase = passphrase(passphrase_env.as_ref())?;
            let signer = sign_with
                .map(|p| keyfile::load_private(&p, passphrase.as_deref().map(String::as_str)))
                .transpose()?;
            let input = offline::SealInput {
                to: &to,
                recipient_ids: &recipients,
                sender_id: &sender,
                message_id: message_id.as_deref(),
                sign_with: signer.as_ref(),
            };
            offline::seal(&input, io::stdin().lock(), io::stdout().lock())?;
        }
        Command::Open {
            key,
            passphrase_env,
            verify_with,
        } => {
            let passphrase = passphrase(passphrase_env.as_ref())?;
            let key = keyfile::load_private(&key, passphrase.as_deref().map(String::as_str))?;
            let verify_with = verify_with.map(|p| keyfile::load_public(&p)).transpose()?;
            offline::open(
                &key,
                verify_with.as_ref(),
                io::stdin().lock(),
                io::stdout().lock(),
            )?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line: the context chain joined, never a backtrace.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
