use e2ee_client::text::sanitize_line;

use super::*;
use zeroize::Zeroizing;

#[test]
fn times_are_utc_calendar_dates() {
    assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(time(1_764_145_653_000), "2025-11-26 08:27:33 UTC");
    assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    assert_eq!(time(-1000), "1969-12-31 23:59:59 UTC");
}

#[test]
fn bidi_controls_are_stripped_from_text_and_names() {
    let all = "\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\u{061c}";
    assert_eq!(sanitize(&format!("a{all}b")), "ab");
    assert_eq!(sanitize("pay \u{202e}0001\u{202c} now"), "pay 0001 now");
    assert_eq!(sanitize_line("x\u{2067}y\nz\u{85}"), "xy z ");
    // Other text is untouched: joiners, accents, right-to-left letters themselves.
    assert_eq!(
        sanitize("שלום e\u{301} a\u{200d}b"),
        "שלום e\u{301} a\u{200d}b"
    );

    let mut shown = report(Verification::Verified, Some("hi \u{202e}txt.exe"));
    shown.sender = Some("bo\u{202e}b\u{1b}".into());
    let text = message(&shown);
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{1b}'),
        "{text:?}"
    );
    assert!(text.contains("hi txt.exe"), "{text}");
}

#[test]
fn the_shown_time_is_the_signed_one() {
    let mut shown = report(Verification::Verified, Some("x"));
    shown.created_at = Some(1_764_145_653_000);
    shown.stored_at = 0;
    let text = message(&shown);
    assert!(
        text.starts_with("[2025-11-26 08:27:33 UTC] bob -> u_a"),
        "{text}"
    );
    let mut failed = report(Verification::Failed, None);
    failed.created_at = None;
    failed.recipients.clear();
    let text = message(&failed);
    assert!(
        text.contains("unauthenticated") && text.contains("-> ?"),
        "{text}"
    );
}

fn report(status: Verification, text: Option<&str>) -> MessageReport {
    MessageReport {
        message_id: "m_1".into(),
        chat_id: "c_1".into(),
        sender_id: "u_b".into(),
        sender: Some("bob".into()),
        recipients: vec![e2ee_client::messages::Participant {
            user_id: "u_a".into(),
            username: None,
        }],
        client_message_id: "x".into(),
        created_at: Some(0),
        stored_at: 0,
        read_at: None,
        outgoing: false,
        status,
        reason: (status != Verification::Verified).then(|| "bad signature".into()),
        replay_of: None,
        text: text.map(|t| Zeroizing::new(t.to_owned())),
        data_base64: None,
        signer_key_id: None,
        decrypted_with_key_id: None,
    }
}

#[test]
fn messages_show_their_status_and_failed_ones_no_text() {
    let shown = message(&report(Verification::Verified, Some("hi\nthere")));
    assert!(shown.contains("bob -> u_a  (verified)  m_1"), "{shown}");
    assert!(shown.contains("\n    hi\n    there\n"), "{shown}");
    let shown = message(&report(Verification::Failed, None));
    assert!(shown.contains("(FAILED: bad signature)"), "{shown}");
    assert!(shown.contains("could not be read"), "{shown}");
    let shown = message(&report(Verification::Unverified, Some("x")));
    assert!(shown.contains("UNVERIFIED"), "{shown}");
}
