-- Whether the last token poll came sooner than the interval allowed (slow_down), so one UPDATE
-- … RETURNING can both record a poll and tell how it went.
ALTER TABLE requests ADD COLUMN poll_slowed BOOLEAN NOT NULL DEFAULT FALSE;
