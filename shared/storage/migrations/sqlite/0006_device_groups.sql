-- The groups of each device (docs/mls.md, "Group listing"): one row per (device, group, epoch it was added at),
-- written before the creation or commit row that adds the device. A row counts only while the device is a leaf of
-- the group's newest epoch; rows of a lost commit, or of a device removed since, are skipped and deleted.

CREATE TABLE device_groups (
    user_id   TEXT    NOT NULL,
    device_id TEXT    NOT NULL,
    group_id  TEXT    NOT NULL,
    epoch     INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, group_id, epoch)
) WITHOUT ROWID;
