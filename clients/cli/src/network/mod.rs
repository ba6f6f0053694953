//! The messaging commands of `e2ee`: secrets, output and exit codes only; the work is in
//! `e2ee_client::device`.

mod args;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use e2ee_client::device::Device;
use e2ee_client::error::{ClientError, Result};
use e2ee_client::keyring::KeyRing;
use e2ee_client::profile::{self, Profile};
use serde::Serialize;
use zeroize::Zeroizing;

pub use args::{DeviceCommand, GroupCommand, KeysCommand, NetworkCommand};

use crate::output;
use crate::secret::{self, StdinUse};

pub struct GlobalOptions {
    pub server: Option<String>,
    pub profile: String,
    pub profile_dir: Option<PathBuf>,
    pub json: bool,
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
    /// The key commands' common start: a session, then the password from `var` if one is named.
    fn for_key_operation(device: &Device, var: Option<&'a str>) -> Result<PasswordSource<'a>> {
        device.require_session()?;
        PasswordSource::new(var)
    }

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

    /// Runs a key operation with the password given so far; when it turns out to need one
    /// ([`ClientError::PasswordRequired`]), asks once and runs it again.
    async fn retry<T>(
        &mut self,
        mut operation: impl AsyncFnMut(Option<&str>) -> Result<T>,
    ) -> Result<T> {
        loop {
            match operation(self.get()).await {
                Err(ClientError::PasswordRequired) if self.ask()? => continue,
                other => return other,
            }
        }
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

/// A device id for a device the user did not name: `d` and 12 random hex digits.
fn random_device_id() -> String {
    format!("d{}", &e2ee_crypto::random_message_id()[..12])
}

/// The MLS commands' common start: a session, then the device's MLS state unlocked.
fn open_mls(
    device: &Device,
    passphrase_env: Option<&str>,
    stdin: StdinUse,
) -> Result<e2ee_client::mls::MlsState> {
    device.require_session()?;
    let passphrase = passphrase(passphrase_env, stdin)?;
    e2ee_client::mls::MlsState::open(device.profile(), passphrase.as_bytes())
}

async fn execute_mls(
    options: &GlobalOptions,
    device: &mut Device,
    command: NetworkCommand,
) -> Result<()> {
    match command {
        NetworkCommand::Device(DeviceCommand::Init {
            device_id,
            passphrase_env,
        }) => {
            device.require_session()?;
            let passphrase = passphrase(passphrase_env.as_deref(), StdinUse::Free)?;
            let ring = device.unlock(passphrase.clone())?;
            let device_id = device_id
                .unwrap_or_else(|| format!("d{}", &e2ee_crypto::random_message_id()[..12]));
            let (_, report) = device
                .device_init(&ring, passphrase.as_bytes(), &device_id)
                .await?;
            emit(options, &report, || output::device_report(&report))
        }
        NetworkCommand::Device(DeviceCommand::Request {
            device_id,
            passphrase_env,
        }) => {
            device.require_session()?;
            let passphrase = secret::obtain(
                passphrase_env.as_deref(),
                "passphrase",
                true,
                StdinUse::Free,
            )?;
            let device_id = device_id.unwrap_or_else(random_device_id);
            let (_, report) = device
                .device_request(passphrase.as_bytes(), &device_id)
                .await?;
            emit(options, &report, || output::device_report(&report))
        }
        NetworkCommand::Device(DeviceCommand::Approve {
            device_id,
            all,
            code,
            passphrase_env,
        }) => {
            device.require_session()?;
            let passphrase = passphrase(passphrase_env.as_deref(), StdinUse::Free)?;
            let ring = device.unlock(passphrase.clone())?;
            let state = e2ee_client::mls::MlsState::open(device.profile(), passphrase.as_bytes())?;
            let reports = device
                .device_approve(&ring, &state, device_id.as_deref(), all, code.as_deref())
                .await?;
            emit(options, &serde_json::json!({ "devices": reports }), || {
                reports.iter().map(output::device_report).collect()
            })
        }
        NetworkCommand::Device(DeviceCommand::Revoke {
            device_id,
            passphrase_env,
        }) => {
            device.require_session()?;
            let passphrase = passphrase(passphrase_env.as_deref(), StdinUse::Free)?;
            let ring = device.unlock(passphrase.clone())?;
            let mut state =
                e2ee_client::mls::MlsState::open(device.profile(), passphrase.as_bytes())?;
            let report = device.device_revoke(&ring, &mut state, &device_id).await?;
            emit(options, &report, || output::device_report(&report))
        }
        NetworkCommand::Device(DeviceCommand::List { user }) => {
            let report = device.device_list(user.as_deref()).await?;
            emit(options, &report, || output::device_list(&report))
        }
        NetworkCommand::Group(GroupCommand::Create {
            name,
            members,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device
                .group_create(&mut state, name.as_deref(), &members)
                .await?;
            emit(options, &report, || output::group_created(&report))
        }
        NetworkCommand::Group(GroupCommand::Add {
            group,
            users,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.group_add(&mut state, &group, &users).await?;
            emit(options, &report, || output::group(&report))
        }
        NetworkCommand::Group(GroupCommand::Remove {
            group,
            users,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.group_remove(&mut state, &group, &users).await?;
            emit(options, &report, || output::group(&report))
        }
        NetworkCommand::Group(GroupCommand::Leave {
            group,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.group_leave(&mut state, &group).await?;
            emit(options, &report, || output::group_left(&report))
        }
        NetworkCommand::Group(GroupCommand::Members {
            group,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.group_members(&mut state, &group).await?;
            emit(options, &report, || output::group(&report))
        }
        NetworkCommand::Group(GroupCommand::List { passphrase_env }) => {
            let state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let groups = device.group_list(&state)?;
            emit(options, &serde_json::json!({ "groups": groups }), || {
                output::group_list(&groups)
            })
        }
        NetworkCommand::Group(GroupCommand::Send {
            group,
            message,
            passphrase_env,
        }) => {
            let stdin = if message.is_some() {
                StdinUse::Free
            } else {
                StdinUse::Busy
            };
            device.require_session()?;
            let text = read_message(message)?;
            let text = std::str::from_utf8(&text)
                .map_err(|_| ClientError::Usage("a group message must be UTF-8 text".into()))?;
            let mut state = open_mls(device, passphrase_env.as_deref(), stdin)?;
            let entry = device.group_send(&mut state, &group, text).await?;
            emit(options, &entry, || {
                format!(
                    "sent to group {group} (epoch {}, seq {})\n",
                    entry.epoch, entry.seq
                )
            })
        }
        NetworkCommand::Group(GroupCommand::Read {
            group,
            all,
            passphrase_env,
        }) => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.group_read(&mut state, &group, all).await?;
            emit(options, &report, || output::group_messages(&report))
        }
        NetworkCommand::Sync { passphrase_env } => {
            let mut state = open_mls(device, passphrase_env.as_deref(), StdinUse::Free)?;
            let report = device.sync(&mut state).await?;
            emit(options, &report, || output::sync(&report))
        }
        _ => Err(ClientError::Usage("not an MLS command".into())),
    }
}

async fn execute(options: &GlobalOptions, command: NetworkCommand) -> Result<()> {
    let mut device = open_device(options)?;
    if matches!(
        command,
        NetworkCommand::Device(_) | NetworkCommand::Group(_) | NetworkCommand::Sync { .. }
    ) {
        return execute_mls(options, &mut device, command).await;
    }
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
            let mut password = PasswordSource::for_key_operation(&device, password_env.as_deref())?;
            // A profile whose key was revoked keeps its passphrase: asked once, like `keys rotate`.
            let confirm = device.profile().current_key().is_none();
            let passphrase = secret::obtain(
                passphrase_env.as_deref(),
                "passphrase",
                confirm,
                StdinUse::Free,
            )?;
            let info = password
                .retry(async |password| {
                    device.keys_init(&passphrase, bits, replace, password).await
                })
                .await?;
            emit(options, &info, || output::key_info(&info))
        }
        NetworkCommand::Keys(KeysCommand::Rotate {
            bits,
            passphrase_env,
            password_env,
        }) => {
            let mut password = PasswordSource::for_key_operation(&device, password_env.as_deref())?;
            let passphrase = passphrase(passphrase_env.as_deref(), StdinUse::Free)?;
            let info = password
                .retry(async |password| device.keys_rotate(&passphrase, bits, password).await)
                .await?;
            emit(options, &info, || output::key_info(&info))
        }
        NetworkCommand::Keys(KeysCommand::Revoke {
            key_id,
            passphrase_env,
            password_env,
        }) => {
            let mut password = PasswordSource::for_key_operation(&device, password_env.as_deref())?;
            // The passphrase unlocks the active key to sign the revocation, if this device has one.
            let passphrase = if device.profile().usable_key().is_some() {
                Some(passphrase(passphrase_env.as_deref(), StdinUse::Free)?)
            } else {
                None
            };
            let passphrase = passphrase.as_deref().map(String::as_str);
            let report = password
                .retry(async |password| device.keys_revoke(&key_id, passphrase, password).await)
                .await?;
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
        NetworkCommand::Device(_) | NetworkCommand::Group(_) | NetworkCommand::Sync { .. } => {
            execute_mls(options, &mut device, command).await
        }
    }
}
