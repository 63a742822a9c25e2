-- Instances sharing the database learn of new outbox rows at once, whichever instance committed
-- them: an insert into an outbox announces, on channel `ciba_outbox`, which outbox has work
-- ('notifications' or 'wakeups'). PostgreSQL delivers the announcement when the transaction
-- commits (never for one rolled back) and folds identical ones of a transaction into one.
-- The workers still scan every interval: an announcement only spares them the wait. A statement
-- that inserts no row (ON CONFLICT DO NOTHING) announces too: a spurious wake-up, a claim that
-- finds nothing. Cost: PostgreSQL serialises the commits of notifying transactions on one lock
-- (one backchannel request with wake-ups, one ping/push decision each); measured on one instance
-- in the README, it did not change the backchannel rate.
CREATE FUNCTION ciba_outbox_announce() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('ciba_outbox', TG_ARGV[0]);
  RETURN NULL;
END
$$;

CREATE TRIGGER notification_outbox_announce AFTER INSERT ON notification_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION ciba_outbox_announce('notifications');

CREATE TRIGGER push_outbox_announce AFTER INSERT ON push_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION ciba_outbox_announce('wakeups');
