-- Key packages are single-use across the Delivery Service (docs/mls.md, "Key packages are single-use"): a claim
-- records which user it handed each package to (a grant); a commit may add a package only under a grant of its
-- committer, and a one-time package only if no other commit uses it (one use row per package, written before the
-- commit row, counting while its commit is, or may still become, the commit of its epoch). Commits keep only the
-- newest epoch's public state and GroupInfo, so older rows lose theirs.

CREATE TABLE key_package_grants (
    key_package_ref BLOB    NOT NULL,
    claimer_user    TEXT    NOT NULL,
    owner_user      TEXT    NOT NULL,
    owner_device    TEXT    NOT NULL,
    last_resort     INTEGER NOT NULL,
    not_after       INTEGER NOT NULL,
    granted_at      INTEGER NOT NULL,
    PRIMARY KEY (key_package_ref, claimer_user)
) WITHOUT ROWID;

CREATE TABLE key_package_uses (
    key_package_ref BLOB    NOT NULL PRIMARY KEY,
    group_id        TEXT    NOT NULL,
    epoch           INTEGER NOT NULL,
    commit_hash     BLOB    NOT NULL,
    used_at         INTEGER NOT NULL
) WITHOUT ROWID;
