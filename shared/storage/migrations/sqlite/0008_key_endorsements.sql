-- A key registered with the authorization of the user's then active key keeps that authorization: the
-- endorsing key's id, the signed statement's createdAt and the RSA-PSS signature (docs/security.md, "Key
-- rotation chains"). Clients check it themselves to follow a rotation without a key-change warning. All three
-- are NULL for a first key, a registration authorized by the password, and keys registered before this
-- migration.
ALTER TABLE public_keys ADD COLUMN endorsement_key_id TEXT NULL;
ALTER TABLE public_keys ADD COLUMN endorsement_created_at INTEGER NULL;
ALTER TABLE public_keys ADD COLUMN endorsement_signature BLOB NULL;
