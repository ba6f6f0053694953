//! Runs the `e2ee` binary as a user would (arguments, standard input, environment) and checks what it
//! prints: success, a one-line `error: ...` failure with its exit code, `--json` output.
//!
//! [`Cli`] runs the binary with a fixed environment; [`Profiles`] is the sandbox of the end-to-end tests: its
//! own profile directory, a server, and the password and passphrase variables below ([`secret`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::env::Served;
use crate::random_hex;

/// The variable for `--password-env`: every [`Profiles`] run has it set to the accounts' password.
pub const PASSWORD: &str = "E2E_TEST_PASSWORD";
/// The variable for `--passphrase-env`: every [`Profiles`] run has it set to the keys' passphrase.
pub const PASSPHRASE: &str = "E2E_TEST_PASSPHRASE";
/// A variable every [`Profiles`] run has set to a wrong passphrase (or password).
pub const WRONG_PASSPHRASE: &str = "E2E_TEST_WRONG_PASSPHRASE";

/// The value of [`PASSWORD`], [`PASSPHRASE`] or [`WRONG_PASSPHRASE`] in a [`Profiles`] run.
pub fn secret(var: &str) -> &'static str {
    match var {
        PASSWORD => "a long enough password",
        PASSPHRASE => "the right passphrase",
        WRONG_PASSPHRASE => "not the passphrase",
        _ => panic!("{var} is not a variable Profiles sets"),
    }
}

/// The `e2ee` binary for a test outside its package: `$E2EE_CLI`, else `target/<profile>/e2ee` next to
/// `target/<profile>/deps/<this test>` (`cargo build --bins` builds it; scripts/test.sh does). A test in the
/// package that defines the binary passes `env!("CARGO_BIN_EXE_e2ee")` to [`Cli::new`] instead.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("E2EE_CLI") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join(format!("e2ee{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} not found: build it first (cargo build -p e2ee-cli --bin e2ee) or set E2EE_CLI",
        binary.display()
    );
    binary
}

/// The binary and the environment every run gets (on top of the test's own).
#[derive(Debug, Clone)]
pub struct Cli {
    binary: PathBuf,
    set: Vec<(String, String)>,
    removed: Vec<String>,
}

impl Cli {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Cli {
            binary: binary.into(),
            set: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// Every run gets `name=value`.
    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set.push((name.to_owned(), value.into()));
        self
    }

    /// No run inherits `name` from the test's environment.
    pub fn env_remove(mut self, name: &str) -> Self {
        self.removed.push(name.to_owned());
        self
    }

    /// Runs `e2ee args...` with `stdin` on standard input and `env` on top of this runner's environment.
    pub fn run(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(&self.binary);
        for name in &self.removed {
            command.env_remove(name);
        }
        let mut child = command
            .args(args)
            .envs(self.set.iter().map(|(k, v)| (k, v)))
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.binary.display()));
        // A command may exit (e.g. on an error) before reading its input: a broken pipe is fine.
        if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
        }
        child.wait_with_output().unwrap()
    }
}

/// The command succeeded; returns its standard output.
#[track_caller]
pub fn ok(output: Output) -> Vec<u8> {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The command failed (any non-zero exit) with one `error: ...` line on stderr; returns it.
#[track_caller]
pub fn failure(output: Output) -> String {
    assert!(
        !output.status.success(),
        "expected failure, got stdout {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    one_line_error(output.stderr)
}

/// The command failed with exit code `code`, one `error: ...` line on stderr and nothing on stdout; returns
/// the line. `what` names the command in the failure message.
#[track_caller]
pub fn fails_with(output: Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "e2ee {what}: stderr {stderr:?}, stdout {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
    let stderr = one_line_error(stderr.into_bytes());
    assert!(output.stdout.is_empty());
    stderr
}

#[track_caller]
fn one_line_error(stderr: Vec<u8>) -> String {
    let stderr = String::from_utf8(stderr).unwrap();
    assert_eq!(
        stderr.lines().count(),
        1,
        "one-line error expected: {stderr:?}"
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    stderr
}

/// The command succeeded and printed JSON; returns it. `what` names the command in the failure message.
#[track_caller]
pub fn json_output(output: Output, what: &str) -> Value {
    assert!(
        output.status.success(),
        "e2ee {what} failed ({:?}): {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// (username, user id, fingerprint) of an account [`Profiles::account`] registered.
pub type Signup = (String, String, String);

/// A sandbox of CLI profiles against one server: every run gets `--profile NAME`, `E2EE_PROFILE_DIR` (a
/// temporary directory of its own), `E2EE_SERVER`, and [`PASSWORD`], [`PASSPHRASE`], [`WRONG_PASSPHRASE`] set
/// to their [`secret`]s.
pub struct Profiles {
    cli: Cli,
    server: String,
    dir: tempfile::TempDir,
}

impl Profiles {
    pub fn new(binary: impl Into<PathBuf>, server: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cli = Cli::new(binary)
            .env("E2EE_SERVER", server)
            .env("E2EE_PROFILE_DIR", dir.path().to_str().unwrap())
            .env_remove("E2EE_PROFILE");
        for var in [PASSWORD, PASSPHRASE, WRONG_PASSPHRASE] {
            cli = cli.env(var, secret(var));
        }
        Profiles {
            cli,
            server: server.to_owned(),
            dir,
        }
    }

    /// The sandbox for the served API ([`binary`] against [`crate::env::served`]), under the CI rule.
    pub fn served() -> Option<(Profiles, Served)> {
        let served = crate::env::served()?;
        Some((Profiles::new(binary(), &served.base), served))
    }

    /// [`Profiles::served`] with one [`Profiles::account`] per name, each in the profile of that name:
    /// (username, user id, fingerprint) of each.
    pub fn served_with<const N: usize>(
        names: [&str; N],
    ) -> Option<(Profiles, Served, [Signup; N])> {
        let (profiles, served) = Profiles::served()?;
        let accounts = names.map(|name| profiles.account(name, name));
        Some((profiles, served, accounts))
    }

    /// `E2EE_PROFILE_DIR`: each profile is a directory in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server every profile starts with.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Runs `e2ee --profile <profile> args...` with `stdin` on standard input.
    pub fn run(&self, profile: &str, args: &[&str], stdin: &[u8]) -> Output {
        self.cli
            .run(&[&["--profile", profile], args].concat(), stdin, &[])
    }

    /// Runs with `--json` and returns the parsed output; the command must succeed.
    #[track_caller]
    pub fn json(&self, profile: &str, args: &[&str]) -> Value {
        self.json_with_stdin(profile, args, b"")
    }

    #[track_caller]
    pub fn json_with_stdin(&self, profile: &str, args: &[&str], stdin: &[u8]) -> Value {
        let output = self.run(profile, &[&["--json"], args].concat(), stdin);
        json_output(output, &format!("--profile {profile} {args:?}"))
    }

    /// Runs the command in human mode; it must succeed. Returns stdout.
    #[track_caller]
    pub fn text(&self, profile: &str, args: &[&str]) -> String {
        let output = self.run(profile, args, b"");
        assert!(
            output.status.success(),
            "e2ee --profile {profile} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The command must fail with exit code `code` and one `error: ...` line on stderr, nothing on stdout.
    #[track_caller]
    pub fn fails(&self, profile: &str, args: &[&str], code: i32) -> String {
        fails_with(self.run(profile, args, b""), code, &format!("{args:?}"))
    }

    /// A registered account `<name>_<random>` with a key, in `profile`.
    #[track_caller]
    pub fn account(&self, profile: &str, name: &str) -> Signup {
        let username = format!("{name}_{}", random_hex(4));
        let registered = self.json(
            profile,
            &["register", &username, "--password-env", PASSWORD],
        );
        assert_eq!(registered["username"], username.as_str());
        let user_id = registered["userId"].as_str().unwrap().to_owned();
        let key = self.json(profile, &unlocked(&["keys", "init"]));
        let fingerprint = key["fingerprint"].as_str().unwrap().to_owned();
        (username, user_id, fingerprint)
    }

    /// `send <to> <text>`, signed with the profile's key.
    #[track_caller]
    pub fn send(&self, profile: &str, to: &str, text: &str) -> Value {
        self.json(profile, &unlocked(&["send", to, text]))
    }

    /// The whole chat with `with`, oldest first.
    #[track_caller]
    pub fn history(&self, profile: &str, with: &str) -> Vec<Value> {
        let history = self.json(profile, &unlocked(&["history", with, "--all"]));
        history["messages"].as_array().unwrap().clone()
    }

    /// The unread messages (`extra`: more `inbox` options).
    #[track_caller]
    pub fn inbox(&self, profile: &str, extra: &[&str]) -> Vec<Value> {
        let inbox = self.json(profile, &[&unlocked(&["inbox"]), extra].concat());
        inbox["messages"].as_array().unwrap().clone()
    }
}

/// `args` with `--passphrase-env` [`PASSPHRASE`]: the command unlocks the profile's key.
pub fn unlocked<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [args, &["--passphrase-env", PASSPHRASE]].concat()
}

/// The `reason` of a listed message (why it is not verified) names `why`.
#[track_caller]
pub fn assert_reason(message: &Value, why: &str) {
    let reason = message["reason"].as_str().unwrap();
    assert!(reason.contains(why), "{message}");
}

/// A listed message that did not open: its `reason` names `why`, and it shows no text.
#[track_caller]
pub fn assert_withheld(message: &Value, why: &str) {
    assert_reason(message, why);
    assert!(message.get("text").is_none(), "{message}");
}

/// The `text` of each listed message (`<none>` where it did not open).
pub fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("<none>"))
        .collect()
}

/// The `status` of each listed message (`verified`, `unverified`, `failed`).
pub fn statuses(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect()
}
