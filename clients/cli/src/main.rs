//! `e2ee`: the command-line client. Crypto happens on this device; see `e2ee --help`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use e2ee_cli::{network, offline};
use e2ee_client::error::{ClientError, exit};

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
        default_value = e2ee_client::profile::DEFAULT_PROFILE,
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
    #[command(flatten)]
    Offline(offline::OfflineCommand),
    #[command(flatten)]
    Network(network::NetworkCommand),
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Offline(command) => offline::run(command),
        Command::Network(command) => {
            let options = network::GlobalOptions {
                server: cli.server,
                profile: cli.profile,
                profile_dir: cli.profile_dir,
                json: cli.json,
            };
            Ok(network::run(&options, command)?)
        }
    }
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
            let message = e2ee_client::text::sanitize_line(&format!("{error:#}"));
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
