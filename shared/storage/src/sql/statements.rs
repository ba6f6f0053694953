//! The SQL text of every statement both databases share (both use `?` placeholders). Only the throttle upserts
//! differ (`sqlite.rs`, `mysql.rs`).
//!
//! Statements are assembled with `concat!` from the fragment macros below into `&'static str`s (sqlx only
//! accepts SQL text that is static or explicitly audited).

macro_rules! key_columns {
    () => {
        "user_id, key_id, public_key_pem, bits, created_at, status, retired_at, revoked_at, \
         endorsement_key_id, endorsement_created_at, endorsement_signature"
    };
}
/// `SELECT <user columns> FROM users WHERE <condition>`.
macro_rules! select_users {
    ($condition:expr) => {
        concat!(
            "SELECT id, username, password_hash, display_name, created_at FROM users WHERE ",
            $condition
        )
    };
}
/// `SELECT <key columns> FROM public_keys WHERE user_id = ?<rest>`.
macro_rules! select_keys_of_user {
    ($($rest:expr),*) => {
        concat!("SELECT ", key_columns!(), " FROM public_keys WHERE user_id = ?", $($rest),*)
    };
}
/// `SELECT <message columns> FROM messages WHERE <rest>`.
macro_rules! select_messages {
    ($($rest:expr),+) => {
        concat!(
            "SELECT id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at \
             FROM messages WHERE ",
            $($rest),+
        )
    };
}
/// Newest first; the key id breaks ties between keys registered in the same millisecond.
macro_rules! newest_key_first {
    () => {
        " ORDER BY created_at DESC, key_id DESC"
    };
}
/// `(created_at, id)` strictly after / before a bound position, written out because row-value comparisons are
/// not index-friendly on every MySQL/MariaDB version.
macro_rules! after_position {
    () => {
        " AND (created_at > ? OR (created_at = ? AND id > ?))"
    };
}
macro_rules! before_position {
    () => {
        " AND (created_at < ? OR (created_at = ? AND id < ?))"
    };
}
/// A page in `(created_at, id)` order, ascending or descending; its size is the last parameter.
macro_rules! oldest_first {
    () => {
        " ORDER BY created_at, id LIMIT ?"
    };
}
macro_rules! newest_first {
    () => {
        " ORDER BY created_at DESC, id DESC LIMIT ?"
    };
}
macro_rules! unread_of_receiver {
    () => {
        "receiver_id = ? AND read_at IS NULL"
    };
}

pub(super) const INSERT_USER: &str = "INSERT INTO users \
    (id, username, username_folded, password_hash, display_name, created_at) VALUES (?, ?, ?, ?, ?, ?)";
pub(super) const USER_BY_ID: &str = select_users!("id = ?");
pub(super) const USER_BY_FOLDED_USERNAME: &str = select_users!("username_folded = ?");

pub(super) const INSERT_KEY: &str = concat!(
    "INSERT INTO public_keys (",
    key_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
pub(super) const KEY: &str = select_keys_of_user!(" AND key_id = ?");
pub(super) const KEYS_NEWEST_FIRST: &str = select_keys_of_user!(newest_key_first!());
pub(super) const NEWEST_KEY: &str = select_keys_of_user!(newest_key_first!(), " LIMIT 1");
pub(super) const NEWEST_ACTIVE_KEY: &str =
    select_keys_of_user!(" AND status = 'active'", newest_key_first!(), " LIMIT 1");
pub(super) const RETIRE_ACTIVE_KEYS_OLDER_THAN: &str = "UPDATE public_keys \
    SET status = 'retired', retired_at = ? \
    WHERE user_id = ? AND status = 'active' AND (created_at < ? OR (created_at = ? AND key_id < ?))";
pub(super) const ACTIVE_KEY_NEWER_THAN: &str = "SELECT key_id FROM public_keys \
    WHERE user_id = ? AND status = 'active' AND (created_at > ? OR (created_at = ? AND key_id > ?)) LIMIT 1";
// The conditional changes of one key: `SET …, <time> = ? WHERE user_id = ? AND key_id = ? AND <status>`.
pub(super) const RETIRE_KEY_IF_ACTIVE: &str = "UPDATE public_keys SET status = 'retired', retired_at = ? \
    WHERE user_id = ? AND key_id = ? AND status = 'active'";
/// `retired_at` is left alone; an already revoked key is not touched, so it keeps its first `revoked_at`.
pub(super) const REVOKE_KEY: &str = "UPDATE public_keys SET status = 'revoked', revoked_at = ? \
    WHERE user_id = ? AND key_id = ? AND status <> 'revoked'";
/// Also sets the endorsement given with the activation (the three endorsement columns follow `created_at`).
pub(super) const ACTIVATE_PENDING_KEY: &str = "UPDATE public_keys SET status = 'active', created_at = ?, \
    endorsement_key_id = ?, endorsement_created_at = ?, endorsement_signature = ? \
    WHERE user_id = ? AND key_id = ? AND status = 'pending'";

pub(super) const INSERT_CHAT: &str =
    "INSERT INTO chats (chat_id, user_low, user_high, created_at) VALUES (?, ?, ?, ?)";
pub(super) const CHAT: &str =
    "SELECT chat_id, user_low, user_high, created_at FROM chats WHERE chat_id = ?";

pub(super) const INSERT_MESSAGE: &str = "INSERT INTO messages \
    (id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?, NULL)";
pub(super) const MESSAGE_BY_ID: &str = select_messages!("id = ?");
pub(super) const MESSAGE_BY_CLIENT_ID: &str =
    select_messages!("sender_id = ? AND client_message_id = ?");
pub(super) const NEWEST_CREATED_AT_IN_CHAT: &str =
    "SELECT MAX(created_at) AS newest FROM messages WHERE chat_id = ?";
pub(super) const UNREAD_FIRST: &str = select_messages!(unread_of_receiver!(), oldest_first!());
pub(super) const UNREAD_AFTER: &str =
    select_messages!(unread_of_receiver!(), after_position!(), oldest_first!());
pub(super) const CHAT_ASC_FIRST: &str = select_messages!("chat_id = ?", oldest_first!());
pub(super) const CHAT_ASC_AFTER: &str =
    select_messages!("chat_id = ?", after_position!(), oldest_first!());
pub(super) const CHAT_DESC_FIRST: &str = select_messages!("chat_id = ?", newest_first!());
pub(super) const CHAT_DESC_AFTER: &str =
    select_messages!("chat_id = ?", before_position!(), newest_first!());
pub(super) const SET_READ_AT_IF_UNREAD: &str =
    "UPDATE messages SET read_at = ? WHERE id = ? AND receiver_id = ? AND read_at IS NULL";

pub(super) const FAILURES: &str =
    "SELECT failures, last_failure_at FROM throttle_failures WHERE throttle_key = ?";
pub(super) const CLEAR_FAILURES: &str = "DELETE FROM throttle_failures WHERE throttle_key = ?";

// Devices and key packages (MLS).

macro_rules! device_columns {
    () => {
        "user_id, device_id, display_name, signature_key, status, cert_issuer_key_id, cert_issued_at, \
         cert_signature, cert_link_proof, created_at, approved_at, revoked_at"
    };
}
macro_rules! key_package_columns {
    () => {
        "key_package_ref, user_id, device_id, message, not_after, last_resort, uploaded_at"
    };
}
/// The unexpired packages of one device, of the kind `last_resort = ?`: binds user, device, kind, now.
macro_rules! unexpired_of_device {
    () => {
        "user_id = ? AND device_id = ? AND last_resort = ? AND not_after > ?"
    };
}

pub(super) const INSERT_DEVICE: &str = concat!(
    "INSERT INTO devices (",
    device_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
pub(super) const DEVICE: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id = ? AND device_id = ?"
);
pub(super) const DEVICES_OF_USER: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id = ? ORDER BY created_at, device_id"
);
/// One page of a user's pending and active devices from the start: binds user, limit.
pub(super) const DEVICES_PAGE_FIRST: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id = ? AND status <> 'revoked' ORDER BY created_at, device_id LIMIT ?"
);
/// One page of a user's pending and active devices after a position: binds user, created at, created at,
/// device, limit.
pub(super) const DEVICES_PAGE_AFTER: &str = concat!(
    "SELECT ",
    device_columns!(),
    " FROM devices WHERE user_id = ? AND status <> 'revoked' \
    AND (created_at > ? OR (created_at = ? AND device_id > ?)) ORDER BY created_at, device_id LIMIT ?"
);
/// Binds issuer key id, issued at, signature, link proof, approved at, user, device.
pub(super) const APPROVE_DEVICE: &str = "UPDATE devices SET status = 'active', cert_issuer_key_id = ?, \
    cert_issued_at = ?, cert_signature = ?, cert_link_proof = ?, approved_at = ? \
    WHERE user_id = ? AND device_id = ? AND status = 'pending'";
/// Binds revoked at, user, device.
pub(super) const REVOKE_DEVICE: &str = "UPDATE devices SET status = 'revoked', revoked_at = ? \
    WHERE user_id = ? AND device_id = ? AND status <> 'revoked'";

pub(super) const INSERT_KEY_PACKAGE: &str = concat!(
    "INSERT INTO key_packages (",
    key_package_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?)"
);
pub(super) const KEY_PACKAGE: &str = concat!(
    "SELECT ",
    key_package_columns!(),
    " FROM key_packages WHERE key_package_ref = ?"
);
/// Candidates for a take, oldest first: binds user, device, `false`, now, limit.
pub(super) const ONE_TIME_CANDIDATES: &str = concat!(
    "SELECT key_package_ref FROM key_packages WHERE ",
    unexpired_of_device!(),
    " ORDER BY uploaded_at, key_package_ref LIMIT ?"
);
pub(super) const DELETE_KEY_PACKAGE: &str = "DELETE FROM key_packages WHERE key_package_ref = ?";
/// Binds user, device, `true`, now.
pub(super) const NEWEST_LAST_RESORT: &str = concat!(
    "SELECT ",
    key_package_columns!(),
    " FROM key_packages WHERE ",
    unexpired_of_device!(),
    " ORDER BY uploaded_at DESC, key_package_ref DESC LIMIT 1"
);
/// Binds user, device, `false`, now.
pub(super) const COUNT_ONE_TIME: &str = concat!(
    "SELECT COUNT(*) AS count FROM key_packages WHERE ",
    unexpired_of_device!()
);
pub(super) const DELETE_OTHER_LAST_RESORTS: &str = "DELETE FROM key_packages \
    WHERE user_id = ? AND device_id = ? AND last_resort = TRUE AND key_package_ref <> ?";
pub(super) const DELETE_DEVICE_KEY_PACKAGES: &str =
    "DELETE FROM key_packages WHERE user_id = ? AND device_id = ?";

/// Binds ref, claimer, owner user, owner device, last resort, not after, granted at.
pub(super) const INSERT_KEY_PACKAGE_GRANT: &str = "INSERT INTO key_package_grants \
    (key_package_ref, claimer_user, owner_user, owner_device, last_resort, not_after, granted_at) \
    VALUES (?, ?, ?, ?, ?, ?, ?)";
pub(super) const KEY_PACKAGE_GRANT: &str = "SELECT key_package_ref, claimer_user, owner_user, owner_device, \
    last_resort, not_after, granted_at FROM key_package_grants WHERE key_package_ref = ? AND claimer_user = ?";
/// Binds ref, group, epoch, commit hash, used at.
pub(super) const INSERT_KEY_PACKAGE_USE: &str = "INSERT INTO key_package_uses \
    (key_package_ref, group_id, epoch, commit_hash, used_at) VALUES (?, ?, ?, ?, ?)";
pub(super) const KEY_PACKAGE_USE: &str = "SELECT key_package_ref, group_id, epoch, commit_hash, used_at \
    FROM key_package_uses WHERE key_package_ref = ?";
/// Binds the fresh group, epoch, commit hash, used at; then the stale ref, group, epoch, commit hash.
pub(super) const REPLACE_KEY_PACKAGE_USE: &str = "UPDATE key_package_uses \
    SET group_id = ?, epoch = ?, commit_hash = ?, used_at = ? \
    WHERE key_package_ref = ? AND group_id = ? AND epoch = ? AND commit_hash = ?";
/// Binds ref, group, epoch, commit hash.
pub(super) const DELETE_KEY_PACKAGE_USE: &str = "DELETE FROM key_package_uses \
    WHERE key_package_ref = ? AND group_id = ? AND epoch = ? AND commit_hash = ?";

// Group logs (MLS).

macro_rules! log_columns {
    () => {
        "group_id, seq, kind, epoch, commit_epoch, sender_user, sender_device, client_message_id, message, \
         created_at"
    };
}
macro_rules! log_state_columns {
    () => {
        concat!(
            log_columns!(),
            ", welcome, group_info, public_state, members"
        )
    };
}

pub(super) const INSERT_LOG_RECORD: &str = concat!(
    "INSERT INTO group_log (",
    log_state_columns!(),
    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
);
pub(super) const NEWEST_EPOCH: &str = concat!(
    "SELECT ",
    log_state_columns!(),
    " FROM group_log WHERE group_id = ? AND commit_epoch >= 0 ORDER BY commit_epoch DESC LIMIT 1"
);
pub(super) const NEWEST_POSITION: &str = "SELECT commit_epoch, seq FROM group_log \
    WHERE group_id = ? AND commit_epoch >= 0 ORDER BY commit_epoch DESC LIMIT 1";
pub(super) const NEWEST_MEMBERS: &str = "SELECT commit_epoch, seq, members FROM group_log \
    WHERE group_id = ? AND commit_epoch >= 0 ORDER BY commit_epoch DESC LIMIT 1";
pub(super) const EPOCH_RECORD: &str = concat!(
    "SELECT ",
    log_state_columns!(),
    " FROM group_log WHERE group_id = ? AND commit_epoch = ?"
);
pub(super) const INSERT_WELCOME_ENTRY: &str = "INSERT INTO welcome_inbox \
    (user_id, device_id, group_id, epoch, commit_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)";
/// Entries after `(created_at, group_id, epoch)` = `(?, ?, ?)` (each bound twice; row values spelled out).
pub(super) const WELCOME_ENTRIES: &str = "SELECT user_id, device_id, group_id, epoch, commit_hash, created_at \
    FROM welcome_inbox WHERE user_id = ? AND device_id = ? \
    AND (created_at > ? OR (created_at = ? AND (group_id > ? OR (group_id = ? AND epoch > ?)))) \
    ORDER BY created_at, group_id, epoch LIMIT ?";
pub(super) const DELETE_WELCOME_ENTRIES: &str =
    "DELETE FROM welcome_inbox WHERE user_id = ? AND device_id = ? AND group_id = ? AND epoch = ?";
pub(super) const DELETE_WELCOME_ENTRY: &str = "DELETE FROM welcome_inbox \
    WHERE user_id = ? AND device_id = ? AND group_id = ? AND epoch = ? AND commit_hash = ?";
pub(super) const INSERT_DEVICE_GROUP: &str =
    "INSERT INTO device_groups (user_id, device_id, group_id, epoch) VALUES (?, ?, ?, ?)";
pub(super) const DEVICE_GROUPS: &str = "SELECT group_id, MAX(epoch) AS epoch FROM device_groups \
    WHERE user_id = ? AND device_id = ? AND group_id > ? GROUP BY group_id ORDER BY group_id LIMIT ?";
pub(super) const DELETE_DEVICE_GROUPS: &str = "DELETE FROM device_groups \
    WHERE user_id = ? AND device_id = ? AND group_id = ? AND epoch <= ?";
pub(super) const COMMIT_AND_WELCOME: &str = "SELECT message, welcome FROM group_log \
    WHERE group_id = ? AND commit_epoch = ? AND kind = 'commit'";
pub(super) const EPOCH_MEMBERS: &str =
    "SELECT members FROM group_log WHERE group_id = ? AND commit_epoch = ?";
pub(super) const LAST_SEQ: &str =
    "SELECT seq FROM group_log WHERE group_id = ? ORDER BY seq DESC LIMIT 1";
pub(super) const LOG_RECORD_BY_CLIENT_ID: &str = concat!(
    "SELECT ",
    log_columns!(),
    " FROM group_log WHERE group_id = ? AND sender_user = ? AND sender_device = ? AND client_message_id = ?"
);
/// Binds group, seq.
pub(super) const EPOCH_AT: &str = "SELECT commit_epoch, seq FROM group_log \
    WHERE group_id = ? AND commit_epoch >= 0 AND seq <= ? ORDER BY commit_epoch DESC LIMIT 1";
/// Binds group, from epoch, to epoch (exclusive): a range of the `(group_id, commit_epoch)` index.
pub(super) const DROP_STATES: &str = "UPDATE group_log SET public_state = NULL, group_info = NULL \
    WHERE group_id = ? AND commit_epoch >= ? AND commit_epoch < ? AND public_state IS NOT NULL";
pub(super) const COUNT_STATES: &str =
    "SELECT COUNT(*) AS count FROM group_log WHERE group_id = ? AND public_state IS NOT NULL";
pub(super) const LOG_AFTER: &str = concat!(
    "SELECT ",
    log_columns!(),
    " FROM group_log WHERE group_id = ? AND seq > ? ORDER BY seq LIMIT ?"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_read_as_intended() {
        assert_eq!(
            CHAT_DESC_AFTER,
            "SELECT id, chat_id, sender_id, receiver_id, client_message_id, envelope, created_at, read_at \
             FROM messages WHERE chat_id = ? AND (created_at < ? OR (created_at = ? AND id < ?)) \
             ORDER BY created_at DESC, id DESC LIMIT ?"
        );
        assert_eq!(
            NEWEST_ACTIVE_KEY,
            "SELECT user_id, key_id, public_key_pem, bits, created_at, status, retired_at, revoked_at, \
             endorsement_key_id, endorsement_created_at, endorsement_signature \
             FROM public_keys WHERE user_id = ? AND status = 'active' ORDER BY created_at DESC, key_id DESC \
             LIMIT 1"
        );
        assert_eq!(
            USER_BY_ID,
            "SELECT id, username, password_hash, display_name, created_at FROM users WHERE id = ?"
        );
    }
}
