-- The groups of each device (docs/mls.md, "Group listing"): one row per (device, group, epoch it was added at),
-- written before the creation or commit row that adds the device. A row counts only while the device is a leaf of
-- the group's newest epoch; rows of a lost commit, or of a device removed since, are skipped and deleted.

CREATE TABLE IF NOT EXISTS device_groups (
    user_id   VARCHAR(128) NOT NULL,
    device_id VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    group_id  VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    epoch     BIGINT       NOT NULL,
    PRIMARY KEY (user_id, device_id, group_id, epoch)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
