//! Round trips, tampering, validation and key handling of envelopes (v2, as `seal` writes them; v1 where noted).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a panic in a test is a failed test

use std::sync::OnceLock;

use e2ee_crypto::*;
use proptest::prelude::*;

struct Keys {
    alice: PrivateKey,
    bob: PrivateKey,
    eve: PrivateKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        eve: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
    })
}

fn seal_alice_to_bob(plaintext: &[u8], signed: bool) -> Envelope {
    let k = keys();
    let recipients = [
        Recipient {
            user_id: "bob",
            key: k.bob.public_key(),
        },
        Recipient {
            user_id: "alice",
            key: k.alice.public_key(),
        },
    ];
    seal(
        plaintext,
        &SealParams {
            sender_id: "alice",
            message_id: "msg-1",
            created_at: 1_764_145_653_000,
            recipients: &recipients,
            sign_with: signed.then_some(&k.alice),
        },
    )
    .unwrap()
}

#[test]
fn round_trips_every_size_for_both_recipients() {
    let k = keys();
    for size in [0usize, 1, 1024, 64 * 1024, MAX_PLAINTEXT_BYTES] {
        let plaintext: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let envelope = seal_alice_to_bob(&plaintext, false);
        let json = envelope.to_json();
        assert!(
            json.len() <= MAX_ENVELOPE_BYTES,
            "{size}: {} bytes of JSON",
            json.len()
        );
        let parsed = Envelope::from_json(json.as_bytes()).unwrap();
        assert_eq!(parsed, envelope);
        for reader in [&k.bob, &k.alice] {
            let opened = open(&parsed, reader, None).unwrap();
            assert_eq!(
                opened.plaintext.as_slice(),
                plaintext.as_slice(),
                "size {size}"
            );
            assert_eq!(opened.header.sender_id, "alice");
            assert_eq!(opened.header.message_id, "msg-1");
            assert_eq!(opened.header.recipients.len(), 2);
            assert!(!opened.signature_verified);
        }
    }
}

/// Sealing parameters that only the recipients vary: sender "a", message "m", time 1, unsigned.
fn unsigned_params<'a>(recipients: &'a [Recipient<'a>]) -> SealParams<'a> {
    SealParams {
        sender_id: "a",
        message_id: "m",
        created_at: 1,
        recipients,
        sign_with: None,
    }
}

#[test]
fn refuses_plaintext_over_the_limit() {
    let k = keys();
    let recipients = [Recipient {
        user_id: "bob",
        key: k.bob.public_key(),
    }];
    let params = unsigned_params(&recipients);
    let err = seal(&vec![0u8; MAX_PLAINTEXT_BYTES + 1], &params).unwrap_err();
    assert_eq!(
        err,
        CryptoError::PlaintextTooLarge {
            max: MAX_PLAINTEXT_BYTES
        }
    );
}

#[test]
fn seal_rejects_bad_headers() {
    let k = keys();
    let bob = Recipient {
        user_id: "bob",
        key: k.bob.public_key(),
    };
    let long_id = "x".repeat(129);
    let cases: Vec<(&str, &str, Vec<Recipient>)> = vec![
        ("", "m", vec![bob]),
        ("a", "m", vec![]),
        ("a", "m", vec![bob, bob]),
        ("a\n", "m", vec![bob]),
        ("a", &long_id, vec![bob]),
    ];
    for (sender, message_id, recipients) in cases {
        let params = SealParams {
            sender_id: sender,
            message_id,
            created_at: 1,
            recipients: &recipients,
            sign_with: None,
        };
        assert!(
            matches!(seal(b"x", &params), Err(CryptoError::InvalidInput(_))),
            "{sender:?} {message_id:?}"
        );
    }
    let seventeen: Vec<PrivateKey> = (0..17)
        .map(|_| PrivateKey::generate(KeySize::Rsa2048).unwrap())
        .collect();
    let recipients: Vec<Recipient> = seventeen
        .iter()
        .map(|key| Recipient {
            user_id: "u",
            key: key.public_key(),
        })
        .collect();
    let params = unsigned_params(&recipients);
    assert!(matches!(
        seal(b"x", &params),
        Err(CryptoError::InvalidInput(_))
    ));
    let params = SealParams {
        recipients: &recipients[..16],
        ..params
    };
    assert_eq!(seal(b"x", &params).unwrap().recipients().len(), 16);
}

#[test]
fn wrong_key_is_not_a_recipient() {
    let envelope = seal_alice_to_bob(b"hello", false);
    assert_eq!(
        open(&envelope, &keys().eve, None).unwrap_err(),
        CryptoError::NotARecipient
    );
}

#[test]
fn an_entry_relabelled_for_another_key_cannot_decrypt() {
    // Eve claims the entry for Bob's key id but the wrapped key is for Alice: the unwrap must fail.
    let mut parts = seal_alice_to_bob(b"hello", false).into_parts();
    let alice_wrapped = parts.recipients[1].wrapped_key.clone();
    parts.recipients[0].wrapped_key = alice_wrapped;
    let envelope = Envelope::from_parts(parts).unwrap();
    assert_eq!(
        open(&envelope, &keys().bob, None).unwrap_err(),
        CryptoError::CannotDecrypt
    );
}

#[test]
fn signatures_verify_and_bind_the_signer() {
    let k = keys();
    let signed = seal_alice_to_bob(b"signed hello", true);
    let opened = open(&signed, &k.bob, Some(k.alice.public_key())).unwrap();
    assert!(opened.signature_verified);
    assert_eq!(
        opened.header.signer_key_id,
        Some(k.alice.key_id().to_string())
    );
    signed.verify_signature(k.alice.public_key()).unwrap();
    // Another sender key, a missing signature, a forged value: all "bad signature".
    assert_eq!(
        open(&signed, &k.bob, Some(k.eve.public_key())).unwrap_err(),
        CryptoError::BadSignature
    );
    let unsigned = seal_alice_to_bob(b"unsigned", false);
    assert_eq!(
        open(&unsigned, &k.bob, Some(k.alice.public_key())).unwrap_err(),
        CryptoError::BadSignature
    );
    let mut forged = signed.clone().into_parts();
    if let Some(signature) = forged.signature.as_mut() {
        signature.value[10] ^= 1;
    }
    let forged = Envelope::from_parts(forged).unwrap();
    assert_eq!(
        forged.verify_signature(k.alice.public_key()).unwrap_err(),
        CryptoError::BadSignature
    );
    // Without a verifying key the signature is not checked, and that is reported.
    assert!(!open(&forged, &k.bob, None).unwrap().signature_verified);
}

/// Every way to change an envelope after sealing; each must make `open` fail.
#[derive(Debug, Clone)]
enum Tamper {
    NonceBit(usize),
    CiphertextBit(usize),
    TagBit(usize),
    WrappedKeyBit(usize),
    SenderId,
    MessageId,
    CreatedAt(u64),
    RecipientUserId(usize),
    RecipientOrder,
    SignatureBit(usize),
}

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0..96usize).prop_map(Tamper::NonceBit),
        (0..(64 * 8usize)).prop_map(Tamper::CiphertextBit),
        (0..128usize).prop_map(Tamper::TagBit),
        (0..2048usize).prop_map(Tamper::WrappedKeyBit),
        Just(Tamper::SenderId),
        Just(Tamper::MessageId),
        (1..u64::from(u32::MAX)).prop_map(Tamper::CreatedAt),
        (0..2usize).prop_map(Tamper::RecipientUserId),
        Just(Tamper::RecipientOrder),
        (0..2048usize).prop_map(Tamper::SignatureBit),
    ]
}

fn flip(bytes: &mut [u8], bit: usize) {
    bytes[bit / 8] ^= 1 << (bit % 8);
}

fn apply(envelope: &mut EnvelopeParts, tamper: &Tamper) {
    let body_len = envelope.ciphertext.len() - 16;
    match *tamper {
        Tamper::NonceBit(bit) => flip(&mut envelope.nonce, bit),
        Tamper::CiphertextBit(bit) => flip(&mut envelope.ciphertext[..body_len], bit),
        Tamper::TagBit(bit) => flip(&mut envelope.ciphertext[body_len..], bit),
        Tamper::WrappedKeyBit(bit) => flip(&mut envelope.recipients[0].wrapped_key, bit),
        Tamper::SenderId => envelope.sender_id = "mallory".into(),
        Tamper::MessageId => envelope.message_id.push('x'),
        Tamper::CreatedAt(delta) => {
            envelope.created_at = envelope.created_at.wrapping_add(delta) % MAX_CREATED_AT
        }
        Tamper::RecipientUserId(i) => envelope.recipients[i].user_id = "carol".into(),
        Tamper::RecipientOrder => envelope.recipients.swap(0, 1),
        Tamper::SignatureBit(bit) => {
            if let Some(signature) = envelope.signature.as_mut() {
                flip(&mut signature.value, bit)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_change_after_sealing_makes_open_fail(tamper in tamper_strategy(), signed in any::<bool>()) {
        let k = keys();
        let original = seal_alice_to_bob(&[7u8; 64], signed).into_parts();
        let mut envelope = original.clone();
        apply(&mut envelope, &tamper);
        let changed = envelope != original;
        prop_assume!(changed);
        // Through JSON too: what the server stores is what the reader parses.
        let reparsed = Envelope::from_json(serde_json::to_string(&envelope).unwrap().as_bytes());
        let verify_with = signed.then(|| k.alice.public_key());
        match reparsed {
            Err(error) => prop_assert!(matches!(error, CryptoError::InvalidEnvelope(_))),
            Ok(envelope) => {
                let error = open(&envelope, &k.bob, verify_with).unwrap_err();
                let expected = if signed { CryptoError::BadSignature } else { CryptoError::CannotDecrypt };
                if let Tamper::SignatureBit(_) = tamper {
                    prop_assert_eq!(error, CryptoError::BadSignature);
                } else {
                    prop_assert_eq!(error, expected);
                }
            }
        }
    }
}

#[test]
fn from_json_rejects_malformed_envelopes() {
    let good: serde_json::Value =
        serde_json::from_str(&seal_alice_to_bob(b"x", true).to_json()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("version 3", edit(&|v| v["version"] = 3.into())),
        ("version 0", edit(&|v| v["version"] = 0.into())),
        ("unknown field", edit(&|v| v["extra"] = 1.into())),
        (
            "missing nonce",
            edit(&|v| {
                v.as_object_mut().unwrap().remove("nonce");
            }),
        ),
        (
            "null signature",
            edit(&|v| v["signature"] = serde_json::Value::Null),
        ),
        (
            "null senderId",
            edit(&|v| v["senderId"] = serde_json::Value::Null),
        ),
        ("bad base64", edit(&|v| v["nonce"] = "!!!!".into())),
        (
            "base64 whitespace",
            edit(&|v| v["nonce"] = "AAAA AAAAAAAAAAA=".into()),
        ),
        (
            "non-canonical base64",
            edit(&|v| {
                // 17 bytes of ciphertext end in "x=": set one of the two unused low bits of x.
                let text = v["ciphertext"].as_str().unwrap().to_owned();
                assert!(text.ends_with('=') && !text.ends_with("=="));
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                let last = text.as_bytes()[text.len() - 2];
                let index = ALPHABET.iter().position(|&c| c == last).unwrap();
                let tampered = ALPHABET[index | 1] as char;
                v["ciphertext"] = format!("{}{}=", &text[..text.len() - 2], tampered).into();
            }),
        ),
        ("short nonce", edit(&|v| v["nonce"] = "AAAAAAAAAAAA".into())),
        ("float createdAt", edit(&|v| v["createdAt"] = 1.5.into())),
        (
            "negative createdAt",
            edit(&|v| v["createdAt"] = (-1).into()),
        ),
        (
            "createdAt > 2^53-1",
            edit(&|v| v["createdAt"] = (1u64 << 53).into()),
        ),
        (
            "upper-case keyId",
            edit(&|v| {
                let id = v["recipients"][0]["keyId"].as_str().unwrap().to_uppercase();
                v["recipients"][0]["keyId"] = id.into();
            }),
        ),
        (
            "duplicate recipient",
            edit(&|v| {
                let first = v["recipients"][0].clone();
                v["recipients"][1] = first;
            }),
        ),
        (
            "17 recipients",
            edit(&|v| {
                let first = v["recipients"][0].clone();
                v["recipients"] = serde_json::Value::Array(vec![first; 17]);
            }),
        ),
        (
            "no recipients",
            edit(&|v| v["recipients"] = serde_json::json!([])),
        ),
        ("wrong keyAlg", edit(&|v| v["keyAlg"] = "RSA-OAEP".into())),
        ("empty senderId", edit(&|v| v["senderId"] = "".into())),
        (
            "control char in userId",
            edit(&|v| v["recipients"][0]["userId"] = "b\u{7}ob".into()),
        ),
        ("not json", b"{\"version\":1,".to_vec()),
        ("oversize", vec![b' '; MAX_ENVELOPE_BYTES + 1]),
    ];
    for (name, json) in cases {
        match Envelope::from_json(&json) {
            Err(CryptoError::InvalidEnvelope(_)) => {}
            other => panic!("{name}: expected InvalidEnvelope, got {other:?}"),
        }
    }
    assert!(Envelope::from_json(&serde_json::to_vec(&good).unwrap()).is_ok());
}

#[test]
fn aad_matches_the_documented_encoding() {
    fn field(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let expected = |envelope: &Envelope, context: &str| {
        let mut expected = Vec::new();
        for text in [context, "RSA-OAEP-256", "A256GCM", "alice", "msg-1"] {
            field(&mut expected, text.as_bytes());
        }
        expected.extend_from_slice(&1_764_145_653_000u64.to_be_bytes());
        expected.extend_from_slice(&2u32.to_be_bytes());
        for r in envelope.recipients() {
            field(&mut expected, r.user_id.as_bytes());
            field(&mut expected, r.key_id.as_bytes());
        }
        expected
    };
    // v2 (what seal writes) ends with the signer's key id, or an empty field when unsigned.
    let unsigned = seal_alice_to_bob(b"x", false);
    assert_eq!(unsigned.version(), 2);
    let mut v2 = expected(&unsigned, "e2ee.envelope.v2");
    field(&mut v2, b"");
    assert_eq!(unsigned.aad(), v2);
    let signed = seal_alice_to_bob(b"x", true);
    let mut v2 = expected(&signed, "e2ee.envelope.v2");
    field(&mut v2, keys().alice.key_id().to_string().as_bytes());
    assert_eq!(signed.aad(), v2);
    // v1 has the other context and no signer field, signed or not.
    for envelope in [unsigned, signed] {
        let v1 = Envelope::from_parts(EnvelopeParts {
            version: 1,
            ..envelope.into_parts()
        })
        .unwrap();
        assert_eq!(v1.aad(), expected(&v1, "e2ee.envelope.v1"));
    }
}

#[test]
fn private_keys_round_trip_through_pem_and_encrypted_pem() {
    let k = keys();
    let pem = k.alice.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        PrivateKey::from_pkcs8_pem(&pem).unwrap().key_id(),
        k.alice.key_id()
    );

    let encrypted = k.alice.to_encrypted_pkcs8_pem(b"correct horse").unwrap();
    assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(!encrypted.contains(&pem[40..80]));
    let back = PrivateKey::from_pem(&encrypted, Some(b"correct horse")).unwrap();
    assert_eq!(back.key_id(), k.alice.key_id());
    assert_eq!(
        PrivateKey::from_pem(&encrypted, Some(b"wrong")).unwrap_err(),
        CryptoError::WrongPassphrase
    );
    assert!(matches!(
        PrivateKey::from_pem(&encrypted, None),
        Err(CryptoError::InvalidInput(_))
    ));
    assert!(k.alice.to_encrypted_pkcs8_pem(b"").is_err());

    let public_pem = k.alice.public_key().to_spki_pem().unwrap();
    assert!(public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(
        PublicKey::from_spki_pem(&public_pem).unwrap(),
        *k.alice.public_key()
    );
    assert!(
        PublicKey::from_spki_pem(&pem).is_err(),
        "a private key is not a public key"
    );
}

/// The SPKI PEM of an RSA key made outside this crate's rules.
fn spki_pem(key: &rsa::PrivateKey) -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    key.to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

#[test]
fn weak_or_odd_keys_are_rejected_on_import() {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let mut rng = rand::rngs::SysRng;
    let small = rsa::PrivateKey::new(&mut rng, 1024).unwrap();
    let small_pem = spki_pem(&small);
    assert_eq!(
        PublicKey::from_spki_pem(&small_pem).unwrap_err(),
        CryptoError::UnsupportedKeySize(1024)
    );
    let small_private = small.to_pkcs8_pem(LineEnding::LF).unwrap();
    assert_eq!(
        PrivateKey::from_pkcs8_pem(&small_private).unwrap_err(),
        CryptoError::UnsupportedKeySize(1024)
    );

    let odd_size = rsa::PrivateKey::new(&mut rng, 2560).unwrap();
    let pem = spki_pem(&odd_size);
    assert_eq!(
        PublicKey::from_spki_pem(&pem).unwrap_err(),
        CryptoError::UnsupportedKeySize(2560)
    );

    let e3 = rsa::PrivateKey::new_with_exp(&mut rng, 2048, rsa::BoxedUint::from(3u32)).unwrap();
    let pem = spki_pem(&e3);
    assert_eq!(
        PublicKey::from_spki_pem(&pem).unwrap_err(),
        CryptoError::UnsupportedExponent
    );

    assert!(matches!(
        PublicKey::from_spki_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"),
        Err(CryptoError::MalformedKey(_))
    ));
    assert!(matches!(
        PublicKey::from_spki_pem(""),
        Err(CryptoError::MalformedKey(_))
    ));
}

#[test]
fn generates_only_supported_sizes() {
    assert_eq!(
        KeySize::from_bits(1024).unwrap_err(),
        CryptoError::UnsupportedKeySize(1024)
    );
    let key = PrivateKey::generate(KeySize::Rsa3072).unwrap();
    assert_eq!(key.public_key().size(), KeySize::Rsa3072);
}

#[test]
fn key_ids_are_sha256_of_spki_der_and_read_aloud_in_groups() {
    use sha2::Digest;
    let k = keys();
    let pem = k.alice.public_key().to_spki_pem().unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64_decode(&body);
    let expected: String = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(k.alice.key_id().to_string(), expected);
    assert_eq!(KeyId::parse(&expected).unwrap(), k.alice.key_id());
    let fingerprint = k.alice.key_id().fingerprint();
    assert_eq!(
        fingerprint,
        expected[..32]
            .to_uppercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(KeyId::parse(&expected.to_uppercase()).is_err());
    assert!(KeyId::parse(&expected[..63]).is_err());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn debug_output_never_shows_secrets() {
    let k = keys();
    let debug = format!("{:?}", k.alice);
    assert_eq!(debug, "PrivateKey([redacted])");
    let opened = open(&seal_alice_to_bob(b"top secret text", false), &k.bob, None).unwrap();
    let debug = format!("{opened:?}");
    assert!(
        debug.contains("[redacted]") && !debug.contains("top secret"),
        "{debug}"
    );
}

/// The envelope's id rule and the server's (`e2ee_protocol::ids::check_id`) are one rule: they agree on every
/// code point (C1 controls such as U+0085 are allowed by both) and on the length bounds.
#[test]
fn envelope_ids_follow_the_shared_id_rule() {
    let parts = seal_alice_to_bob(b"x", false).into_parts();
    let accepts = |message_id: String| {
        Envelope::from_parts(EnvelopeParts {
            message_id,
            ..parts.clone()
        })
        .is_ok()
    };
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        let id = format!("m{c}");
        assert_eq!(
            accepts(id.clone()),
            e2ee_protocol::ids::check_id(&id).is_ok(),
            "U+{:04X}",
            u32::from(c)
        );
    }
    for length in [0, 1, MAX_ID_BYTES, MAX_ID_BYTES + 1] {
        let id = "m".repeat(length);
        assert_eq!(
            accepts(id.clone()),
            e2ee_protocol::ids::check_id(&id).is_ok()
        );
    }
    assert!(accepts("m\u{85}".into()));
    assert!(!accepts("m\u{7f}".into()));
}
