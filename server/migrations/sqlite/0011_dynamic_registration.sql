-- Dynamic client registration (RFC 7591, RFC 7592; README "Dynamic registration"): the initial
-- access tokens the admin issues (by hash; uses_left NULL: any number until expiry), and the
-- registration access token of a client registered through /register (by hash), with which it
-- reads, updates and deletes its registration.
CREATE TABLE initial_access_tokens (
    token_hash  TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    uses_left   BIGINT
);
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT;
