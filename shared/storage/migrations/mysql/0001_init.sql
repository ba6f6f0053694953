-- Schema for MySQL 8 and MariaDB 10.11: users, public keys and messages.
-- Binary collations everywhere: the application normalizes and case-folds usernames itself, and ordering by id
-- must be bytewise, exactly as in SQLite and MongoDB.
-- IF NOT EXISTS keeps a re-run harmless; sqlx additionally serializes concurrent migrators with GET_LOCK.
-- Times are milliseconds since the Unix epoch (BIGINT).

CREATE TABLE IF NOT EXISTS users (
    id              CHAR(34)      CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    username        VARCHAR(32)   NOT NULL,
    -- Lowercasing can lengthen a name (e.g. U+0130 becomes two characters), hence the wider column.
    username_folded VARCHAR(128)  NOT NULL,
    password_hash   VARCHAR(512)  NOT NULL,
    display_name    VARCHAR(64)   NULL,
    created_at      BIGINT        NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY users_username_folded (username_folded)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS public_keys (
    user_id        VARCHAR(128) NOT NULL,
    key_id         CHAR(64)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    public_key_pem TEXT         NOT NULL,
    bits           INT          NOT NULL,
    created_at     BIGINT       NOT NULL,
    status         VARCHAR(8)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (user_id, key_id),
    KEY public_keys_user_status (user_id, status, created_at, key_id),
    KEY public_keys_user_created (user_id, created_at, key_id),
    CONSTRAINT public_keys_status CHECK (status IN ('active', 'retired', 'revoked'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS messages (
    id                CHAR(34)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    chat_id           CHAR(66)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    sender_id         VARCHAR(128) NOT NULL,
    receiver_id       VARCHAR(128) NOT NULL,
    client_message_id VARCHAR(128) NOT NULL,
    envelope          JSON         NOT NULL,
    created_at        BIGINT       NOT NULL,
    read_at           BIGINT       NULL,
    PRIMARY KEY (id),
    UNIQUE KEY messages_sender_client_id (sender_id, client_message_id),
    KEY messages_chat_order (chat_id, created_at, id),
    KEY messages_unread (receiver_id, read_at, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
