-- The token lifecycle (README "Tokens"): which clients registered the refresh_token grant, and
-- their refresh tokens. A refresh token is stored only as its SHA-256 hash. Every token of one
-- approval shares a family: using a token rotates it (used_at is set, a new row is the family's
-- next token), and presenting a used token again revokes the whole family. expires_at is the
-- token's own (idle) lifetime, never past family_expires_at (the family's absolute lifetime).
-- access_jti and access_expires_at name the access token issued with the row, so revoking the
-- family revokes what it handed out.
ALTER TABLE clients ADD COLUMN refresh_token_grant BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE refresh_tokens (
    token_hash              TEXT PRIMARY KEY,
    family_id               TEXT NOT NULL,
    client_id               TEXT NOT NULL,
    user_id                 TEXT NOT NULL,
    scope                   TEXT NOT NULL,
    amr                     TEXT NOT NULL,
    acr                     TEXT,
    auth_time               BIGINT NOT NULL,
    certificate_thumbprint  TEXT,
    created_at              BIGINT NOT NULL,
    expires_at              BIGINT NOT NULL,
    family_expires_at       BIGINT NOT NULL,
    used_at                 BIGINT,
    revoked_at              BIGINT,
    access_jti              TEXT NOT NULL,
    access_expires_at       BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens(family_expires_at);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens(client_id);

-- Signing keys per algorithm (ES256, PS256, RS256) and their rotation: a key signs from
-- activates_at (published in the JWKS before that), until the next key of its algorithm
-- activates; it stays in the JWKS while what it signed can still be presented.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0;
-- The algorithm of a client's ID tokens (id_token_signed_response_alg; NULL: ES256).
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT;
