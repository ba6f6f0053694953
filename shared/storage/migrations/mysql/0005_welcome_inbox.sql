-- The Welcome inbox of each device (docs/mls.md): entries are written before their commit row and count only
-- while the commit row of (group_id, epoch) has the SHA-256 commit_hash.

CREATE TABLE IF NOT EXISTS welcome_inbox (
    user_id     VARCHAR(128)  NOT NULL,
    device_id   VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    group_id    VARCHAR(128)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    epoch       BIGINT        NOT NULL,
    commit_hash BINARY(32)    NOT NULL,
    created_at  BIGINT        NOT NULL,
    PRIMARY KEY (user_id, device_id, group_id, epoch, commit_hash),
    KEY welcome_inbox_by_age (user_id, device_id, created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
