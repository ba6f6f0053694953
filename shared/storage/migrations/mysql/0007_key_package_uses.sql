-- Key packages are single-use across the Delivery Service (docs/mls.md, "Key packages are single-use"): a claim
-- records which user it handed each package to (a grant); a commit may add a package only under a grant of its
-- committer, and a one-time package only if no other commit uses it (one use row per package, written before the
-- commit row, counting while its commit is, or may still become, the commit of its epoch). Commits keep only the
-- newest epoch's public state and GroupInfo, so older rows lose theirs.

CREATE TABLE IF NOT EXISTS key_package_grants (
    key_package_ref VARBINARY(64) NOT NULL,
    claimer_user    VARCHAR(128)  NOT NULL,
    owner_user      VARCHAR(128)  NOT NULL,
    owner_device    VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    last_resort     BOOLEAN       NOT NULL,
    not_after       BIGINT        NOT NULL,
    granted_at      BIGINT        NOT NULL,
    PRIMARY KEY (key_package_ref, claimer_user)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS key_package_uses (
    key_package_ref VARBINARY(64) NOT NULL,
    group_id        VARCHAR(128)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    epoch           BIGINT        NOT NULL,
    commit_hash     BINARY(32)    NOT NULL,
    used_at         BIGINT        NOT NULL,
    PRIMARY KEY (key_package_ref)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
