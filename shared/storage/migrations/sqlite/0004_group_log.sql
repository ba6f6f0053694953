-- MLS group logs (docs/mls.md, "Storage"): creation, commits (with the new epoch's state) and application
-- messages of one group, in `seq` order. Application rows have a negative commit_epoch (-(seq + 1)) and commit
-- rows a client message id no client can send, so the three unique keys need no partial indexes.

CREATE TABLE group_log (
    group_id          TEXT    NOT NULL,
    seq               INTEGER NOT NULL,
    kind              TEXT    NOT NULL CHECK (kind IN ('create', 'commit', 'application')),
    epoch             INTEGER NOT NULL,
    commit_epoch      INTEGER NOT NULL,
    sender_user       TEXT    NOT NULL,
    sender_device     TEXT    NOT NULL,
    client_message_id TEXT    NOT NULL,
    message           BLOB    NOT NULL,
    welcome           BLOB    NULL,
    group_info        BLOB    NULL,
    public_state      BLOB    NULL,
    members           TEXT    NULL,
    created_at        INTEGER NOT NULL,
    PRIMARY KEY (group_id, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX group_log_epoch ON group_log (group_id, commit_epoch);
CREATE UNIQUE INDEX group_log_client_message ON group_log (group_id, sender_user, sender_device, client_message_id);
