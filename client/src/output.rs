//! Human-readable output of the `e2ee` network commands (`--json` prints the reports themselves).
//!
//! Anything that came from another user (message text, names) is shown with control characters replaced,
//! so a message cannot move the cursor, recolor the terminal or fake a status line.

use std::fmt::Write as _;

use crate::device::{
    Account, ContactReport, ContactStatus, HistoryReport, KeyInfo, KeysReport, ReadReport,
    RevokeReport, SendReport,
};
use crate::messages::{MessageReport, Verification, short};

/// `YYYY-MM-DD HH:MM:SS UTC` for milliseconds since the Unix epoch.
pub fn time(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        in_day / 3600,
        (in_day % 3600) / 60,
        in_day % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The Unicode bidirectional formatting characters (embeddings, overrides, isolates, marks): they can make
/// text display in another order than it is stored (e.g. hide a fingerprint or fake a status).
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
    )
}

/// For display: removes bidi controls and replaces every other control character (except newline and
/// tab) with U+FFFD.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect()
}

/// For one-line display (error messages): removes bidi controls and replaces every control character,
/// newlines included, with a space.
pub fn sanitize_line(text: &str) -> String {
    text.chars()
        .filter(|c| !is_bidi_control(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn name(name: &Option<String>, id: &str) -> String {
    sanitize(name.as_deref().unwrap_or(id))
}

/// One message: a header line with time, direction, status and id, then the text indented. Time and
/// recipients are the envelope's authenticated ones; a message that did not open shows neither.
pub fn message(report: &MessageReport) -> String {
    let mut out = String::new();
    let status = match report.status {
        Verification::Verified => "verified".to_owned(),
        Verification::Unverified => format!(
            "UNVERIFIED: {}",
            report.reason.as_deref().unwrap_or("signature not checked")
        ),
        Verification::Failed => format!(
            "FAILED: {}",
            report.reason.as_deref().unwrap_or("cannot be read")
        ),
    };
    let when = match report.created_at {
        Some(created_at) => time(created_at),
        None => format!("stored {}, unauthenticated", time(report.stored_at)),
    };
    let to = if report.recipients.is_empty() {
        "?".to_owned()
    } else {
        report
            .recipients
            .iter()
            .map(|r| name(&r.username, &r.user_id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        out,
        "[{when}] {} -> {to}  ({})  {}",
        name(&report.sender, &report.sender_id),
        sanitize(&status),
        report.message_id
    );
    match (&report.text, &report.data_base64) {
        (Some(text), _) => {
            for line in sanitize(text).lines() {
                let _ = writeln!(out, "    {line}");
            }
            if text.is_empty() {
                let _ = writeln!(out, "    (empty message)");
            }
        }
        (None, Some(data)) => {
            let _ = writeln!(out, "    (binary, base64) {}", data.as_str());
        }
        (None, None) => {
            let _ = writeln!(out, "    (message not shown: it could not be read)");
        }
    }
    out
}

pub fn inbox(reports: &[MessageReport], marked_read: bool) -> String {
    if reports.is_empty() {
        return "no unread messages\n".into();
    }
    let mut out = format!(
        "{} unread message{}{}:\n",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        if marked_read {
            " (now marked read)"
        } else {
            ""
        }
    );
    for report in reports {
        out.push_str(&message(report));
    }
    out
}

pub fn read(report: &ReadReport) -> String {
    match &report.message {
        Some(message_report) => format!(
            "{}marked read at {}\n",
            message(message_report),
            time(report.read_at)
        ),
        None => format!(
            "marked {} read at {} (not found in your inbox or in the chats with your contacts)\n",
            report.message_id,
            time(report.read_at)
        ),
    }
}

pub fn history(report: &HistoryReport) -> String {
    let mut out = format!(
        "chat with {} ({}): {} message{}{}\n",
        sanitize(&report.with.username),
        report.chat_id,
        report.messages.len(),
        if report.messages.len() == 1 { "" } else { "s" },
        if report.truncated {
            ", older ones not shown (use --all or --limit N)"
        } else {
            ""
        }
    );
    for message_report in &report.messages {
        out.push_str(&message(message_report));
    }
    out
}

pub fn account(account: &Account, registered: bool) -> String {
    format!(
        "{} {} ({}) on {} [profile {}]; session valid until {}\n",
        if registered {
            "registered and logged in as"
        } else {
            "logged in as"
        },
        sanitize(&account.username),
        account.user_id,
        account.server,
        account.profile,
        time(account.expires_at)
    )
}

pub fn revoked(report: &RevokeReport) -> String {
    let mut out = format!(
        "revoked key {}\n  key id:      {}\n  it verifies no message any more and is never offered as a recipient key\n",
        report.fingerprint, report.key_id
    );
    if report.was_active {
        out.push_str(
            "your account has no active key now: nobody can write to you until you run `e2ee keys rotate` \
             (or `e2ee keys init`)\n",
        );
    }
    if report.on_this_device {
        out.push_str(
            "the private key stays on this device, so messages sealed for it stay readable\n",
        );
    }
    out
}

pub fn key_info(info: &KeyInfo) -> String {
    let mut out = format!(
        "new key generated on this device and registered\n  fingerprint: {}\n  key id:      {}\n  bits:        {}\n",
        info.fingerprint, info.key_id, info.bits
    );
    if let Some(previous) = &info.previous_key_id {
        let _ = writeln!(
            out,
            "the previous key {} is retired and kept on this device, so older messages stay readable",
            short(previous)
        );
    }
    out
}

pub fn keys(report: &KeysReport) -> String {
    let mut out = format!("profile {}", report.profile);
    if let (Some(username), Some(user_id)) = (&report.username, &report.user_id) {
        let _ = write!(out, ": {} ({user_id})", sanitize(username));
    }
    out.push('\n');
    if report.keys.is_empty() {
        out.push_str("no key on this device: run `e2ee keys init`\n");
    }
    for key in &report.keys {
        let _ = writeln!(
            out,
            "{} {}  {} bits, created {}{}{}",
            if key.current { "*" } else { " " },
            key.key.fingerprint,
            key.key.bits,
            time(key.key.created_at),
            match (key.current, key.key.revoked_at.is_some()) {
                (_, true) => ", revoked",
                (true, false) => ", current",
                (false, false) => "",
            },
            key.server_status
                .map(|s| format!(", server: {}", format!("{s:?}").to_lowercase()))
                .unwrap_or_default()
        );
        let _ = writeln!(out, "  key id {}", key.key.key_id);
    }
    if let Some(foreign) = &report.foreign_active_key {
        let _ = writeln!(
            out,
            "warning: the server's active key for this account ({foreign}) is not on this device"
        );
    }
    if let Some(note) = &report.server_note {
        let _ = writeln!(out, "note: server status unavailable: {note}");
    }
    out
}

pub fn contact(report: &ContactReport) -> String {
    let name = sanitize(&report.username);
    let mut out = format!(
        "{name} ({})\n  fingerprint: {}\n  key id:      {}\n",
        report.user_id, report.fingerprint, report.key_id
    );
    let pinned = report.pinned_fingerprint.as_deref().unwrap_or("?");
    let status = match report.status {
        ContactStatus::New => "first seen now: this key is pinned (trust on first use)".to_owned(),
        ContactStatus::Unchanged => {
            format!("unchanged since first seen {}", time(report.first_seen))
        }
        ContactStatus::Changed => format!(
            "CHANGED: the pinned key was {pinned}. Sending is refused until you compare the new fingerprint \
             with {name} and run `e2ee keys verify {name} --accept`"
        ),
        ContactStatus::Accepted => {
            format!("accepted: this key replaces the pinned key {pinned}")
        }
    };
    let _ = writeln!(out, "  status:      {status}");
    if let Some(mine) = &report.my_fingerprint {
        let _ = writeln!(out, "your fingerprint: {mine}");
    }
    let _ = writeln!(
        out,
        "Compare the fingerprints with {name} over another channel (in person or on a call)."
    );
    out
}

pub fn sent(report: &SendReport) -> String {
    let mut out = format!(
        "sent to {} ({}): message {} in chat {}\n",
        sanitize(&report.to.username),
        report.to.user_id,
        report.message_id,
        report.chat_id
    );
    if report.resealed {
        out.push_str(
            "note: the receiver's key had changed on the server; re-sealed for the new key\n",
        );
    }
    if !report.created {
        out.push_str("note: the server already had this message (idempotent retry)\n");
    }
    out
}

#[cfg(test)]
mod tests {
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
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            sanitize("a\u{1b}[31mb\r\nc\td"),
            "a\u{fffd}[31mb\u{fffd}\nc\td"
        );
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
            recipients: vec![crate::messages::Participant {
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
}
