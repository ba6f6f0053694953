//! The offline `e2ee` commands, driven as a user would: through the binary, stdin and stdout.

use std::path::{Path, PathBuf};
use std::process::Output;

use e2ee_test_kit::cli::{Cli, failure, ok};

fn e2ee(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    Cli::new(env!("CARGO_BIN_EXE_e2ee")).run(args, stdin, env)
}

/// `e2ee open --key KEY --passphrase-env VAR --verify-with SENDER_PUB`.
fn open_verified<'a>(key: &'a str, passphrase_var: &'a str, sender_pub: &'a str) -> [&'a str; 7] {
    [
        "open",
        "--key",
        key,
        "--passphrase-env",
        passphrase_var,
        "--verify-with",
        sender_pub,
    ]
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

fn keygen(dir: &Path, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let private = path(dir, &format!("{name}.key"));
    let public_pem = ok(e2ee(
        &[&["keygen", "--out", &private], extra].concat(),
        b"",
        env,
    ));
    let public = path(dir, &format!("{name}.pub"));
    std::fs::write(&public, &public_pem).unwrap();
    (private, public)
}

#[test]
fn keygen_writes_an_owner_only_key_and_prints_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = keygen(dir.path(), "alice", &[], &[]);
    let public_pem = std::fs::read_to_string(&public).unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(
        std::fs::read_to_string(&private)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&private).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // pubkey derives the same public key; fingerprint is the same for the public and the private file.
    assert_eq!(
        ok(e2ee(&["pubkey", "--key", &private], b"", &[])),
        public_pem.as_bytes()
    );
    let from_private = ok(e2ee(&["fingerprint", &private], b"", &[]));
    let from_public = ok(e2ee(&["fingerprint", &public], b"", &[]));
    assert_eq!(from_private, from_public);
    let text = String::from_utf8(from_public).unwrap();
    assert!(
        text.contains("key id:")
            && text.contains("fingerprint:")
            && text.contains("bits:        2048"),
        "{text}"
    );
    // Never overwrites an existing key.
    failure(e2ee(&["keygen", "--out", &private], b"", &[]));
    failure(e2ee(
        &[
            "keygen",
            "--out",
            &path(dir.path(), "x.key"),
            "--bits",
            "1024",
        ],
        b"",
        &[],
    ));
}

#[test]
fn seal_and_open_round_trip_with_signature_and_encrypted_keys() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("ALICE_PASS", "alice secret"), ("BOB_PASS", "bob secret")];
    let (alice_key, alice_pub) = keygen(
        dir.path(),
        "alice",
        &["--passphrase-env", "ALICE_PASS"],
        &env,
    );
    let (bob_key, bob_pub) = keygen(
        dir.path(),
        "bob",
        &["--passphrase-env", "BOB_PASS", "--bits", "3072"],
        &env,
    );
    assert!(
        std::fs::read_to_string(&bob_key)
            .unwrap()
            .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    );

    let plaintext = "hello bob — ünïcödé\n".as_bytes();
    let envelope = ok(e2ee(
        &[
            "seal",
            "--to",
            &bob_pub,
            "--to",
            &alice_pub,
            "--recipient",
            "bob",
            "--recipient",
            "alice",
            "--sender",
            "alice",
            "--message-id",
            "m-1",
            "--sign-with",
            &alice_key,
            "--passphrase-env",
            "ALICE_PASS",
        ],
        plaintext,
        &env,
    ));
    let json: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    assert_eq!(json["senderId"], "alice");
    assert_eq!(json["messageId"], "m-1");
    assert_eq!(json["recipients"][0]["userId"], "bob");
    assert!(!String::from_utf8_lossy(&envelope).contains("hello bob"));

    let opened = ok(e2ee(
        &open_verified(&bob_key, "BOB_PASS", &alice_pub),
        &envelope,
        &env,
    ));
    assert_eq!(opened, plaintext);
    let opened = ok(e2ee(
        &[
            "open",
            "--key",
            &alice_key,
            "--passphrase-env",
            "ALICE_PASS",
        ],
        &envelope,
        &env,
    ));
    assert_eq!(opened, plaintext);

    // Wrong passphrase, wrong sender key, missing passphrase: one-line errors, non-zero exit.
    let wrong = failure(e2ee(
        &["open", "--key", &bob_key, "--passphrase-env", "ALICE_PASS"],
        &envelope,
        &env,
    ));
    assert!(wrong.contains("passphrase"), "{wrong}");
    let bad = failure(e2ee(
        &open_verified(&bob_key, "BOB_PASS", &bob_pub),
        &envelope,
        &env,
    ));
    assert!(bad.contains("signature"), "{bad}");
    failure(e2ee(&["open", "--key", &bob_key], &envelope, &env));
}

#[test]
fn open_refuses_tampered_or_foreign_envelopes() {
    let dir = tempfile::tempdir().unwrap();
    let (alice_key, alice_pub) = keygen(dir.path(), "alice", &[], &[]);
    let (eve_key, _) = keygen(dir.path(), "eve", &[], &[]);
    let envelope = ok(e2ee(&["seal", "--to", &alice_pub], b"secret", &[]));

    let not_for_eve = failure(e2ee(&["open", "--key", &eve_key], &envelope, &[]));
    assert!(not_for_eve.contains("not a recipient"), "{not_for_eve}");

    let mut json: serde_json::Value = serde_json::from_slice(&envelope).unwrap();
    json["messageId"] = "moved".into();
    let moved = failure(e2ee(
        &["open", "--key", &alice_key],
        json.to_string().as_bytes(),
        &[],
    ));
    assert!(moved.contains("cannot decrypt"), "{moved}");

    failure(e2ee(&["open", "--key", &alice_key], b"not json", &[]));
    // Missing key file: a clear one-line error.
    let missing: PathBuf = dir.path().join("missing.key");
    failure(e2ee(
        &["open", "--key", missing.to_str().unwrap()],
        &envelope,
        &[],
    ));
}

#[test]
fn keygen_without_a_passphrase_warns_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let plain = path(dir.path(), "plain.key");
    let output = e2ee(&["keygen", "--out", &plain], b"", &[]);
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    ok(output);
    assert!(stderr.starts_with("warning: "), "{stderr:?}");
    assert!(
        stderr.contains("unencrypted") && stderr.contains("plain.key"),
        "{stderr}"
    );

    let protected = path(dir.path(), "protected.key");
    let output = e2ee(
        &["keygen", "--out", &protected, "--passphrase-env", "PASS"],
        b"",
        &[("PASS", "a passphrase")],
    );
    assert!(
        output.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&output.stderr)
    );
    ok(output);
}

#[test]
fn help_lists_every_exit_code_and_the_revoke_command() {
    let help = String::from_utf8(ok(e2ee(&["--help"], b"", &[]))).unwrap();
    assert!(help.contains("8 rate limited"), "{help}");
    let help = String::from_utf8(ok(e2ee(&["keys", "--help"], b"", &[]))).unwrap();
    assert!(help.contains("revoke"), "{help}");
    let help = String::from_utf8(ok(e2ee(&["keys", "revoke", "--help"], b"", &[]))).unwrap();
    assert!(
        help.contains("KEY_ID") && help.contains("--password-env"),
        "{help}"
    );
}

#[test]
fn plain_http_to_another_machine_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let output = e2ee(
        &[
            "--profile-dir",
            dir.path().to_str().unwrap(),
            "--server",
            "http://api.example.test",
            "login",
            "alice",
            "--password-env",
            "PW",
        ],
        b"",
        &[("PW", "a long enough password")],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = failure(output);
    assert!(stderr.contains("https"), "{stderr}");
}

#[test]
fn every_command_has_help() {
    for command in ["keygen", "pubkey", "fingerprint", "seal", "open"] {
        let help = ok(e2ee(&[command, "--help"], b"", &[]));
        assert!(
            String::from_utf8(help).unwrap().contains("Usage: e2ee"),
            "{command}"
        );
    }
}
