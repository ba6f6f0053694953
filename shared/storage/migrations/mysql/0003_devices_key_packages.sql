-- MLS: the device directory and one-time key packages (docs/mls.md). Times are milliseconds (BIGINT).

CREATE TABLE IF NOT EXISTS devices (
    user_id            VARCHAR(128)   NOT NULL,
    device_id          VARCHAR(64)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    display_name       VARCHAR(64)    NOT NULL,
    signature_key      VARBINARY(256) NOT NULL,
    status             VARCHAR(8)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    cert_issuer_key_id CHAR(64)       CHARACTER SET ascii COLLATE ascii_bin NULL,
    cert_issued_at     BIGINT         NULL,
    cert_signature     VARBINARY(512) NULL,
    created_at         BIGINT         NOT NULL,
    approved_at        BIGINT         NULL,
    revoked_at         BIGINT         NULL,
    PRIMARY KEY (user_id, device_id),
    CONSTRAINT devices_status CHECK (status IN ('pending', 'active', 'revoked'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS key_packages (
    key_package_ref VARBINARY(64)  NOT NULL,
    user_id         VARCHAR(128)   NOT NULL,
    device_id       VARCHAR(64)    CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    message         BLOB           NOT NULL,
    not_after       BIGINT         NOT NULL,
    last_resort     BOOLEAN        NOT NULL,
    uploaded_at     BIGINT         NOT NULL,
    PRIMARY KEY (key_package_ref),
    KEY key_packages_device (user_id, device_id, last_resort, uploaded_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
