//! Maintenance: forgetting what has expired.

use super::prelude::*;

/// Rows deleted per statement: no statement holds the write turn for long on a busy database.
/// A macro so that the statements' `LIMIT` (spliced in with `concat!`) and [`BATCH`] are one
/// number.
macro_rules! batch {
    () => {
        250
    };
}

/// [`batch!`] as a count, to tell a full batch from the last one.
const BATCH: u64 = batch!();

/// After a full batch the sweeper waits this many times as long as the batch took (its wait for
/// the write turn included) before the next one: it holds the write turn at most a quarter of
/// the time, and backs off further when the hot path is busy, so however much has expired the
/// hot path's writes wait behind one short batch at most. (Measured with bench/scale.sh: the
/// back-to-back batches of 1 000 rows that swept a million expired requests in 72 s took
/// backchannel requests from 6 100/s to 126/s meanwhile.)
const PAUSE_FACTOR: u32 = 3;

/// Runs `sql` (a `DELETE … LIMIT batch!()` bound to `bound`) until it deletes less than a batch.
async fn delete_in_batches<E: Engine>(db: &E, sql: &'static str, bound: i64) -> StoreResult<u64> {
    let mut deleted = 0;
    loop {
        let started = std::time::Instant::now();
        let n = {
            let mut writes = db.writes().await;
            writes.execute(Query::new(sql).bind(bound)).await?
        };
        deleted += n;
        if n < BATCH {
            return Ok(deleted);
        }
        tokio::time::sleep(started.elapsed() * PAUSE_FACTOR).await;
    }
}

pub async fn prune_audit<E: Engine>(db: &E, before: i64) -> StoreResult<u64> {
    delete_in_batches(
        db,
        concat!(
            "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT ",
            batch!(),
            ")"
        ),
        before,
    )
    .await
}

pub async fn sweep<E: Engine>(db: &E, now: i64, request_horizon: i64) -> StoreResult<SweepStats> {
    // Each batch takes its own write turn; the short clean-ups at the end share one.
    let mut stats = SweepStats {
        requests: delete_in_batches(
            db,
            concat!(
            "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE expires_at < $1 LIMIT ",
            batch!(),
            ")"
        ),
            request_horizon,
        )
        .await?,
        jtis: delete_in_batches(
            db,
            concat!(
            "DELETE FROM seen_jtis WHERE key IN (SELECT key FROM seen_jtis WHERE expires_at <= $1 LIMIT ",
            batch!(),
            ")"
        ),
            now,
        )
        .await?,
        ..SweepStats::default()
    };
    // Finished notifications and pushes are kept as long as the requests they were about (one
    // or more per request: batched like the requests).
    delete_in_batches(
        db,
        concat!(
            "DELETE FROM notification_outbox WHERE id IN (SELECT id FROM notification_outbox WHERE status <> 'pending' AND created_at < $1 LIMIT ",
            batch!(),
            ")"
        ),
        request_horizon,
    )
    .await?;
    delete_in_batches(
        db,
        concat!(
            "DELETE FROM push_outbox WHERE id IN (SELECT id FROM push_outbox WHERE deadline < $1 LIMIT ",
            batch!(),
            ")"
        ),
        request_horizon,
    )
    .await?;
    let mut writes = db.writes().await;
    stats.enrollments = writes
        .execute(
            Query::new("DELETE FROM enrollments WHERE expires_at <= $1 AND used_at IS NULL")
                .bind(now),
        )
        .await?;
    // Expired refresh tokens (a token never outlives its family), and revoked families once
    // their requests would be gone too.
    stats.refresh_tokens = writes
        .execute(
            Query::new("DELETE FROM refresh_tokens WHERE expires_at <= $1 OR revoked_at < $2")
                .bind(now)
                .bind(request_horizon),
        )
        .await?;
    writes
        .execute(Query::new("DELETE FROM initial_access_tokens WHERE expires_at <= $1").bind(now))
        .await?;
    stats.console_sessions = writes
        .execute(
            Query::new("DELETE FROM console_sessions WHERE expires_at <= $1 OR idle_until <= $1")
                .bind(now),
        )
        .await?;
    // Expired requests that will never be notified (undecided, and no expiry push due or
    // pending) need not keep their auth_req_id in clear until the tombstone goes.
    writes
        .execute(
            Query::new(
                "UPDATE requests SET notify_auth_req_id = NULL \
                 WHERE notify_auth_req_id IS NOT NULL AND expires_at <= $1 \
                 AND (expiry_notified OR client_id NOT IN (SELECT id FROM clients WHERE delivery_mode = 'push')) \
                 AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.request_id = requests.id AND o.status = 'pending')",
            )
            .bind(now),
        )
        .await?;
    Ok(stats)
}
