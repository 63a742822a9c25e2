-- FAPI-CIBA (README "FAPI-CIBA"): whether the profile's rules apply to a client (signed
-- authentication requests, private_key_jwt or mTLS only, PS256/ES256, no push mode, a binding
-- message), and the certificate name of a tls_client_auth client (RFC 8705 §2.1.2) as JSON
-- (`{"subject_dn": "CN=…"}`, `{"san_dns": "…"}`, …).
ALTER TABLE clients ADD COLUMN fapi BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN tls_client_auth TEXT;
