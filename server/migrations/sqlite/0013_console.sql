-- The operators' console (README "The console"): its sign-in sessions, by the SHA-256 of the
-- session cookie (the cookie itself is never stored), with an absolute and an idle expiry; and
-- the audit log's console filters (by client, by kind), paged by id; and when each device was
-- last seen on the device API (at most one write a minute per device).
CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    idle_until  BIGINT NOT NULL
);
CREATE INDEX audit_client_id ON audit_events (client_id, id);
CREATE INDEX audit_kind_id ON audit_events (kind, id);
ALTER TABLE devices ADD COLUMN last_seen_at BIGINT;
UPDATE devices SET last_seen_at = enrolled_at;
-- The overview's latest failed deliveries: only the rows that failed, newest first.
CREATE INDEX push_outbox_errors ON push_outbox (id) WHERE last_error IS NOT NULL;
CREATE INDEX notification_outbox_errors ON notification_outbox (id) WHERE last_error IS NOT NULL;
