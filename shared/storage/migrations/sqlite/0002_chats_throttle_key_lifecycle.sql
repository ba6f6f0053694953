-- Hardening: chat participants, throttle counters, pending keys with retirement and revocation times.
-- Runs inside BEGIN IMMEDIATE together with its bookkeeping row (see src/sql/sqlite.rs), so it is applied
-- exactly once even when many processes open the file at the same moment.

-- Each chat and its two participants (bytewise sorted), recorded before its first message is stored.
CREATE TABLE chats (
    chat_id    TEXT    NOT NULL PRIMARY KEY,
    user_low   TEXT    NOT NULL,
    user_high  TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Backfill from the messages stored so far (TEXT compares bytewise under the default BINARY collation).
INSERT INTO chats (chat_id, user_low, user_high, created_at)
SELECT chat_id,
       MIN(CASE WHEN sender_id <= receiver_id THEN sender_id ELSE receiver_id END),
       MAX(CASE WHEN sender_id <= receiver_id THEN receiver_id ELSE sender_id END),
       MIN(created_at)
FROM messages
GROUP BY chat_id;

-- Fixed-window counters (quotas) and failure counters (login backoff).
CREATE TABLE throttle_windows (
    throttle_key TEXT    NOT NULL PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE throttle_failures (
    throttle_key    TEXT    NOT NULL PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_failure_at INTEGER NOT NULL
) WITHOUT ROWID;

-- public_keys gains the status 'pending' and the times of retirement and revocation. SQLite cannot change a
-- CHECK constraint in place, so the table is rebuilt: copy every row, swap the tables, recreate the indexes.
-- Revocation times were not recorded before this migration (revoked keys verify nothing anyway); retirement
-- times are recovered below.
CREATE TABLE public_keys_v2 (
    user_id        TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    public_key_pem TEXT    NOT NULL,
    bits           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'pending', 'retired', 'revoked')),
    retired_at     INTEGER,
    revoked_at     INTEGER,
    PRIMARY KEY (user_id, key_id)
);

INSERT INTO public_keys_v2 (user_id, key_id, public_key_pem, bits, created_at, status)
SELECT user_id, key_id, public_key_pem, bits, created_at, status FROM public_keys;

DROP TABLE public_keys;
ALTER TABLE public_keys_v2 RENAME TO public_keys;
CREATE INDEX public_keys_user_status ON public_keys (user_id, status, created_at, key_id);
CREATE INDEX public_keys_user_created ON public_keys (user_id, created_at, key_id);

-- A key retired before this migration was retired when the next newer key of its user was registered: that
-- is its retirement time (so it keeps verifying the messages it signed before then).
UPDATE public_keys SET retired_at = (
    SELECT MIN(newer.created_at) FROM public_keys AS newer
    WHERE newer.user_id = public_keys.user_id AND newer.created_at > public_keys.created_at)
WHERE status = 'retired';
