-- Schema v1. Timestamps are integer seconds since the Unix epoch; secrets and codes are stored
-- only as SHA-256 hashes (b64u). Written in SQL that PostgreSQL also runs, apart from types.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    subject       TEXT NOT NULL UNIQUE,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT UNIQUE,
    phone         TEXT UNIQUE,
    display_name  TEXT,
    status        TEXT NOT NULL DEFAULT 'active',
    created_at    BIGINT NOT NULL
);

CREATE TABLE clients (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL,
    logo_uri                TEXT,
    delivery_mode           TEXT NOT NULL,
    notification_endpoint   TEXT,
    auth_method             TEXT NOT NULL,
    secret_hash             TEXT,
    scope                   TEXT NOT NULL,
    user_code_parameter     BOOLEAN NOT NULL DEFAULT FALSE,
    request_signing_alg     TEXT,
    jwks                    TEXT,
    jwks_uri                TEXT,
    created_at              BIGINT NOT NULL
);

CREATE TABLE enrollments (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    device_id   TEXT
);

CREATE TABLE devices (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    jkt               TEXT NOT NULL UNIQUE,
    public_jwk        TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT 'active',
    push_provider     TEXT NOT NULL,
    push_token        TEXT,
    push_environment  TEXT NOT NULL,
    display_name      TEXT NOT NULL,
    platform          TEXT NOT NULL,
    model             TEXT,
    os_version        TEXT,
    app_version       TEXT,
    sdk_version       TEXT,
    enrolled_at       BIGINT NOT NULL,
    revoked_at        BIGINT
);
CREATE INDEX devices_user ON devices(user_id);

-- One row per CIBA request: "transactions" to devices, auth_req_ids to clients.
-- status: pending | approved | denied | redeemed | cancelled; "expired" is derived from expires_at.
CREATE TABLE requests (
    id                     TEXT PRIMARY KEY,
    auth_req_id_hash       TEXT NOT NULL UNIQUE,
    client_id              TEXT NOT NULL,
    user_id                TEXT NOT NULL,
    scope                  TEXT NOT NULL,
    acr_values             TEXT NOT NULL,
    binding_message        TEXT,
    authorization_details  TEXT,
    challenge              TEXT NOT NULL,
    status                 TEXT NOT NULL,
    created_at             BIGINT NOT NULL,
    expires_at             BIGINT NOT NULL,
    poll_interval          BIGINT NOT NULL,
    last_polled_at         BIGINT,
    decided_at             BIGINT,
    decided_by             TEXT,
    amr                    TEXT,
    deny_reason            TEXT,
    redeemed_at            BIGINT
);
CREATE INDEX requests_user_status ON requests(user_id, status, created_at);
CREATE INDEX requests_expiry ON requests(expires_at);

-- Replay cache for DPoP proofs and decisions, shared by every instance on this database.
CREATE TABLE seen_jtis (
    key         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX seen_jtis_expiry ON seen_jtis(expires_at);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_der  BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);

CREATE TABLE audit_events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    user_id     TEXT,
    client_id   TEXT,
    device_id   TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_user_at ON audit_events(user_id, at);
CREATE INDEX audit_at ON audit_events(at);
