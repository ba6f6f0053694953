-- MLS: the device directory and one-time key packages (docs/mls.md). Bytes are BLOBs, times milliseconds.

CREATE TABLE devices (
    user_id            TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    display_name       TEXT    NOT NULL,
    signature_key      BLOB    NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    cert_issuer_key_id TEXT    NULL,
    cert_issued_at     INTEGER NULL,
    cert_signature     BLOB    NULL,
    created_at         INTEGER NOT NULL,
    approved_at        INTEGER NULL,
    revoked_at         INTEGER NULL,
    PRIMARY KEY (user_id, device_id)
) WITHOUT ROWID;

CREATE TABLE key_packages (
    key_package_ref BLOB    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    device_id       TEXT    NOT NULL,
    message         BLOB    NOT NULL,
    not_after       INTEGER NOT NULL,
    last_resort     INTEGER NOT NULL,
    uploaded_at     INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX key_packages_device ON key_packages (user_id, device_id, last_resort, uploaded_at);
