//! The `e2ee` command against the real served API (`cargo lambda watch`, started by scripts/test.sh), driven
//! as a user would: the demo flow (two users chat both ways, rotate a key, still read the old history), a
//! contact's key change (sending refuses until accepted), envelopes tampered with in the server's database
//! (shown as failed, never as text), wrong passphrases (a clean error, nothing happens), key revocation and
//! recovery with the password, rate limits, and the session token staying with its server.
//!
//! Needs E2EE_SERVER (base URL) and E2EE_DATA_DIR (the SQLite directory the server uses); in CI (CI=true)
//! their absence fails the test. The `e2ee` binary is the one next to this test's build (`cargo build --bins`
//! builds it; scripts/test.sh does) or the path in E2EE_CLI.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

const PASSWORD: &str = "E2E_TEST_PASSWORD";
const PASSPHRASE: &str = "E2E_TEST_PASSPHRASE";
const WRONG_PASSPHRASE: &str = "E2E_TEST_WRONG_PASSPHRASE";

fn environment() -> Option<(String, PathBuf)> {
    match (std::env::var("E2EE_SERVER"), std::env::var("E2EE_DATA_DIR")) {
        (Ok(server), Ok(dir)) => Some((server, PathBuf::from(dir))),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("E2EE_SERVER and E2EE_DATA_DIR must be set in CI")
        }
        _ => {
            eprintln!(
                "skipping: run through scripts/test.sh (needs E2EE_SERVER and E2EE_DATA_DIR)"
            );
            None
        }
    }
}

/// `target/<profile>/e2ee`, next to `target/<profile>/deps/<this test>`.
fn cli_binary() -> PathBuf {
    if let Ok(path) = std::env::var("E2EE_CLI") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = dir.join(format!("e2ee{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} not found: build it first (cargo build -p e2ee-client --bin e2ee) or set E2EE_CLI",
        binary.display()
    );
    binary
}

fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// One sandbox: a profile directory of its own, the server, the binary.
struct Cli {
    binary: PathBuf,
    server: String,
    data_dir: PathBuf,
    profiles: tempfile::TempDir,
}

impl Cli {
    fn new() -> Option<Cli> {
        let (server, data_dir) = environment()?;
        Some(Cli {
            binary: cli_binary(),
            server,
            data_dir,
            profiles: tempfile::tempdir().unwrap(),
        })
    }

    fn run(&self, profile: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(&self.binary)
            .arg("--profile")
            .arg(profile)
            .args(args)
            .env("E2EE_SERVER", &self.server)
            .env("E2EE_PROFILE_DIR", self.profiles.path())
            .env_remove("E2EE_PROFILE")
            .env(PASSWORD, "a long enough password")
            .env(PASSPHRASE, "the right passphrase")
            .env(WRONG_PASSPHRASE, "not the passphrase")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A command may exit (e.g. on an error) before reading its input: a broken pipe is fine.
        if let Err(error) = child.stdin.take().unwrap().write_all(stdin) {
            assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe, "{error}");
        }
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json` and returns the parsed output; the command must succeed.
    fn json(&self, profile: &str, args: &[&str]) -> Value {
        self.json_with_stdin(profile, args, b"")
    }

    fn json_with_stdin(&self, profile: &str, args: &[&str], stdin: &[u8]) -> Value {
        let output = self.run(profile, &[&["--json"], args].concat(), stdin);
        assert!(
            output.status.success(),
            "e2ee --profile {profile} {args:?} failed ({:?}): {}",
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

    /// Runs the command in human mode; it must succeed. Returns stdout.
    fn text(&self, profile: &str, args: &[&str]) -> String {
        let output = self.run(profile, args, b"");
        assert!(
            output.status.success(),
            "e2ee --profile {profile} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// The command must fail with exit code `code` and one `error: ...` line on stderr, nothing on stdout.
    fn fails(&self, profile: &str, args: &[&str], code: i32) -> String {
        let output = self.run(profile, args, b"");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "e2ee {args:?}: stderr {stderr:?}, stdout {:?}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert_eq!(
            stderr.lines().count(),
            1,
            "one-line error expected: {stderr:?}"
        );
        assert!(stderr.starts_with("error: "), "{stderr:?}");
        assert!(output.stdout.is_empty());
        stderr
    }

    /// A registered account with a key, in its own profile; returns (username, user id, fingerprint).
    fn account(&self, profile: &str, name: &str) -> (String, String, String) {
        let username = format!("{name}_{}", random_hex(4));
        let registered = self.json(
            profile,
            &["register", &username, "--password-env", PASSWORD],
        );
        assert_eq!(registered["username"], username.as_str());
        let user_id = registered["userId"].as_str().unwrap().to_owned();
        let key = self.json(profile, &["keys", "init", "--passphrase-env", PASSPHRASE]);
        let fingerprint = key["fingerprint"].as_str().unwrap().to_owned();
        (username, user_id, fingerprint)
    }

    fn send(&self, profile: &str, to: &str, text: &str) -> Value {
        self.json(profile, &["send", to, text, "--passphrase-env", PASSPHRASE])
    }

    fn history(&self, profile: &str, with: &str) -> Vec<Value> {
        let history = self.json(
            profile,
            &["history", with, "--all", "--passphrase-env", PASSPHRASE],
        );
        history["messages"].as_array().unwrap().clone()
    }

    fn inbox(&self, profile: &str, extra: &[&str]) -> Vec<Value> {
        let inbox = self.json(
            profile,
            &[&["inbox", "--passphrase-env", PASSPHRASE], extra].concat(),
        );
        inbox["messages"].as_array().unwrap().clone()
    }
}

fn texts(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["text"].as_str().unwrap_or("<none>"))
        .collect()
}

fn statuses(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect()
}

#[test]
fn demo_flow_two_users_chat_rotate_a_key_and_still_read_the_history() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let marker = random_hex(8);
    let (alice, alice_id, alice_fp) = cli.account("alice", "alice");
    let (bob, bob_id, bob_fp) = cli.account("bob", "bob");

    // The profile keeps the key encrypted, owner-only.
    let keys = cli.json("alice", &["keys", "show"]);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["fingerprint"], alice_fp.as_str());
    assert_eq!(keys["keys"][0]["serverStatus"], "active");
    let key_file = cli.profiles.path().join("alice/keys").join(format!(
        "{}.key",
        keys["keys"][0]["keyId"].as_str().unwrap()
    ));
    let pem = std::fs::read_to_string(&key_file).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key_file), 0o600);
        assert_eq!(mode(&cli.profiles.path().join("alice/session.json")), 0o600);
        assert_eq!(mode(&cli.profiles.path().join("alice")), 0o700);
    }

    // Bob compares alice's fingerprint (first use pins it).
    let verify = cli.json("bob", &["keys", "verify", &alice]);
    assert_eq!(verify["status"], "new");
    assert_eq!(verify["fingerprint"], alice_fp.as_str());
    assert_eq!(verify["myFingerprint"], bob_fp.as_str());

    // Alice → Bob.
    let first = format!("hello bob, secret {marker}");
    let sent = cli.send("alice", &bob, &first);
    assert_eq!(sent["to"]["userId"], bob_id.as_str());
    let first_id = sent["messageId"].as_str().unwrap().to_owned();

    // Bob's inbox: verified, still unread until read.
    for _ in 0..2 {
        let inbox = cli.inbox("bob", &[]);
        assert_eq!(texts(&inbox), [first.as_str()]);
        assert_eq!(statuses(&inbox), ["verified"]);
        assert_eq!(inbox[0]["sender"], alice.as_str());
    }
    let read = cli.json("bob", &["read", &first_id, "--passphrase-env", PASSPHRASE]);
    assert_eq!(read["message"]["text"], first.as_str());
    assert!(read["readAt"].is_i64());
    assert!(cli.inbox("bob", &[]).is_empty());

    // Bob → Alice, the text on standard input; Alice reads and marks read.
    let reply = format!("hi alice, secret {marker}\nsecond line");
    cli.json_with_stdin(
        "bob",
        &["send", &alice, "--passphrase-env", PASSPHRASE],
        reply.as_bytes(),
    );
    let inbox = cli.inbox("alice", &["--mark-read"]);
    assert_eq!(texts(&inbox), [reply.as_str()]);
    assert_eq!(statuses(&inbox), ["verified"]);
    assert!(inbox[0]["readAt"].is_i64());
    assert!(cli.inbox("alice", &[]).is_empty());

    // Both histories: both messages, in order, verified (reading them again is no replay).
    for (profile, with) in [("alice", &bob), ("bob", &alice)] {
        let history = cli.history(profile, with);
        assert_eq!(texts(&history), [first.as_str(), reply.as_str()]);
        assert_eq!(statuses(&history), ["verified", "verified"]);
        assert!(history.iter().all(|m| m.get("replayOf").is_none()));
    }
    // Time and recipients are the envelope's signed ones.
    let history = cli.history("alice", &bob);
    assert_eq!(history[0]["recipients"][0]["userId"], bob_id.as_str());
    assert_eq!(history[0]["recipients"][0]["username"], bob.as_str());
    assert_eq!(history[1]["recipients"][0]["userId"], alice_id.as_str());
    let signed = history[0]["createdAt"].as_i64().unwrap();
    let stored = history[0]["storedAt"].as_i64().unwrap();
    assert!((signed - stored).abs() < 60_000, "{signed} vs {stored}");
    let human = cli.text("alice", &["history", &bob, "--passphrase-env", PASSPHRASE]);
    assert!(
        human.contains("(verified)") && human.contains(&first),
        "{human}"
    );

    // Alice rotates her key; the old one stays on the device and still opens the old history.
    let old_key = keys["keys"][0]["keyId"].as_str().unwrap().to_owned();
    let rotated = cli.json("alice", &["keys", "rotate", "--passphrase-env", PASSPHRASE]);
    assert_eq!(rotated["previousKeyId"], old_key.as_str());
    let new_key = rotated["keyId"].as_str().unwrap().to_owned();
    let keys = cli.json("alice", &["keys", "show"]);
    let listed: Vec<(&str, &str)> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["keyId"].as_str().unwrap(),
                k["serverStatus"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [(new_key.as_str(), "active"), (old_key.as_str(), "retired")]
    );
    let history = cli.history("alice", &bob);
    assert_eq!(texts(&history), [first.as_str(), reply.as_str()]);
    assert_eq!(statuses(&history), ["verified", "verified"]);
    assert!(
        history
            .iter()
            .all(|m| m["decryptedWithKeyId"] == old_key.as_str())
    );

    // Bob pinned alice's old key: sending refuses until he accepts the new one.
    let refused = cli.fails(
        "bob",
        &["send", &alice, "x", "--passphrase-env", PASSPHRASE],
        5,
    );
    assert!(refused.contains(&alice_fp), "{refused}");
    assert!(
        refused.contains(rotated["fingerprint"].as_str().unwrap()),
        "{refused}"
    );
    let accepted = cli.json("bob", &["keys", "verify", &alice, "--accept"]);
    assert_eq!(accepted["status"], "accepted");
    let third = format!("after the rotation {marker}");
    cli.send("bob", &alice, &third);

    let history = cli.history("alice", &bob);
    assert_eq!(
        texts(&history),
        [first.as_str(), reply.as_str(), third.as_str()]
    );
    assert_eq!(statuses(&history), ["verified"; 3]);
    assert_eq!(history[2]["decryptedWithKeyId"], new_key.as_str());
    // Bob still verifies alice's old message, signed by her retired key.
    let history = cli.history("bob", &alice);
    assert_eq!(statuses(&history), ["verified"; 3]);
    assert_eq!(history[0]["senderId"], alice_id.as_str());

    // The server's files hold no plaintext.
    for entry in std::fs::read_dir(&cli.data_dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&marker),
            "plaintext found in {}",
            path.display()
        );
    }
}

#[test]
fn a_contact_key_change_blocks_sending_until_accepted() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let (bob, _, bob_fp) = cli.account("bob", "bob");
    cli.send("alice", &bob, "before the change");

    // Bob sets up a new device: same account, a new key registered there.
    cli.json("bob-phone", &["login", &bob, "--password-env", PASSWORD]);
    let stderr = cli.fails(
        "bob-phone",
        &["keys", "init", "--passphrase-env", PASSPHRASE],
        2,
    );
    assert!(stderr.contains("--replace"), "{stderr}");
    // The new device does not hold the account's active key: the password authorizes the new key.
    let stderr = cli.fails(
        "bob-phone",
        &["keys", "init", "--replace", "--passphrase-env", PASSPHRASE],
        2,
    );
    assert!(stderr.contains("--password-env"), "{stderr}");
    let stderr = cli.fails(
        "bob-phone",
        &[
            "keys",
            "init",
            "--replace",
            "--passphrase-env",
            PASSPHRASE,
            "--password-env",
            WRONG_PASSPHRASE,
        ],
        4,
    );
    assert!(!stderr.contains("not the passphrase"), "{stderr}");
    let new_key = cli.json(
        "bob-phone",
        &[
            "keys",
            "init",
            "--replace",
            "--passphrase-env",
            PASSPHRASE,
            "--password-env",
            PASSWORD,
        ],
    );
    let new_fp = new_key["fingerprint"].as_str().unwrap();
    assert_ne!(new_fp, bob_fp);

    // Alice's send is refused, showing both fingerprints; nothing reaches bob.
    let stderr = cli.fails(
        "alice",
        &[
            "send",
            &bob,
            "to the new key",
            "--passphrase-env",
            PASSPHRASE,
        ],
        5,
    );
    assert!(
        stderr.contains("has changed") && stderr.contains(&bob_fp) && stderr.contains(new_fp),
        "{stderr}"
    );
    assert!(stderr.contains("keys verify"), "{stderr}");
    // The same with --json: a machine-readable error line.
    let output = cli.run(
        "alice",
        &[
            "--json",
            "send",
            &bob,
            "to the new key",
            "--passphrase-env",
            PASSPHRASE,
        ],
        b"",
    );
    assert_eq!(output.status.code(), Some(5));
    let error: Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["code"], "key_changed");
    assert!(
        cli.inbox("bob-phone", &[]).len() == 1,
        "only the first message"
    );

    // keys verify shows the change without accepting it; sending stays refused.
    let verify = cli.json("alice", &["keys", "verify", &bob]);
    assert_eq!(verify["status"], "changed");
    assert_eq!(verify["pinnedFingerprint"], bob_fp.as_str());
    assert_eq!(verify["fingerprint"], new_fp);
    let human = cli.text("alice", &["keys", "verify", &bob]);
    assert!(
        human.contains("CHANGED") && human.contains(&bob_fp),
        "{human}"
    );
    cli.fails(
        "alice",
        &[
            "send",
            &bob,
            "still refused",
            "--passphrase-env",
            PASSPHRASE,
        ],
        5,
    );

    // Accepting lets the message through, to the new device.
    let accepted = cli.json("alice", &["keys", "verify", &bob, "--accept"]);
    assert_eq!(accepted["status"], "accepted");
    assert_eq!(
        cli.json("alice", &["keys", "verify", &bob])["status"],
        "unchanged"
    );
    cli.send("alice", &bob, "to the new key");

    // The new device reads the new message; the one sealed for the old device's key is reported, not
    // dropped.
    let inbox = cli.inbox("bob-phone", &[]);
    assert_eq!(statuses(&inbox), ["failed", "verified"]);
    assert!(
        inbox[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not sealed for any key on this device")
    );
    assert!(inbox[0].get("text").is_none());
    assert_eq!(inbox[1]["text"], "to the new key");
    // The old device still reads the first one.
    let history = cli.history("bob", &alice);
    assert_eq!(texts(&history)[0], "before the change");
    assert_eq!(statuses(&history)[0], "verified");
}

/// Rewrites the stored envelope of one message directly in the server's SQLite database.
async fn tamper(data_dir: &Path, message_id: &str, edit: impl FnOnce(&mut Value)) {
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join("e2ee.sqlite3"))
        .busy_timeout(Duration::from_secs(30));
    let mut connection = SqliteConnection::connect_with(&options).await.unwrap();
    let row = sqlx::query("SELECT envelope FROM messages WHERE id = ?")
        .bind(message_id)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let mut envelope: Value = serde_json::from_str(&row.get::<String, _>("envelope")).unwrap();
    edit(&mut envelope);
    let changed = sqlx::query("UPDATE messages SET envelope = ? WHERE id = ?")
        .bind(envelope.to_string())
        .bind(message_id)
        .execute(&mut connection)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 1);
    connection.close().await.unwrap();
}

/// A profile's saved session token and current key (read from its files, as a second client would).
fn profile_secrets(cli: &Cli, profile: &str) -> (String, e2ee_crypto::PublicKey) {
    let dir = cli.profiles.path().join(profile);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let token = read("session.json")["token"].as_str().unwrap().to_owned();
    let key_id = read("profile.json")["currentKeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    let pem = std::fs::read_to_string(dir.join("keys").join(format!("{key_id}.pub"))).unwrap();
    (token, e2ee_crypto::PublicKey::from_spki_pem(&pem).unwrap())
}

/// Sends an envelope sealed for `to` and `from` but not signed, with `from`'s token.
async fn post_unsigned(cli: &Cli, from: &str, to: &str, text: &str) {
    let (token, from_key) = profile_secrets(cli, from);
    let (_, to_key) = profile_secrets(cli, to);
    let user_id = |profile: &str| -> String {
        let path = cli.profiles.path().join(profile).join("profile.json");
        let profile: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        profile["userId"].as_str().unwrap().to_owned()
    };
    let (from_id, to_id) = (user_id(from), user_id(to));
    let recipients = [
        e2ee_crypto::Recipient {
            user_id: &to_id,
            key: &to_key,
        },
        e2ee_crypto::Recipient {
            user_id: &from_id,
            key: &from_key,
        },
    ];
    let created_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let envelope = e2ee_crypto::seal(
        text.as_bytes(),
        &e2ee_crypto::SealParams {
            sender_id: &from_id,
            message_id: &e2ee_crypto::random_message_id(),
            created_at,
            recipients: &recipients,
            sign_with: None,
        },
    )
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/messages/send", cli.server))
        .bearer_auth(token)
        .json(&serde_json::json!({"receiverId": to_id, "envelope": envelope.to_value()}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        201,
        "{:?}",
        response.text().await
    );
}

fn flip_ciphertext_byte(envelope: &mut Value) {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut bytes = engine
        .decode(envelope["ciphertext"].as_str().unwrap())
        .unwrap();
    bytes[0] ^= 0x01;
    envelope["ciphertext"] = Value::String(engine.encode(bytes));
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_envelopes_are_shown_as_failed_never_as_text() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let marker = random_hex(8);
    let (alice, _, _) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    let texts_sent: Vec<String> = (0..3).map(|i| format!("message {i} {marker}")).collect();
    let ids: Vec<String> = texts_sent
        .iter()
        .map(|text| {
            cli.send("alice", &bob, text)["messageId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();

    // 0: one ciphertext bit flipped. 1: the signature stripped (a downgrade; envelope v2 binds the signer's
    // key id into the AAD, so it no longer even decrypts). 2: untouched.
    tamper(&cli.data_dir, &ids[0], flip_ciphertext_byte).await;
    tamper(&cli.data_dir, &ids[1], |envelope| {
        envelope.as_object_mut().unwrap().remove("signature");
    })
    .await;
    // 3: a genuinely unsigned message (sealed without a signature, as another client might send it).
    let unsigned_text = format!("unsigned {marker}");
    post_unsigned(&cli, "alice", "bob", &unsigned_text).await;

    for (profile, with) in [("bob", &alice), ("alice", &bob)] {
        let history = cli.history(profile, with);
        assert_eq!(history.len(), 4, "nothing is dropped");
        assert_eq!(
            statuses(&history),
            ["failed", "failed", "verified", "unverified"]
        );
        assert!(history[0].get("text").is_none());
        assert!(history[1].get("text").is_none());
        assert!(
            history[0]["reason"]
                .as_str()
                .unwrap()
                .contains("bad signature"),
            "{}",
            history[0]
        );
        assert!(
            history[1]["reason"]
                .as_str()
                .unwrap()
                .contains("cannot decrypt"),
            "{}",
            history[1]
        );
        assert_eq!(history[2]["text"], texts_sent[2].as_str());
        // Unsigned, though bob pinned alice's key: readable, never verified.
        assert_eq!(history[3]["reason"], "not signed");
        assert_eq!(history[3]["text"], unsigned_text.as_str());
        // Messages that did not open show no (unauthenticated) time or recipients.
        assert!(history[0]["createdAt"].is_null());
        assert!(history[2]["createdAt"].is_i64());

        let human = cli.text(profile, &["history", with, "--passphrase-env", PASSPHRASE]);
        assert!(human.contains("FAILED: bad signature"), "{human}");
        assert!(human.contains("FAILED: cannot decrypt"), "{human}");
        assert!(human.contains("UNVERIFIED: not signed"), "{human}");
        assert!(!human.contains(&texts_sent[0]), "{human}");
        assert!(!human.contains(&texts_sent[1]), "{human}");
    }
    // The inbox reports the same.
    let inbox = cli.inbox("bob", &[]);
    assert_eq!(
        statuses(&inbox),
        ["failed", "failed", "verified", "unverified"]
    );

    // A tampered envelope without a signature does not decrypt either.
    tamper(&cli.data_dir, &ids[0], |envelope| {
        envelope.as_object_mut().unwrap().remove("signature");
    })
    .await;
    let history = cli.history("bob", &alice);
    assert_eq!(history[0]["status"], "failed");
    assert!(
        history[0]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot decrypt")
    );
    assert!(history[0].get("text").is_none());
}

#[test]
fn a_wrong_passphrase_is_a_clean_error_and_changes_nothing() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    cli.send("bob", &alice, "hello");

    for args in [
        vec!["inbox"],
        vec!["history", bob.as_str()],
        vec!["send", bob.as_str(), "never sent"],
        vec!["keys", "rotate"],
    ] {
        let stderr = cli.fails(
            "alice",
            &[&args[..], &["--passphrase-env", WRONG_PASSPHRASE]].concat(),
            6,
        );
        assert!(stderr.contains("wrong passphrase"), "{stderr}");
        assert!(
            !stderr.contains("not the passphrase"),
            "the passphrase is never printed"
        );
    }
    // Nothing was sent, nothing rotated, nothing marked read.
    assert!(cli.inbox("bob", &[]).is_empty());
    assert_eq!(
        cli.json("alice", &["keys", "show"])["keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(texts(&cli.inbox("alice", &[])), ["hello"]);

    // A passphrase on standard input (no terminal) works the same way.
    let output = cli.run("alice", &["inbox"], b"not the passphrase\n");
    assert_eq!(output.status.code(), Some(6));
    let output = cli.run("alice", &["--json", "inbox"], b"the right passphrase\n");
    assert!(output.status.success());
    // A missing variable is a usage error.
    cli.fails(
        "alice",
        &["inbox", "--passphrase-env", "E2E_TEST_NO_SUCH_VARIABLE"],
        2,
    );
    // JSON errors are one machine-readable line.
    let output = cli.run(
        "alice",
        &["--json", "inbox", "--passphrase-env", WRONG_PASSPHRASE],
        b"",
    );
    let error: Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["code"], "wrong_passphrase");
    assert_eq!(error["error"]["exitCode"], 6);
}

#[test]
fn unknown_users_unreachable_servers_and_missing_sessions_have_their_exit_codes() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let nobody = format!("nobody_{}", random_hex(6));
    let stderr = cli.fails(
        "alice",
        &["send", &nobody, "hi", "--passphrase-env", PASSPHRASE],
        7,
    );
    assert!(stderr.contains(&nobody), "{stderr}");
    cli.fails("alice", &["keys", "verify", &nobody], 7);
    cli.fails(
        "alice",
        &["read", "m_does_not_exist", "--passphrase-env", PASSPHRASE],
        7,
    );

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = format!("http://127.0.0.1:{port}");
    let stderr = cli.fails("alice", &["--server", &server, "keys", "verify", &alice], 3);
    assert!(stderr.contains("unreachable"), "{stderr}");

    cli.fails("nobody-here", &["inbox", "--passphrase-env", PASSPHRASE], 4);
    cli.fails(
        "alice",
        &["login", &alice, "--password-env", WRONG_PASSPHRASE],
        4,
    );
    cli.text("alice", &["logout"]);
    cli.fails("alice", &["inbox", "--passphrase-env", PASSPHRASE], 4);
}

#[test]
fn revoking_a_key_and_recovering_with_the_password() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, alice_fp) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    cli.json("bob", &["keys", "verify", &alice]);
    let before = cli.send("alice", &bob, "signed before the revocation");
    assert!(before["messageId"].is_string());
    let keys = cli.json("alice", &["keys", "show"]);
    let key_id = keys["keys"][0]["keyId"].as_str().unwrap().to_owned();

    // Unknown key: 404, nothing changes.
    cli.fails(
        "alice",
        &[
            "keys",
            "revoke",
            &"0".repeat(64),
            "--passphrase-env",
            PASSPHRASE,
        ],
        7,
    );
    // A wrong passphrase cannot sign the revocation.
    cli.fails(
        "alice",
        &[
            "keys",
            "revoke",
            &key_id,
            "--passphrase-env",
            WRONG_PASSPHRASE,
        ],
        6,
    );
    // Signed by the active key itself.
    let revoked = cli.json(
        "alice",
        &["keys", "revoke", &key_id, "--passphrase-env", PASSPHRASE],
    );
    assert_eq!(revoked["keyId"], key_id.as_str());
    assert_eq!(revoked["fingerprint"], alice_fp.as_str());
    assert_eq!(revoked["wasActive"], true);
    assert_eq!(revoked["onThisDevice"], true);
    assert!(revoked["revokedAt"].is_i64());

    // No active key now: nobody can write to alice, and alice's revoked key signs nothing.
    cli.fails(
        "bob",
        &["send", &alice, "to nobody", "--passphrase-env", PASSPHRASE],
        7,
    );
    let stderr = cli.fails(
        "alice",
        &["send", &bob, "x", "--passphrase-env", PASSPHRASE],
        2,
    );
    assert!(stderr.contains("revoked"), "{stderr}");
    // What was signed by the revoked key is no longer verified (but still readable).
    let history = cli.history("bob", &alice);
    assert_eq!(statuses(&history), ["unverified"]);
    assert_eq!(texts(&history), ["signed before the revocation"]);
    let history = cli.history("alice", &bob);
    assert_eq!(statuses(&history), ["unverified"]);
    assert!(
        history[0]["reason"].as_str().unwrap().contains("revoked"),
        "{}",
        history[0]
    );

    // A new key: the device holds no active key, so the account password authorizes it.
    let stderr = cli.fails(
        "alice",
        &["keys", "rotate", "--passphrase-env", PASSPHRASE],
        2,
    );
    assert!(stderr.contains("password"), "{stderr}");
    cli.fails(
        "alice",
        &[
            "keys",
            "rotate",
            "--passphrase-env",
            PASSPHRASE,
            "--password-env",
            WRONG_PASSPHRASE,
        ],
        4,
    );
    // Without a terminal the password may come as a line of standard input.
    let output = cli.run(
        "alice",
        &["--json", "keys", "rotate", "--passphrase-env", PASSPHRASE],
        b"a long enough password\n",
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rotated["previousKeyId"], key_id.as_str());
    let keys = cli.json("alice", &["keys", "show"]);
    let listed: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["serverStatus"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["active", "revoked"]);

    // Bob's pin was the revoked key: a key change until he accepts the new one.
    let history = cli.history("bob", &alice);
    assert_eq!(statuses(&history), ["unverified"]);
    assert!(
        history[0]["reason"].as_str().unwrap().contains("revoked"),
        "{}",
        history[0]
    );
    cli.fails(
        "bob",
        &["send", &alice, "x", "--passphrase-env", PASSPHRASE],
        5,
    );
    cli.json("bob", &["keys", "verify", &alice, "--accept"]);
    cli.send("bob", &alice, "to the new key");
    cli.send("alice", &bob, "from the new key");
    let history = cli.history("alice", &bob);
    assert_eq!(statuses(&history), ["unverified", "verified", "verified"]);
    let history = cli.history("bob", &alice);
    assert_eq!(statuses(&history), ["unverified", "verified", "verified"]);
}

#[test]
fn a_chat_without_messages_is_an_empty_history() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    // The server answers 404 chat_not_found for a chat it does not know: for the client, no messages.
    assert!(cli.history("alice", &bob).is_empty());
    let human = cli.text("bob", &["history", &alice, "--passphrase-env", PASSPHRASE]);
    assert!(human.contains(": 0 messages"), "{human}");
    // An unknown user is still an unknown user.
    cli.fails(
        "alice",
        &[
            "history",
            &format!("nobody_{}", random_hex(6)),
            "--passphrase-env",
            PASSPHRASE,
        ],
        7,
    );
}

#[test]
fn failed_logins_are_rate_limited_with_their_own_exit_code() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let mut codes = Vec::new();
    let mut stderr = String::new();
    for _ in 0..10 {
        let output = cli.run(
            "alice",
            &["login", &alice, "--password-env", WRONG_PASSPHRASE],
            b"",
        );
        let code = output.status.code().unwrap();
        codes.push(code);
        if code == 8 {
            stderr = String::from_utf8(output.stderr).unwrap();
            break;
        }
        assert_eq!(code, 4, "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(codes.last(), Some(&8), "{codes:?}");
    assert!(codes.len() > 5, "5 failures are free: {codes:?}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(
        stderr.contains("rate limited") && stderr.contains("try again in"),
        "{stderr}"
    );
    // The same as JSON (the lockout may have just ended: a further failure starts a longer one).
    let mut error = Value::Null;
    for _ in 0..3 {
        let output = cli.run(
            "alice",
            &[
                "--json",
                "login",
                &alice,
                "--password-env",
                WRONG_PASSPHRASE,
            ],
            b"",
        );
        if output.status.code() == Some(8) {
            error = serde_json::from_slice(&output.stderr).unwrap();
            break;
        }
    }
    assert_eq!(error["error"]["code"], "too_many_attempts", "{error}");
    assert_eq!(error["error"]["exitCode"], 8);
}

#[test]
fn the_session_token_stays_with_its_server_and_plain_http_stays_local() {
    let Some(cli) = Cli::new() else {
        return;
    };
    let (alice, _, _) = cli.account("alice", "alice");
    let (bob, _, _) = cli.account("bob", "bob");
    // The same server under another name is another origin: the token is not sent there.
    let other = cli
        .server
        .replace("127.0.0.1", "localhost")
        .replace("[::1]", "localhost");
    if other != cli.server {
        let stderr = cli.fails("alice", &["--server", &other, "keys", "verify", &bob], 4);
        assert!(
            stderr.contains("never sent to another server") && stderr.contains(&other),
            "{stderr}"
        );
    }
    // Plain http beyond this machine is refused before anything is sent.
    let stderr = cli.fails(
        "alice",
        &[
            "--server",
            "http://api.example.test",
            "keys",
            "verify",
            &bob,
        ],
        2,
    );
    assert!(stderr.contains("https"), "{stderr}");
    // The profile's own server still works.
    assert_eq!(
        cli.json("alice", &["keys", "verify", &bob])["status"],
        "new"
    );
    let _ = alice;
}
