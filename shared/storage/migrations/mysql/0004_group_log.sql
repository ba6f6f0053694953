-- MLS group logs (docs/mls.md, "Storage"): creation, commits (with the new epoch's state) and application
-- messages of one group, in `seq` order. Application rows have a negative commit_epoch (-(seq + 1)) and commit
-- rows a client message id no client can send, so the three unique keys need no partial indexes.

CREATE TABLE IF NOT EXISTS group_log (
    group_id          VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    seq               BIGINT       NOT NULL,
    kind              VARCHAR(12)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    epoch             BIGINT       NOT NULL,
    commit_epoch      BIGINT       NOT NULL,
    sender_user       VARCHAR(128) NOT NULL,
    sender_device     VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    client_message_id VARCHAR(128) NOT NULL,
    message           MEDIUMBLOB   NOT NULL,
    welcome           MEDIUMBLOB   NULL,
    group_info        MEDIUMBLOB   NULL,
    public_state      LONGBLOB     NULL,
    members           MEDIUMTEXT   NULL,
    created_at        BIGINT       NOT NULL,
    PRIMARY KEY (group_id, seq),
    UNIQUE KEY group_log_epoch (group_id, commit_epoch),
    UNIQUE KEY group_log_client_message (group_id, sender_user, sender_device, client_message_id),
    CONSTRAINT group_log_kind CHECK (kind IN ('create', 'commit', 'application'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
