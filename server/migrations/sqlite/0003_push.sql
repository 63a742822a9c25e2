-- Wake-up pushes to devices (FCM, APNs) through a durable outbox (DEVICE-PROTOCOL.md §4).

-- Set when the provider said the token is gone (FCM UNREGISTERED, APNs 410 / BadDeviceToken);
-- cleared when the device registers a token again. Such a device only polls meanwhile.
ALTER TABLE devices ADD COLUMN push_token_invalid_at BIGINT;

-- One row per (request, device) push. The device's token is read when sending, so a token the
-- device rotated meanwhile is the one used. status: pending | sent | failed (refused for good) |
-- abandoned (the request expired first) | skipped (nothing to send any more).
CREATE TABLE push_outbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id       TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    provider         TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT NOT NULL,
    deadline         BIGINT NOT NULL,
    lease_until      BIGINT,
    claim            TEXT,
    last_error       TEXT,
    sent_at          BIGINT
);
CREATE INDEX push_outbox_due ON push_outbox(status, next_attempt_at);
CREATE UNIQUE INDEX push_outbox_once ON push_outbox(request_id, device_id);
