-- The Welcome inbox of each device (docs/mls.md): entries are written before their commit row and count only
-- while the commit row of (group_id, epoch) has the SHA-256 commit_hash.

CREATE TABLE welcome_inbox (
    user_id     TEXT    NOT NULL,
    device_id   TEXT    NOT NULL,
    group_id    TEXT    NOT NULL,
    epoch       INTEGER NOT NULL,
    commit_hash BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, group_id, epoch, commit_hash)
) WITHOUT ROWID;

CREATE INDEX welcome_inbox_by_age ON welcome_inbox (user_id, device_id, created_at);
