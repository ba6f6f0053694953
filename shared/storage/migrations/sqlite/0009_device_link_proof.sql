-- The link proof an approving device gives with a certificate (docs/mls.md, "Linking a device"): an
-- HMAC-SHA256 under the new device's link secret, which the server never sees; stored as given and listed with
-- the device. NULL for certificates without one (a first device, an approval without a code, devices approved
-- before this migration).
ALTER TABLE devices ADD COLUMN cert_link_proof BLOB NULL;
