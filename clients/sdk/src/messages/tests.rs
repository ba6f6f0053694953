use super::*;
use e2ee_crypto::{EnvelopeParts, KeySize, PrivateKey, Recipient, SealParams};
use e2ee_protocol::MessageView;
use std::sync::OnceLock;
use zeroize::Zeroizing;

struct Keys {
    alice: PrivateKey,
    alice_old: PrivateKey,
    bob: PrivateKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        alice: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        alice_old: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
        bob: PrivateKey::generate(KeySize::Rsa2048).unwrap(),
    })
}

fn clone_key(key: &PrivateKey) -> PrivateKey {
    PrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem().unwrap()).unwrap()
}

/// Bob writes to Alice's `alice_key`, signed by Bob.
fn from_bob(alice_key: &PrivateKey, text: &str, sign: bool) -> Envelope {
    let k = keys();
    let recipients = e2ee_crypto::conversation_recipients(
        Recipient {
            user_id: "u_alice",
            key: alice_key.public_key(),
        },
        Recipient {
            user_id: "u_bob",
            key: k.bob.public_key(),
        },
    );
    e2ee_crypto::seal(
        text.as_bytes(),
        &SealParams {
            sender_id: "u_bob",
            message_id: "m-1",
            created_at: 1,
            recipients: &recipients,
            sign_with: sign.then_some(&k.bob),
        },
    )
    .unwrap()
}

/// `envelope` taken apart, changed by `change` and put together again (still well-formed).
fn altered(envelope: &Envelope, change: impl FnOnce(&mut EnvelopeParts)) -> Envelope {
    let mut parts = envelope.clone().into_parts();
    change(&mut parts);
    Envelope::from_parts(parts).unwrap()
}

fn alice_ring() -> KeyRing {
    let k = keys();
    KeyRing::from_keys(clone_key(&k.alice), vec![clone_key(&k.alice_old)])
}

/// Alice opens `envelope` (from bob) with `ring`.
fn open_as_alice(envelope: &Envelope, ring: &mut KeyRing, signer: Signer<'_>) -> Opening {
    open_envelope(envelope, "u_alice", ring, None, signer, "bob")
}

fn trusted_bob() -> Signer<'static> {
    Signer::Key {
        key: keys().bob.public_key(),
        trusted: true,
        revoked: false,
        retired_at: None,
    }
}

fn text(opening: &Opening) -> Option<String> {
    opening
        .plaintext
        .as_ref()
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
}

#[test]
fn a_signed_message_from_a_trusted_key_is_verified() {
    let mut ring = alice_ring();
    let envelope = from_bob(&keys().alice, "hello", true);
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    assert_eq!(opening.status, Verification::Verified);
    assert_eq!(text(&opening).as_deref(), Some("hello"));
    assert_eq!(opening.reason, None);
}

#[test]
fn older_keys_still_read_old_messages() {
    let mut ring = alice_ring();
    let envelope = from_bob(&keys().alice_old, "sealed for the old key", true);
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    assert_eq!(opening.status, Verification::Verified);
    assert_eq!(
        opening.decrypted_with.as_deref(),
        Some(keys().alice_old.key_id().to_string().as_str())
    );
}

#[test]
fn unsigned_unknown_untrusted_and_revoked_signers_are_unverified_but_readable() {
    let mut ring = alice_ring();
    let k = keys();
    let unsigned = from_bob(&k.alice, "no signature", false);
    let opening = open_as_alice(&unsigned, &mut ring, Signer::NotSigned);
    assert_eq!(opening.status, Verification::Unverified);
    assert_eq!(opening.reason.as_deref(), Some("not signed"));
    assert_eq!(text(&opening).as_deref(), Some("no signature"));

    let signed = from_bob(&k.alice, "signed", true);
    for signer in [
        Signer::Unknown,
        Signer::Key {
            key: k.bob.public_key(),
            trusted: false,
            revoked: false,
            retired_at: None,
        },
        Signer::Key {
            key: k.bob.public_key(),
            trusted: true,
            revoked: true,
            retired_at: None,
        },
    ] {
        let opening = open_as_alice(&signed, &mut ring, signer);
        assert_eq!(opening.status, Verification::Unverified, "{signer:?}");
        assert!(opening.reason.is_some());
        assert_eq!(text(&opening).as_deref(), Some("signed"));
    }
}

#[test]
fn tampering_fails_and_never_yields_text() {
    let mut ring = alice_ring();
    let k = keys();
    let envelope = altered(&from_bob(&k.alice, "original", true), |parts| {
        parts.ciphertext[0] ^= 1
    });
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    assert_eq!(opening.status, Verification::Failed);
    assert!(opening.plaintext.is_none());
    assert!(opening.reason.unwrap().contains("bad signature"));

    // Stripping the signature does not make a tampered ciphertext readable either.
    let envelope = altered(&envelope, |parts| parts.signature = None);
    let opening = open_as_alice(&envelope, &mut ring, Signer::NotSigned);
    assert_eq!(opening.status, Verification::Failed);
    assert!(opening.reason.unwrap().contains("cannot decrypt"));

    // A signature by someone else (e.g. the server substituting the sender's key) fails.
    let envelope = from_bob(&k.alice, "original", true);
    let opening = open_as_alice(
        &envelope,
        &mut ring,
        Signer::Key {
            key: k.alice_old.public_key(),
            trusted: true,
            revoked: false,
            retired_at: None,
        },
    );
    assert_eq!(opening.status, Verification::Failed);
}

#[test]
fn a_retired_key_vouches_only_for_messages_signed_before_its_retirement() {
    let mut ring = alice_ring();
    let k = keys();
    // from_bob signs at createdAt = 1.
    let envelope = from_bob(&k.alice, "old enough", true);
    let retired = |retired_at| Signer::Key {
        key: k.bob.public_key(),
        trusted: true,
        revoked: false,
        retired_at: Some(retired_at),
    };
    let opening = open_as_alice(&envelope, &mut ring, retired(2));
    assert_eq!(opening.status, Verification::Verified);
    for retired_at in [1, 0, -5] {
        let opening = open_as_alice(&envelope, &mut ring, retired(retired_at));
        assert_eq!(opening.status, Verification::Unverified, "{retired_at}");
        assert!(opening.reason.unwrap().contains("retired"));
    }
    // Revoked: never verified, whatever the time.
    let revoked = Signer::Key {
        key: k.bob.public_key(),
        trusted: true,
        revoked: true,
        retired_at: Some(i64::MAX),
    };
    let opening = open_as_alice(&envelope, &mut ring, revoked);
    assert_eq!(opening.status, Verification::Unverified);
    assert!(opening.reason.unwrap().contains("revoked"));
}

#[test]
fn an_unsigned_message_from_a_pinned_contact_is_never_verified() {
    let mut ring = alice_ring();
    let k = keys();
    // Sealed without a signature (v2: the empty signer is bound into the AAD).
    let unsigned = from_bob(&k.alice, "unsigned", false);
    let opening = open_as_alice(&unsigned, &mut ring, Signer::NotSigned);
    assert_eq!(opening.status, Verification::Unverified);
    // Even if a caller wrongly passes bob's trusted key, the missing signature is not a verification.
    let opening = open_as_alice(&unsigned, &mut ring, trusted_bob());
    assert_ne!(opening.status, Verification::Verified);
    assert!(opening.plaintext.is_none());
    // Adding bob's signature to someone else's unsigned envelope does not make it open.
    let signed = from_bob(&k.alice, "unsigned", true);
    let grafted = altered(&unsigned, |parts| {
        parts.signature = signed.signature().cloned()
    });
    let opening = open_as_alice(&grafted, &mut ring, trusted_bob());
    assert_eq!(opening.status, Verification::Failed);
}

#[test]
fn a_message_for_another_key_is_failed_not_dropped() {
    let mut ring = KeyRing::from_keys(clone_key(&keys().bob), vec![]);
    let envelope = from_bob(&keys().alice, "for alice", true);
    // Bob's ring reading as "u_alice": no entry for a key he holds.
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    assert_eq!(opening.status, Verification::Failed);
    assert!(opening.reason.unwrap().contains("not sealed"));
}

fn view(envelope: &Envelope) -> MessageView {
    MessageView {
        message_id: "m_1".into(),
        chat_id: "c_1".into(),
        sender_id: "u_bob".into(),
        receiver_id: "u_alice".into(),
        client_message_id: envelope.message_id().to_owned(),
        envelope: envelope.to_value(),
        created_at: 5,
        read_at: None,
    }
}

#[test]
fn stored_envelopes_are_checked_against_the_metadata() {
    let envelope = from_bob(&keys().alice, "x", true);
    let mut stored = view(&envelope);
    assert!(parse_envelope(&stored).is_ok());
    stored.sender_id = "u_mallory".into();
    assert!(parse_envelope(&stored).unwrap_err().contains("sender"));
    let mut stored = view(&envelope);
    // v1 and v2 are readable; anything else is not.
    stored.envelope["version"] = serde_json::json!(3);
    assert!(parse_envelope(&stored).is_err());
}

#[test]
fn reports_carry_text_or_base64_and_the_status() {
    let envelope = from_bob(&keys().alice, "x", true);
    let stored = view(&envelope);
    let names = |id: &str| (id == "u_bob").then(|| "bob".to_owned());
    let opening = Opening {
        status: Verification::Verified,
        reason: None,
        plaintext: Some(Zeroizing::new(vec![0xff, 0x00])),
        decrypted_with: None,
        header: None,
    };
    let report = report(&stored, "u_alice", &names, None, opening);
    assert!(report.text.is_none());
    assert_eq!(
        report.data_base64.as_deref().map(|s| s.as_str()),
        Some("/wA=")
    );
    assert_eq!(report.sender.as_deref(), Some("bob"));
    assert!(!report.outgoing);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["status"], "verified");
    assert_eq!(json["dataBase64"], "/wA=");
}

#[test]
fn time_and_recipients_come_from_the_authenticated_header() {
    let mut ring = alice_ring();
    let envelope = from_bob(&keys().alice, "x", true);
    let mut stored = view(&envelope);
    // The server's own fields say otherwise.
    stored.created_at = 1_999_999_999_999;
    stored.receiver_id = "u_carol".into();
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    let names = |id: &str| (id == "u_alice").then(|| "alice".to_owned());
    let report = report(&stored, "u_alice", &names, None, opening);
    assert_eq!(report.created_at, Some(1), "the envelope's signed time");
    assert_eq!(report.stored_at, 1_999_999_999_999);
    assert_eq!(
        report.recipients,
        [Participant {
            user_id: "u_alice".into(),
            username: Some("alice".into())
        }]
    );
    // Not opened: no authenticated time or recipients at all.
    let failed_report = super::report(&stored, "u_alice", &names, None, failed("x"));
    assert_eq!(failed_report.created_at, None);
    assert!(failed_report.recipients.is_empty());
}

#[test]
fn debug_never_prints_the_plaintext_and_replays_are_not_verified() {
    let mut ring = alice_ring();
    let envelope = from_bob(&keys().alice, "top secret words", true);
    let opening = open_as_alice(&envelope, &mut ring, trusted_bob());
    let mut report = report(&view(&envelope), "u_alice", &|_: &str| None, None, opening);
    assert_eq!(
        report.text.as_deref().map(String::as_str),
        Some("top secret words")
    );
    let debug = format!("{report:?}");
    assert!(!debug.contains("top secret"), "{debug}");
    assert!(debug.contains("[redacted]"), "{debug}");

    report.mark_replay("m_0");
    assert_eq!(report.status, Verification::Unverified);
    assert_eq!(report.replay_of.as_deref(), Some("m_0"));
    assert!(report.reason.as_deref().unwrap().contains("REPLAY"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["replayOf"], "m_0");
}
