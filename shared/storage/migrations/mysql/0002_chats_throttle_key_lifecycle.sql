-- Hardening: chat participants, throttle counters, pending keys with retirement and revocation times.
-- Runs under the GET_LOCK of src/sql/mysql.rs, so concurrent cold starts apply it once. MySQL DDL is not
-- transactional: a failure half-way leaves the migration marked dirty (sqlx refuses to start until resolved).

-- Each chat and its two participants (bytewise sorted), recorded before its first message is stored.
CREATE TABLE IF NOT EXISTS chats (
    chat_id    CHAR(66)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    user_low   VARCHAR(128) NOT NULL,
    user_high  VARCHAR(128) NOT NULL,
    created_at BIGINT       NOT NULL,
    PRIMARY KEY (chat_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Backfill from the messages stored so far. Compared as binary strings: bytewise, without the trailing-space
-- padding of utf8mb4_bin comparisons.
INSERT INTO chats (chat_id, user_low, user_high, created_at)
SELECT chat_id,
       MIN(IF(CAST(sender_id AS BINARY) <= CAST(receiver_id AS BINARY), sender_id, receiver_id)),
       MAX(IF(CAST(sender_id AS BINARY) <= CAST(receiver_id AS BINARY), receiver_id, sender_id)),
       MIN(created_at)
FROM messages
GROUP BY chat_id;

-- Fixed-window counters (quotas) and failure counters (login backoff). Keys are bytes (VARBINARY): exact
-- matches, no collation or padding.
CREATE TABLE IF NOT EXISTS throttle_windows (
    throttle_key VARBINARY(300) NOT NULL,
    window_start BIGINT         NOT NULL,
    hits         BIGINT         NOT NULL,
    PRIMARY KEY (throttle_key)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS throttle_failures (
    throttle_key    VARBINARY(300) NOT NULL,
    failures        BIGINT         NOT NULL,
    last_failure_at BIGINT         NOT NULL,
    PRIMARY KEY (throttle_key)
) ENGINE = InnoDB;

-- public_keys gains the status 'pending' and the times of retirement and revocation (DROP CONSTRAINT needs
-- MySQL 8.0.19+ or MariaDB 10.2+). Revocation times were not recorded before; retirement times are recovered below.
ALTER TABLE public_keys DROP CONSTRAINT public_keys_status;
ALTER TABLE public_keys
    ADD COLUMN retired_at BIGINT NULL,
    ADD COLUMN revoked_at BIGINT NULL,
    ADD CONSTRAINT public_keys_status CHECK (status IN ('active', 'pending', 'retired', 'revoked'));

-- A key retired before this migration was retired when the next newer key of its user was registered: that
-- is its retirement time (so it keeps verifying the messages it signed before then). The aggregate makes the
-- derived table materialized, which MySQL requires for reading the table being updated.
UPDATE public_keys AS k
JOIN (SELECT old.user_id, old.key_id, MIN(newer.created_at) AS next_created_at
      FROM public_keys AS old
      JOIN public_keys AS newer ON newer.user_id = old.user_id AND newer.created_at > old.created_at
      WHERE old.status = 'retired'
      GROUP BY old.user_id, old.key_id) AS next_key
  ON next_key.user_id = k.user_id AND next_key.key_id = k.key_id
SET k.retired_at = next_key.next_created_at;
