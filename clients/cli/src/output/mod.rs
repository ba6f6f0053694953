//! Human-readable output of the `e2ee` network commands (`--json` prints the reports themselves).
//!
//! Anything that came from another user (message text, names) is shown with control characters replaced,
//! so a message cannot move the cursor, recolor the terminal or fake a status line.

use std::fmt::Write as _;

use e2ee_client::device::{
    Account, ContactReport, ContactStatus, DeviceListReport, DeviceReport, GroupReadReport,
    GroupReport, HistoryReport, KeyInfo, KeysReport, LeaveReport, ReadReport, RevokeReport,
    SendReport, SyncReport,
};
use e2ee_client::messages::{MessageReport, Verification, short};
use e2ee_client::mls::MessageStatus;
use e2ee_client::text::sanitize;

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
        ContactStatus::Unchanged => match &report.rotated_from_fingerprint {
            Some(previous) => format!(
                "rotated: the pinned key {previous} signed this key, so it is pinned now without a key \
                 change (first seen {})",
                time(report.first_seen)
            ),
            None => format!("unchanged since first seen {}", time(report.first_seen)),
        },
        ContactStatus::Changed => format!(
            "CHANGED: the pinned key was {pinned}. Sending is refused until you compare the new fingerprint \
             with {name} and run `e2ee keys verify {name} --accept`"
        ),
        ContactStatus::Accepted => match &report.pinned_fingerprint {
            Some(pinned) => format!("accepted: this key replaces the pinned key {pinned}"),
            None => "accepted: this key is pinned now".to_owned(),
        },
        ContactStatus::Unverified => format!(
            "NOT VERIFIED: this device holds no key of yours and no link proof names this one, so your \
             devices are not trusted here. Compare this fingerprint with `e2ee keys show` on a device that \
             holds your key, then run `e2ee keys verify {name} --accept`"
        ),
    };
    let _ = writeln!(out, "  status:      {status}");
    if report.trusted_keys.len() > 1 {
        let _ = writeln!(out, "  trusted keys:");
        for key in &report.trusted_keys {
            let _ = writeln!(out, "    {}", key.key_id);
        }
    }
    let _ = writeln!(out, "  safety number: {}", report.safety_number);
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

pub fn device_report(report: &DeviceReport) -> String {
    let mut out = format!(
        "device {} of {} is {}; fingerprint {}\n",
        report.device_id, report.user_id, report.status, report.fingerprint
    );
    if report.key_packages > 0 || report.last_resort {
        let _ = writeln!(
            out,
            "{} key packages on the server{}",
            report.key_packages,
            if report.last_resort {
                " (and a last-resort one)"
            } else {
                ""
            }
        );
    }
    if let Some(code) = &report.link_code {
        let _ = writeln!(
            out,
            "link code: {code}\napprove it on a device that holds your key: e2ee device approve {} --code {code}",
            report.device_id
        );
    }
    out
}

pub fn device_list(report: &DeviceListReport) -> String {
    let mut out = format!(
        "devices of {} ({}):\n",
        sanitize(&report.username),
        report.user_id
    );
    for device in &report.devices {
        let _ = writeln!(
            out,
            "  {} \"{}\" {} {} {}",
            device.device_id,
            sanitize(&device.display_name),
            device.status,
            device.fingerprint,
            if device.trusted {
                "certified"
            } else {
                "NOT CERTIFIED by a key you trust"
            }
        );
    }
    if let Some(note) = &report.note {
        let _ = writeln!(out, "note: {}", sanitize(note));
    }
    out
}

pub fn group_created(report: &GroupReport) -> String {
    format!("{}\n{}", report.group_id, group(report))
}

pub fn group(report: &GroupReport) -> String {
    let mut out = format!(
        "group {}{} at epoch {}, {} member devices:\n",
        report.group_id,
        report
            .name
            .as_deref()
            .map(|name| format!(" \"{}\"", sanitize(name)))
            .unwrap_or_default(),
        report.epoch,
        report.members.len()
    );
    for member in &report.members {
        let _ = writeln!(
            out,
            "  {} ({})",
            sanitize(member.username.as_deref().unwrap_or(&member.user_id)),
            member.device_id
        );
    }
    out
}

pub fn group_list(groups: &[GroupReport]) -> String {
    if groups.is_empty() {
        return "this device is in no group\n".into();
    }
    groups.iter().map(group).collect()
}

pub fn group_messages(report: &GroupReadReport) -> String {
    let mut out = String::new();
    for message in &report.messages {
        let from = format!(
            "{} ({})",
            sanitize(&message.sender),
            sanitize(&message.sender_device)
        );
        match &message.text {
            Some(text) => {
                let _ = writeln!(out, "[{}] {from}: {}", message.epoch, sanitize(text));
            }
            None if message.status == MessageStatus::Left => {
                let _ = writeln!(out, "[{}] {from} left the group", message.epoch);
            }
            None => {
                let _ = writeln!(
                    out,
                    "[{}] {from}: FAILED: {}",
                    message.epoch,
                    sanitize(message.reason.as_deref().unwrap_or("unreadable"))
                );
            }
        }
    }
    if out.is_empty() {
        out.push_str("no new messages\n");
    }
    out
}

pub fn group_left(report: &LeaveReport) -> String {
    let mut out = format!("left group {}", report.group_id);
    if !report.removed_devices.is_empty() {
        let _ = write!(
            out,
            "; removed your other devices ({})",
            report.removed_devices.join(", ")
        );
    }
    if report.removal_pending {
        out.push_str("; a member's device removes this one on its next read");
    }
    out.push('\n');
    out
}

pub fn sync(report: &SyncReport) -> String {
    let mut out = String::new();
    for group_id in &report.joined {
        let _ = writeln!(out, "joined group {group_id}");
    }
    for reason in &report.refused {
        let _ = writeln!(out, "refused a Welcome: {}", sanitize(reason));
    }
    for group in &report.groups {
        if !group.messages.is_empty() {
            let _ = writeln!(out, "group {}:", group.group_id);
            out.push_str(&group_messages(group));
        }
    }
    if out.is_empty() {
        out.push_str("nothing new\n");
    }
    out
}

#[cfg(test)]
mod tests;
