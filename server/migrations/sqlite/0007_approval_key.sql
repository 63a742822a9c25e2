-- The device's approval key (DEVICE-PROTOCOL.md §3.2): a second P-256 key, bound to the user's
-- biometrics on the phone, that signs approvals, while the device key keeps signing DPoP proofs
-- (background fetches need no prompt). Its public JWK and what its attestation proved
-- (`attestation::DeviceTrust` JSON). NULL for devices without one.
ALTER TABLE devices ADD COLUMN approval_jwk TEXT;
ALTER TABLE devices ADD COLUMN approval_attestation TEXT;
