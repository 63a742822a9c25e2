-- Ping and push delivery (CIBA §10.2, §10.3) through a durable outbox.

-- For ping/push requests: the client's bearer token for its notification endpoint, and the
-- auth_req_id itself, which the notification must carry (kept only until delivery or expiry).
ALTER TABLE requests ADD COLUMN notification_token TEXT;
ALTER TABLE requests ADD COLUMN notify_auth_req_id TEXT;
ALTER TABLE requests ADD COLUMN expiry_notified BOOLEAN NOT NULL DEFAULT FALSE;

-- One row per notification to send. kind: ping | push. status: pending | delivered | failed
-- (permanent refusal) | abandoned (deadline passed). payload holds the push body once minted, so
-- retries resend the same tokens; it is cleared on delivery.
CREATE TABLE notification_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id       TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    payload          TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    deadline         BIGINT NOT NULL,
    lease_until      BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT
);
CREATE INDEX notification_outbox_due ON notification_outbox(status, next_attempt_at);
CREATE UNIQUE INDEX notification_outbox_once ON notification_outbox(request_id, kind);
