-- FAPI-CIBA (README "FAPI-CIBA"): whether the profile's rules apply to a client (signed
-- authentication requests, private_key_jwt only, PS256/ES256, no push mode, a binding message).
ALTER TABLE clients ADD COLUMN fapi BOOLEAN NOT NULL DEFAULT FALSE;
