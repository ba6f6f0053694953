-- Embedded schema: users, public keys and messages in one SQLite file.
-- IF NOT EXISTS keeps the migration harmless when two processes race to apply it.
-- Times are milliseconds since the Unix epoch (INTEGER).

CREATE TABLE IF NOT EXISTS users (
    id              TEXT    NOT NULL PRIMARY KEY,
    username        TEXT    NOT NULL,
    -- Uniqueness and lookups are on the case-folded NFC form computed by the application.
    username_folded TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    display_name    TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS public_keys (
    user_id        TEXT    NOT NULL,
    key_id         TEXT    NOT NULL,
    public_key_pem TEXT    NOT NULL,
    bits           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('active', 'retired', 'revoked')),
    PRIMARY KEY (user_id, key_id)
);
CREATE INDEX IF NOT EXISTS public_keys_user_status ON public_keys (user_id, status, created_at, key_id);
CREATE INDEX IF NOT EXISTS public_keys_user_created ON public_keys (user_id, created_at, key_id);

CREATE TABLE IF NOT EXISTS messages (
    id                TEXT    NOT NULL PRIMARY KEY,
    chat_id           TEXT    NOT NULL,
    sender_id         TEXT    NOT NULL,
    receiver_id       TEXT    NOT NULL,
    client_message_id TEXT    NOT NULL,
    envelope          TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    read_at           INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_sender_client_id ON messages (sender_id, client_message_id);
CREATE INDEX IF NOT EXISTS messages_chat_order ON messages (chat_id, created_at, id);
CREATE INDEX IF NOT EXISTS messages_unread ON messages (receiver_id, read_at, created_at, id);
