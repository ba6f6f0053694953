//! `e2ee`: the command-line client. Crypto happens on this device; see `e2ee --help`.

mod network;

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use e2ee_client::error::{ClientError, exit};
use e2ee_client::{keyfile, offline};

const AFTER_HELP: &str = "\
Network commands keep their state in a profile directory: <profile-dir>/<profile>/ (default
~/.config/e2ee/default/) holds the private keys (encrypted with your passphrase; old keys are kept after
`keys rotate`), the session token and the pinned keys of your contacts. Keys are generated on this device;
the server only ever sees public keys and sealed envelopes.

Secrets: passwords come from a prompt or --password-env VAR, key passphrases from a prompt or
--passphrase-env VAR (the name of an environment variable holding it). Without a terminal, the first line
of standard input is used.

Exit codes: 0 success, 1 other error, 2 usage, 3 server unreachable, 4 not logged in / session expired /
wrong username or password / session of another server, 5 a contact's key or username <-> user id mapping
changed (nothing sent), 6 wrong passphrase, 7 unknown user or message, 8 rate limited by the server (HTTP
429: too many attempts or a quota; the message says when to retry).";

#[derive(Parser)]
#[command(
    name = "e2ee",
    version,
    about = "End-to-end encrypted messaging client: keys, seal and open, and the messaging commands",
    after_help = AFTER_HELP
)]
struct Cli {
    /// Base URL of the API (default: the server the profile was registered on).
    #[arg(long, global = true, env = "E2EE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// The profile (account on this device) to use.
    #[arg(
        long,
        global = true,
        env = "E2EE_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    profile: String,
    /// The directory that holds the profiles (default: $XDG_CONFIG_HOME/e2ee or ~/.config/e2ee).
    #[arg(long, global = true, env = "E2EE_PROFILE_DIR", value_name = "DIR")]
    profile_dir: Option<PathBuf>,
    /// Print the result as JSON (network commands; errors become one JSON line on stderr).
    #[arg(long, global = true)]
    json: bool,
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
    #[command(flatten)]
    Network(network::NetworkCommand),
}

fn passphrase(var: Option<&String>) -> Result<Option<zeroize::Zeroizing<String>>> {
    var.map(|v| keyfile::passphrase_from_env(v)).transpose()
}

fn run(cli: Cli) -> Result<()> {
    let options = network::GlobalOptions {
        server: cli.server,
        profile: cli.profile,
        profile_dir: cli.profile_dir,
        json: cli.json,
    };
    match cli.command {
        Command::Network(command) => network::run(&options, command)?,
        Command::Keygen {
            out,
            bits,
            passphrase_env,
        } => {
            let passphrase = passphrase(passphrase_env.as_ref())?;
            let public = offline::keygen(&out, bits, passphrase.as_deref().map(String::as_str))?;
            if passphrase.is_none() {
                eprintln!(
                    "warning: {} holds the private key unencrypted (no --passphrase-env): anyone who can read \
                     the file can decrypt your messages and sign as you",
                    out.display()
                );
            }
            print!("{public}");
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
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let client_error = error.downcast_ref::<ClientError>();
            let code = client_error.map_or(exit::OTHER, ClientError::exit_code);
            // One line: the context chain joined, never a backtrace.
            let message = e2ee_client::output::sanitize_line(&format!("{error:#}"));
            if json {
                let kind = client_error.map_or("error", ClientError::code);
                eprintln!(
                    "{}",
                    serde_json::json!({"error": {"code": kind, "message": message, "exitCode": code}})
                );
            } else {
                eprintln!("error: {message}");
            }
            ExitCode::from(code)
        }
    }
}
