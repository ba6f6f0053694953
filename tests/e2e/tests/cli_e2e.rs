//! The `e2ee` command against the real served API (`cargo lambda watch`, started by scripts/test.sh), driven
//! as a user would: the demo flow (two users chat both ways, rotate a key, still read the old history), a
//! contact's key change (sending refuses until accepted), envelopes tampered with in the server's database
//! (shown as failed, never as text), wrong passphrases (a clean error, nothing happens), key revocation and
//! recovery with the password, rate limits, and the session token staying with its server.
//!
//! Needs E2EE_SERVER (base URL) and E2EE_DATA_DIR (the SQLite directory the server uses); in CI (CI=true)
//! their absence fails the test. The `e2ee` binary is the one next to this test's build (`cargo build --bins`
//! builds it; scripts/test.sh does) or the path in E2EE_CLI. The harness is e2ee_test_kit::cli.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use e2ee_test_kit::cli::{
    PASSPHRASE, PASSWORD, Profiles, Signup, WRONG_PASSPHRASE, assert_reason, assert_withheld,
    secret, statuses, texts, unlocked,
};
use e2ee_test_kit::env::Served;
use e2ee_test_kit::served::{Method, Server, StatusCode};
use e2ee_test_kit::{free_port, now_ms, random_hex};
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{Connection, Row};

/// The sandbox against the served API with alice and bob signed up, each in the profile of that name.
fn alice_and_bob() -> Option<(Profiles, Served, [Signup; 2])> {
    Profiles::served_with(["alice", "bob"])
}

#[test]
fn demo_flow_two_users_chat_rotate_a_key_and_still_read_the_history() {
    let Some((cli, served, [(alice, alice_id, alice_fp), (bob, bob_id, bob_fp)])) = alice_and_bob()
    else {
        return;
    };
    let marker = random_hex(8);

    // The profile keeps the key encrypted, owner-only.
    let keys = cli.json("alice", &["keys", "show"]);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);
    assert_eq!(keys["keys"][0]["fingerprint"], alice_fp.as_str());
    assert_eq!(keys["keys"][0]["serverStatus"], "active");
    let key_file = cli.dir().join("alice/keys").join(format!(
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
        assert_eq!(mode(&cli.dir().join("alice/session.json")), 0o600);
        assert_eq!(mode(&cli.dir().join("alice")), 0o700);
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
    let read = cli.json("bob", &unlocked(&["read", &first_id]));
    assert_eq!(read["message"]["text"], first.as_str());
    assert!(read["readAt"].is_i64());
    assert!(cli.inbox("bob", &[]).is_empty());

    // Bob → Alice, the text on standard input; Alice reads and marks read.
    let reply = format!("hi alice, secret {marker}\nsecond line");
    cli.json_with_stdin("bob", &unlocked(&["send", &alice]), reply.as_bytes());
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
    let human = cli.text("alice", &unlocked(&["history", &bob]));
    assert!(
        human.contains("(verified)") && human.contains(&first),
        "{human}"
    );

    // Alice rotates her key; the old one stays on the device and still opens the old history.
    let old_key = keys["keys"][0]["keyId"].as_str().unwrap().to_owned();
    let rotated = cli.json("alice", &unlocked(&["keys", "rotate"]));
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

    // Bob pinned alice's old key, which signed the new one (keys rotate): his client follows the rotation
    // without a key change, and the old key stays among the keys he trusts for alice.
    let verified = cli.json("bob", &["keys", "verify", &alice]);
    assert_eq!(verified["status"], "unchanged", "{verified}");
    assert_eq!(verified["keyId"], new_key.as_str());
    assert_eq!(verified["rotatedFromKeyId"], old_key.as_str());
    assert!(verified.get("pinnedKeyId").is_none(), "{verified}");
    let trusted: Vec<&str> = verified["trustedKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["keyId"].as_str().unwrap())
        .collect();
    assert_eq!(trusted, [new_key.as_str(), old_key.as_str()]);
    let human = cli.text("bob", &["keys", "verify", &alice]);
    assert!(human.contains("unchanged"), "{human}");
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
    for (path, bytes) in served.stored_files() {
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&marker),
            "plaintext found in {}",
            path.display()
        );
    }
}

#[test]
fn a_contact_key_change_blocks_sending_until_accepted() {
    let Some((cli, _, [(alice, _, _), (bob, _, bob_fp)])) = alice_and_bob() else {
        return;
    };
    cli.send("alice", &bob, "before the change");

    // Bob sets up a new device: same account, a new key registered there.
    cli.json("bob-phone", &["login", &bob, "--password-env", PASSWORD]);
    let stderr = cli.fails("bob-phone", &unlocked(&["keys", "init"]), 2);
    assert!(stderr.contains("--replace"), "{stderr}");
    // The new device does not hold the account's active key: the password authorizes the new key.
    let stderr = cli.fails("bob-phone", &unlocked(&["keys", "init", "--replace"]), 2);
    assert!(stderr.contains("--password-env"), "{stderr}");
    let stderr = cli.fails(
        "bob-phone",
        &unlocked(&[
            "keys",
            "init",
            "--replace",
            "--password-env",
            WRONG_PASSPHRASE,
        ]),
        4,
    );
    assert!(!stderr.contains(secret(WRONG_PASSPHRASE)), "{stderr}");
    let new_key = cli.json(
        "bob-phone",
        &unlocked(&["keys", "init", "--replace", "--password-env", PASSWORD]),
    );
    let new_fp = new_key["fingerprint"].as_str().unwrap();
    assert_ne!(new_fp, bob_fp);

    // Alice's send is refused, showing both fingerprints; nothing reaches bob.
    let stderr = cli.fails("alice", &unlocked(&["send", &bob, "to the new key"]), 5);
    assert!(
        stderr.contains("has changed") && stderr.contains(&bob_fp) && stderr.contains(new_fp),
        "{stderr}"
    );
    assert!(stderr.contains("keys verify"), "{stderr}");
    // The same with --json: a machine-readable error line.
    let output = cli.run(
        "alice",
        &unlocked(&["--json", "send", &bob, "to the new key"]),
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
    cli.fails("alice", &unlocked(&["send", &bob, "still refused"]), 5);

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
    assert_withheld(&inbox[0], "not sealed for any key on this device");
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

/// A profile's saved session token, user id and current key (read from its files, as a second client would).
fn profile_secrets(cli: &Profiles, profile: &str) -> (String, String, e2ee_crypto::PublicKey) {
    let dir = cli.dir().join(profile);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
    };
    let token = read("session.json")["token"].as_str().unwrap().to_owned();
    let saved = read("profile.json");
    let user_id = saved["userId"].as_str().unwrap().to_owned();
    let key_id = saved["currentKeyId"].as_str().unwrap();
    let pem = std::fs::read_to_string(dir.join("keys").join(format!("{key_id}.pub"))).unwrap();
    let key = e2ee_crypto::PublicKey::from_spki_pem(&pem).unwrap();
    (token, user_id, key)
}

/// Sends an envelope sealed for `to` and `from` but not signed, with `from`'s token.
async fn post_unsigned(cli: &Profiles, from: &str, to: &str, text: &str) {
    let (token, from_id, from_key) = profile_secrets(cli, from);
    let (_, to_id, to_key) = profile_secrets(cli, to);
    let envelope = e2ee_test_kit::envelopes::seal_json(
        text.as_bytes(),
        &from_id,
        &[(&to_id, &to_key), (&from_id, &from_key)],
        &e2ee_crypto::random_message_id(),
        now_ms(),
        None,
    );
    let body = serde_json::json!({"receiverId": to_id, "envelope": envelope});
    let (status, reply) = Server::new(cli.server())
        .call(Method::POST, "/api/messages/send", Some(&token), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
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
    let Some((cli, served, [(alice, _, _), (bob, _, _)])) = alice_and_bob() else {
        return;
    };
    let marker = random_hex(8);
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
    tamper(&served.data_dir, &ids[0], flip_ciphertext_byte).await;
    tamper(&served.data_dir, &ids[1], |envelope| {
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
        assert_withheld(&history[0], "bad signature");
        assert_withheld(&history[1], "cannot decrypt");
        assert_eq!(history[2]["text"], texts_sent[2].as_str());
        // Unsigned, though bob pinned alice's key: readable, never verified.
        assert_eq!(history[3]["reason"], "not signed");
        assert_eq!(history[3]["text"], unsigned_text.as_str());
        // Messages that did not open show no (unauthenticated) time or recipients.
        assert!(history[0]["createdAt"].is_null());
        assert!(history[2]["createdAt"].is_i64());

        let human = cli.text(profile, &unlocked(&["history", with]));
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
    tamper(&served.data_dir, &ids[0], |envelope| {
        envelope.as_object_mut().unwrap().remove("signature");
    })
    .await;
    let history = cli.history("bob", &alice);
    assert_eq!(history[0]["status"], "failed");
    assert_withheld(&history[0], "cannot decrypt");
}

#[test]
fn a_wrong_passphrase_is_a_clean_error_and_changes_nothing() {
    let Some((cli, _, [(alice, _, _), (bob, _, _)])) = alice_and_bob() else {
        return;
    };
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
            !stderr.contains(secret(WRONG_PASSPHRASE)),
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
    let output = cli.run(
        "alice",
        &["inbox"],
        format!("{}\n", secret(WRONG_PASSPHRASE)).as_bytes(),
    );
    assert_eq!(output.status.code(), Some(6));
    let output = cli.run(
        "alice",
        &["--json", "inbox"],
        format!("{}\n", secret(PASSPHRASE)).as_bytes(),
    );
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
    let Some((cli, _, [(alice, _, _)])) = Profiles::served_with(["alice"]) else {
        return;
    };
    let nobody = format!("nobody_{}", random_hex(6));
    let stderr = cli.fails("alice", &unlocked(&["send", &nobody, "hi"]), 7);
    assert!(stderr.contains(&nobody), "{stderr}");
    cli.fails("alice", &["keys", "verify", &nobody], 7);
    cli.fails("alice", &unlocked(&["read", "m_does_not_exist"]), 7);

    // A port nobody listens on.
    let server = format!("http://127.0.0.1:{}", free_port());
    let stderr = cli.fails("alice", &["--server", &server, "keys", "verify", &alice], 3);
    assert!(stderr.contains("unreachable"), "{stderr}");

    cli.fails("nobody-here", &unlocked(&["inbox"]), 4);
    cli.fails(
        "alice",
        &["login", &alice, "--password-env", WRONG_PASSPHRASE],
        4,
    );
    cli.text("alice", &["logout"]);
    cli.fails("alice", &unlocked(&["inbox"]), 4);
}

#[test]
fn revoking_a_key_and_recovering_with_the_password() {
    let Some((cli, _, [(alice, _, alice_fp), (bob, _, _)])) = alice_and_bob() else {
        return;
    };
    cli.json("bob", &["keys", "verify", &alice]);
    let before = cli.send("alice", &bob, "signed before the revocation");
    assert!(before["messageId"].is_string());
    let keys = cli.json("alice", &["keys", "show"]);
    let key_id = keys["keys"][0]["keyId"].as_str().unwrap().to_owned();

    // Unknown key: 404, nothing changes.
    cli.fails("alice", &unlocked(&["keys", "revoke", &"0".repeat(64)]), 7);
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
    let revoked = cli.json("alice", &unlocked(&["keys", "revoke", &key_id]));
    assert_eq!(revoked["keyId"], key_id.as_str());
    assert_eq!(revoked["fingerprint"], alice_fp.as_str());
    assert_eq!(revoked["wasActive"], true);
    assert_eq!(revoked["onThisDevice"], true);
    assert!(revoked["revokedAt"].is_i64());

    // No active key now: nobody can write to alice, and alice's revoked key signs nothing.
    cli.fails("bob", &unlocked(&["send", &alice, "to nobody"]), 7);
    let stderr = cli.fails("alice", &unlocked(&["send", &bob, "x"]), 2);
    assert!(stderr.contains("revoked"), "{stderr}");
    // What was signed by the revoked key is no longer verified (but still readable).
    let history = cli.history("bob", &alice);
    assert_eq!(statuses(&history), ["unverified"]);
    assert_eq!(texts(&history), ["signed before the revocation"]);
    let history = cli.history("alice", &bob);
    assert_eq!(statuses(&history), ["unverified"]);
    assert_reason(&history[0], "revoked");

    // A new key: the device holds no active key, so the account password authorizes it.
    let stderr = cli.fails("alice", &unlocked(&["keys", "rotate"]), 2);
    assert!(stderr.contains("password"), "{stderr}");
    cli.fails(
        "alice",
        &unlocked(&["keys", "rotate", "--password-env", WRONG_PASSPHRASE]),
        4,
    );
    // Without a terminal the password may come as a line of standard input.
    let password = format!("{}\n", secret(PASSWORD));
    let rotated = cli.json_with_stdin("alice", &unlocked(&["keys", "rotate"]), password.as_bytes());
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
    assert_reason(&history[0], "revoked");
    cli.fails("bob", &unlocked(&["send", &alice, "x"]), 5);
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
    let Some((cli, _, [(alice, _, _), (bob, _, _)])) = alice_and_bob() else {
        return;
    };
    // The server answers 404 chat_not_found for a chat it does not know: for the client, no messages.
    assert!(cli.history("alice", &bob).is_empty());
    let human = cli.text("bob", &unlocked(&["history", &alice]));
    assert!(human.contains(": 0 messages"), "{human}");
    // An unknown user is still an unknown user.
    cli.fails(
        "alice",
        &unlocked(&["history", &format!("nobody_{}", random_hex(6))]),
        7,
    );
}

#[test]
fn failed_logins_are_rate_limited_with_their_own_exit_code() {
    let Some((cli, _, [(alice, _, _)])) = Profiles::served_with(["alice"]) else {
        return;
    };
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
    let Some((cli, _, [(alice, _, _), (bob, _, _)])) = alice_and_bob() else {
        return;
    };
    // The same server under another name is another origin: the token is not sent there.
    let other = cli
        .server()
        .replace("127.0.0.1", "localhost")
        .replace("[::1]", "localhost");
    if other != cli.server() {
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
