//! Interop with the independent Node implementation (tests/interop/envelope.mjs, built from docs/envelope.md
//! alone): its committed fixtures must open (or fail with the stated error) here, and what we seal must open
//! there. See tests/interop/README.md.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use base64::Engine;
use e2ee_crypto::*;
use serde::Deserialize;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Fixtures {
    keys: HashMap<String, FixtureKey>,
    chat_ids: Vec<ChatIdCase>,
    encrypted_keys: Vec<EncryptedKey>,
    envelopes: Vec<ValidCase>,
    invalid: Vec<InvalidCase>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FixtureKey {
    bits: usize,
    private_key_pem: String,
    public_key_pem: String,
    key_id: String,
    fingerprint: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChatIdCase {
    a: String,
    b: String,
    chat_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EncryptedKey {
    name: String,
    encrypted_private_key_pem: String,
    passphrase: String,
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ValidCase {
    name: String,
    envelope: serde_json::Value,
    aad_hex: String,
    plaintext_base64: String,
    readers: Vec<String>,
    signed_by: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvalidCase {
    name: String,
    envelope_json: String,
    reader: String,
    verify_with: Option<String>,
    expect: String,
}

struct Keys {
    private: HashMap<String, PrivateKey>,
}

impl Keys {
    fn private(&self, name: &str) -> &PrivateKey {
        &self.private[name]
    }
    fn public(&self, name: &str) -> &PublicKey {
        self.private[name].public_key()
    }
}

fn load() -> (Fixtures, Keys) {
    let text = std::fs::read_to_string(repo_root().join("tests/interop/fixtures.json"))
        .expect("fixtures.json");
    let fixtures: Fixtures = serde_json::from_str(&text).expect("fixture schema");
    let private = fixtures
        .keys
        .iter()
        .map(|(name, key)| {
            (
                name.clone(),
                PrivateKey::from_pkcs8_pem(&key.private_key_pem).expect(name),
            )
        })
        .collect();
    (fixtures, Keys { private })
}

fn error_code(error: &CryptoError) -> &'static str {
    match error {
        CryptoError::InvalidEnvelope(_) => "invalid_envelope",
        CryptoError::NotARecipient => "not_recipient",
        CryptoError::BadSignature => "bad_signature",
        CryptoError::CannotDecrypt => "cannot_decrypt",
        _ => "other",
    }
}

#[test]
fn fixture_keys_have_the_same_ids_and_fingerprints() {
    let (fixtures, keys) = load();
    assert_eq!(fixtures.keys.len(), 4);
    for (name, fixture) in &fixtures.keys {
        let public = PublicKey::from_spki_pem(&fixture.public_key_pem).unwrap();
        assert_eq!(public.key_id().to_string(), fixture.key_id, "{name}");
        assert_eq!(public.key_id().fingerprint(), fixture.fingerprint, "{name}");
        assert_eq!(public.size().bits(), fixture.bits, "{name}");
        assert_eq!(keys.private(name).key_id(), public.key_id(), "{name}");
    }
    assert!(!fixtures.encrypted_keys.is_empty());
    for encrypted in &fixtures.encrypted_keys {
        let key = PrivateKey::from_pem(
            &encrypted.encrypted_private_key_pem,
            Some(encrypted.passphrase.as_bytes()),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", encrypted.name));
        assert_eq!(
            key.key_id().to_string(),
            encrypted.key_id,
            "{}",
            encrypted.name
        );
        let wrong = PrivateKey::from_pem(
            &encrypted.encrypted_private_key_pem,
            Some(b"not the passphrase"),
        );
        assert_eq!(
            wrong.unwrap_err(),
            CryptoError::WrongPassphrase,
            "{}",
            encrypted.name
        );
    }
}

#[test]
fn chat_ids_match_node() {
    let (fixtures, _) = load();
    assert!(fixtures.chat_ids.len() >= 4);
    for case in &fixtures.chat_ids {
        assert_eq!(
            chat_id(&case.a, &case.b),
            case.chat_id,
            "{} / {}",
            case.a,
            case.b
        );
        assert_eq!(
            chat_id(&case.b, &case.a),
            case.chat_id,
            "{} / {}",
            case.b,
            case.a
        );
    }
}

#[test]
fn every_valid_node_envelope_opens_with_the_same_aad() {
    let (fixtures, keys) = load();
    assert!(fixtures.envelopes.len() >= 10);
    for case in &fixtures.envelopes {
        let json = serde_json::to_vec(&case.envelope).unwrap();
        let envelope = Envelope::from_json(&json).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(hex::encode(envelope.aad()), case.aad_hex, "{}", case.name);
        let expected = base64::engine::general_purpose::STANDARD
            .decode(&case.plaintext_base64)
            .unwrap();
        for reader in &case.readers {
            let opened = open(&envelope, keys.private(reader), None)
                .unwrap_or_else(|e| panic!("{} by {reader}: {e}", case.name));
            assert_eq!(
                opened.plaintext.as_slice(),
                expected.as_slice(),
                "{} by {reader}",
                case.name
            );
            if let Some(signer) = &case.signed_by {
                let verified = open(&envelope, keys.private(reader), Some(keys.public(signer)))
                    .unwrap_or_else(|e| {
                        panic!("{} by {reader} verifying {signer}: {e}", case.name)
                    });
                assert!(verified.signature_verified);
            }
        }
    }
}

#[test]
fn every_invalid_node_envelope_fails_with_the_stated_error() {
    let (fixtures, keys) = load();
    assert!(fixtures.invalid.len() >= 50);
    let mut mismatches = Vec::new();
    for case in &fixtures.invalid {
        let outcome = Envelope::from_json(case.envelope_json.as_bytes()).and_then(|envelope| {
            open(
                &envelope,
                keys.private(&case.reader),
                case.verify_with.as_deref().map(|name| keys.public(name)),
            )
        });
        match outcome {
            Ok(_) => mismatches.push(format!("{}: opened, expected {}", case.name, case.expect)),
            Err(error) if error_code(&error) != case.expect => mismatches.push(format!(
                "{}: got {error:?}, expected {}",
                case.name, case.expect
            )),
            Err(_) => {}
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        fixtures.invalid.len(),
        mismatches.join("\n")
    );
}

/// The other direction: Node opens what Rust seals. Needs `node`; in CI (CI=true) its absence is a failure.
#[test]
fn node_opens_what_rust_seals() {
    if Command::new("node").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "node is required in CI for the interop test"
        );
        eprintln!("skipping: node is not installed");
        return;
    }
    let (_, keys) = load();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, contents: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    };
    let passphrase = "pässphrase for node";
    let bob_key = write(
        "bob.key",
        &keys
            .private("bob")
            .to_encrypted_pkcs8_pem(passphrase.as_bytes())
            .unwrap(),
    );
    let carol_key = write("carol.key", &keys.private("carol").to_pkcs8_pem().unwrap());
    let alice_pub = write("alice.pub", &keys.public("alice").to_spki_pem().unwrap());

    let plaintext: Vec<u8> = "grüße aus Rust 🦀 ".repeat(500).into_bytes();
    let recipients = [
        Recipient {
            user_id: "u_bob",
            key: keys.public("bob"),
        },
        Recipient {
            user_id: "u_carol",
            key: keys.public("carol"),
        },
    ];
    let envelope = seal(
        &plaintext,
        &SealParams {
            sender_id: "u_alice",
            message_id: "rust-sealed-1",
            created_at: 1_764_145_653_000,
            recipients: &recipients,
            sign_with: Some(keys.private("alice")),
        },
    )
    .unwrap();
    let script = repo_root().join("tests/interop/envelope.mjs");
    for (key, env) in [(&bob_key, Some(passphrase)), (&carol_key, None)] {
        let mut command = Command::new("node");
        command
            .arg(&script)
            .arg("open")
            .arg("--key")
            .arg(key)
            .arg("--verify-with")
            .arg(&alice_pub);
        if let Some(passphrase) = env {
            command
                .arg("--passphrase-env")
                .arg("INTEROP_PASSPHRASE")
                .env("INTEROP_PASSPHRASE", passphrase);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(envelope.to_json().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "node open failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, plaintext);
    }
}
