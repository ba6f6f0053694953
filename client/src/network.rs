//! The messaging commands of `e2ee`: argument parsing and output only; the work is in `e2ee_client::device`.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Subcommand;
use e2ee_client::device::Device;
use e2ee_client::error::{ClientError, Result};
use e2ee_client::messages::KeyRing;
use e2ee_client::output;
use e2ee_client::profile::{self, Profile};
use e2ee_client::secret::{self, StdinUse};
use serde::Serialize;
use zeroize::Zeroizing;

pub struct GlobalOptions {
    pub server: Option<String>,
    pub profile: String,
    pub profile_dir: Option<PathBuf>,
    pub json: bool,
}

#[derive(Subcommand)]
pub enum NetworkCommand {
    /// Create an account on the server and log in (the session is saved in the profile).
    Register {
        username: String,
        /// Shown to others instead of the username.
        #[arg(long)]
        display_name: Option<String>,
        /// Read the password (at least 10 characters) from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Log in; the session token (valid for up to an hour) is saved in the profile (mode 0600).
    Login {
        username: String,
        /// Read the password from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Forget the session token of the profile.
    Logout,
    /// Your keys and your contacts' keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Seal a message for USER on this device, sign it and send it.
    ///
    /// The message is sealed for USER's active key and for your own key (so your history stays readable),
    /// and signed with your key. Refuses (exit code 5) if USER's key changed since you first saw it.
    Send {
        /// The receiver's username.
        user: String,
        /// The text to send (default: standard input).
        message: Option<String>,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// List your unread messages, decrypted and verified.
    ///
    /// Oldest first. They stay unread unless --mark-read is given (or you `read` them one by one).
    Inbox {
        /// At most this many messages.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// Mark every listed message read.
        #[arg(long)]
        mark_read: bool,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Show one received message and mark it read.
    Read {
        /// The message id (m_...), as `inbox` shows it.
        message_id: String,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
    /// Show the conversation with USER, decrypted and verified.
    ///
    /// Oldest first: the latest --limit messages, or all with --all. Every message says whether it
    /// verified; unreadable ones are shown as failed, never dropped.
    History {
        /// The other user's username.
        user: String,
        /// Show the latest N messages.
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: usize,
        /// Every message of the chat (pages through the whole history).
        #[arg(long)]
        all: bool,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Generate your key pair on this device and register its public key.
    ///
    /// The private key is stored encrypted with a passphrase (asked twice, or --passphrase-env VAR).
    Init {
        /// RSA modulus size: 2048, 3072 or 4096.
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// The passphrase for the new key, from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// Register a new key even if the account already has an active key that is not on this device.
        #[arg(long)]
        replace: bool,
        /// The account password, from this environment variable, when the key change needs it (the
        /// account already has a key and this device does not hold the active one); else it is asked for.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Replace your key with a new one (the old one stays on this device).
    ///
    /// The new key becomes your active key on the server; the old private key is kept so the history
    /// sealed for it stays readable. The new key uses the same passphrase. The change is signed by your
    /// current active key; if this device does not hold it (e.g. it was revoked), your account password is
    /// asked for instead.
    Rotate {
        #[arg(long, default_value_t = 2048)]
        bits: usize,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The account password, from this environment variable, when it is needed (see above).
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Revoke one of your keys: it verifies no message any more and nobody can seal for it.
    ///
    /// Signed by your active key when it is on this device (passphrase), else authorized by your account
    /// password. Revoking your active key leaves the account without one until `keys rotate` or
    /// `keys init`. The private key stays on this device, so what was sealed for it stays readable.
    Revoke {
        /// The key id (64 hex digits, as `e2ee keys show` lists it).
        key_id: String,
        /// Read your key's passphrase from this environment variable instead of a prompt.
        #[arg(long, value_name = "VAR")]
        passphrase_env: Option<String>,
        /// The account password, from this environment variable, when it is needed.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Show this device's keys and fingerprints (and their status on the server).
    Show,
    /// Show USER's fingerprint and whether it changed since first use.
    ///
    /// Compare it with USER over another channel (in person, on a call). If USER's key changed, sending to
    /// them is refused until you accept the new key with --accept.
    Verify {
        /// The contact's username.
        user: String,
        /// Trust USER's current key (after comparing fingerprints).
        #[arg(long)]
        accept: bool,
    },
}

pub fn run(options: &GlobalOptions, command: NetworkCommand) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ClientError::io("cannot start the async runtime", e))?;
    runtime.block_on(execute(options, command))
}

fn open_device(options: &GlobalOptions) -> Result<Device> {
    let root = match &options.profile_dir {
        Some(dir) => dir.clone(),
        None => profile::default_root()?,
    };
    let profile = Profile::open(&root, &options.profile)?;
    Device::open(profile, options.server.as_deref())
}

fn emit<T: Serialize>(
    options: &GlobalOptions,
    value: &T,
    human: impl FnOnce() -> String,
) -> Result<()> {
    let text = if options.json {
        let mut json = serde_json::to_string(value)
            .map_err(|e| ClientError::Usage(format!("cannot encode the output: {e}")))?;
        json.push('\n');
        json
    } else {
        human()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| ClientError::io("cannot write to standard output", e))
}

fn passphrase(var: Option<&str>, stdin: StdinUse) -> Result<Zeroizing<String>> {
    secret::obtain(var, "passphrase", false, stdin)
}

/// The reading commands' common start: a session, then the device's keys unlocked.
fn unlock_for_reading(device: &Device, passphrase_env: Option<&str>) -> Result<KeyRing> {
    device.require_session()?;
    device.unlock(passphrase(passphrase_env, StdinUse::Free)?)
}

/// The account password for a key operation: from `var` at once if given, else asked for only when the
/// operation turns out to need it ([`ClientError::PasswordRequired`]).
struct PasswordSource<'a> {
    var: Option<&'a str>,
    password: Option<Zeroizing<String>>,
}

impl<'a> PasswordSource<'a> {
    fn new(var: Option<&'a str>) -> Result<PasswordSource<'a>> {
        let password = var
            .map(|var| secret::from_env(var, "password"))
            .transpose()?;
        Ok(PasswordSource { var, password })
    }

    fn get(&self) -> Option<&str> {
        self.password.as_deref().map(String::as_str)
    }

    /// After a [`ClientError::PasswordRequired`]: asks once (prompt, or a line of standard input). Returns
    /// false if a password was already given (the error stands).
    fn ask(&mut self) -> Result<bool> {
        if self.password.is_some() {
            return Ok(false);
        }
        if std::io::stdin().is_terminal() {
            eprintln!(
                "this device does not hold your account's active key: your account password authorizes the change"
            );
        }
        self.password = Some(secret::obtain(self.var, "password", false, StdinUse::Free)?);
        Ok(true)
    }
}

fn positive_limit(limit: usize) -> Result<()> {
    if limit == 0 {
        return Err(ClientError::Usage("--limit must be at least 1".into()));
    }
    Ok(())
}

fn read_message(message: Option<String>) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = match message {
        Some(text) => Zeroizing::new(text.into_bytes()),
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!("type the message, then Ctrl-D:");
            }
            let mut buffer = Zeroizing::new(Vec::new());
            std::io::stdin()
                .lock()
                .take(e2ee_crypto::MAX_PLAINTEXT_BYTES as u64 + 1)
                .read_to_end(&mut buffer)
                .map_err(|e| ClientError::io("cannot read the message from standard input", e))?;
            buffer
        }
    };
    if bytes.len() > e2ee_crypto::MAX_PLAINTEXT_BYTES {
        return Err(ClientError::Usage(format!(
            "the message is larger than {} bytes",
            e2ee_crypto::MAX_PLAINTEXT_BYTES
        )));
    }
    if bytes.is_empty() {
        return Err(ClientError::Usage(
            "the message is empty: nothing to send".into(),
        ));
    }
    Ok(bytes)
}

async fn execute(options: &GlobalOptions, command: NetworkCommand) -> Result<()> {
    let mut device = open_device(options)?;
    match command {
        NetworkCommand::Register {
            username,
            display_name,
            password_env,
        } => {
            let password =
                secret::obtain(password_env.as_deref(), "password", true, StdinUse::Free)?;
            let account = device.register(&username, password, display_name).await?;
            emit(options, &account, || output::account(&account, true))
        }
        NetworkCommand::Login {
            username,
            password_env,
        } => {
            let password =
                secret::obtain(password_env.as_deref(), "password", false, StdinUse::Free)?;
            let account = device.login(&username, password).await?;
            emit(options, &account, || output::account(&account, false))
        }
        NetworkCommand::Logout => {
            device.logout()?;
            emit(options, &serde_json::json!({"loggedOut": true}), || {
                "logged out: the session token is deleted\n".into()
            })
        }
        NetworkCommand::Keys(KeysCommand::Init {
            bits,
            passphrase_env,
            replace,
            password_env,
        }) => {
            device.require_session()?;
            let mut password = PasswordSource::new(password_env.as_deref())?;
            // A profile whose key was revoked keeps its passphrase: asked once, like `keys rotate`.
            let confirm = device.profile().current_key().is_none();
            let passphrase = secret::obtain(
                passphrase_env.as_deref(),
                "passphrase",
                confirm,
                StdinUse::Free,
            )?;
            let info = loop {
                match device
                    .keys_init(&passphrase, bits, replace, password.get())
                    .await
                {
                    Err(ClientError::PasswordRequired) if password.ask()? => continue,
                    other => break other?,
                }
            };
            emit(options, &info, || output::key_info(&info))
        }
        NetworkCommand::Keys(KeysCommand::Rotate {
            bits,
            passphrase_env,
            password_env,
        }) => {
            device.require_session()?;
            let mut password = PasswordSource::new(password_env.as_deref())?;
            let passphrase = passphrase(passphrase_env.as_deref(), StdinUse::Free)?;
            let info = loop {
                match device.keys_rotate(&passphrase, bits, password.get()).await {
                    Err(ClientError::PasswordRequired) if password.ask()? => continue,
                    other => break other?,
                }
            };
            emit(options, &info, || output::key_info(&info))
        }
        NetworkCommand::Keys(KeysCommand::Revoke {
            key_id,
            passphrase_env,
            password_env,
        }) => {
            device.require_session()?;
            let mut password = PasswordSource::new(password_env.as_deref())?;
            // The passphrase unlocks the active key to sign the revocation, if this device has one.
            let passphrase = if device.profile().usable_key().is_some() {
                Some(passphrase(passphrase_env.as_deref(), StdinUse::Free)?)
            } else {
                None
            };
            let report = loop {
                match device
                    .keys_revoke(
                        &key_id,
                        passphrase.as_deref().map(String::as_str),
                        password.get(),
                    )
                    .await
                {
                    Err(ClientError::PasswordRequired) if password.ask()? => continue,
                    other => break other?,
                }
            };
            emit(options, &report, || output::revoked(&report))
        }
        NetworkCommand::Keys(KeysCommand::Show) => {
            let report = device.keys_show().await;
            emit(options, &report, || output::keys(&report))
        }
        NetworkCommand::Keys(KeysCommand::Verify { user, accept }) => {
            let report = device.verify_contact(&user, accept).await?;
            emit(options, &report, || output::contact(&report))
        }
        NetworkCommand::Send {
            user,
            message,
            passphrase_env,
        } => {
            let stdin = if message.is_some() {
                StdinUse::Free
            } else {
                StdinUse::Busy
            };
            device.require_session()?;
            let plaintext = read_message(message)?;
            let ring = device.unlock(passphrase(passphrase_env.as_deref(), stdin)?)?;
            let report = device.send(&ring, &user, &plaintext).await?;
            emit(options, &report, || output::sent(&report))
        }
        NetworkCommand::Inbox {
            limit,
            mark_read,
            passphrase_env,
        } => {
            positive_limit(limit)?;
            let mut ring = unlock_for_reading(&device, passphrase_env.as_deref())?;
            let reports = device.inbox(&mut ring, limit, mark_read).await?;
            emit(options, &serde_json::json!({ "messages": reports }), || {
                output::inbox(&reports, mark_read)
            })
        }
        NetworkCommand::Read {
            message_id,
            passphrase_env,
        } => {
            let mut ring = unlock_for_reading(&device, passphrase_env.as_deref())?;
            let report = device.read(&mut ring, &message_id).await?;
            emit(options, &report, || output::read(&report))
        }
        NetworkCommand::History {
            user,
            limit,
            all,
            passphrase_env,
        } => {
            positive_limit(limit)?;
            let mut ring = unlock_for_reading(&device, passphrase_env.as_deref())?;
            let report = device.history(&mut ring, &user, limit, all).await?;
            emit(options, &report, || output::history(&report))
        }
    }
}
