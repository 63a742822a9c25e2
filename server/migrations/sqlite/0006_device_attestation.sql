-- What the server verified about a device at enrollment (README "Device trust"): the JSON of
-- `attestation::DeviceTrust`. NULL for devices enrolled before attestation was checked,
-- which counts as no attestation (amr "swk"). Cleared when the device rotates its key: an
-- attestation is about one key.
ALTER TABLE devices ADD COLUMN attestation TEXT;
