//! Maintenance: forgetting what has expired.

use super::prelude::*;

/// Rows deleted per statement: no statement holds locks for long on a busy database.
const BATCH: u64 = 1000;

pub async fn sweep<E: Engine>(db: &E, now: i64, request_horizon: i64) -> StoreResult<SweepStats> {
    // Each batch takes its own write turn; the short clean-ups at the end share one.
    let mut stats = SweepStats::default();
    loop {
        let mut writes = db.writes().await;
        let n = writes
            .execute(
                Query::new(
                    "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE expires_at < $1 LIMIT 1000)",
                )
                .bind(request_horizon),
            )
            .await?;
        stats.requests += n;
        if n < BATCH {
            break;
        }
    }
    loop {
        let mut writes = db.writes().await;
        let n = writes
            .execute(
                Query::new(
                    "DELETE FROM seen_jtis WHERE key IN (SELECT key FROM seen_jtis WHERE expires_at <= $1 LIMIT 1000)",
                )
                .bind(now),
            )
            .await?;
        stats.jtis += n;
        if n < BATCH {
            break;
        }
    }
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
    // Finished notifications and pushes are kept as long as the requests they were about.
    writes
        .execute(
            Query::new(
                "DELETE FROM notification_outbox WHERE status <> 'pending' AND created_at < $1",
            )
            .bind(request_horizon),
        )
        .await?;
    writes
        .execute(Query::new("DELETE FROM push_outbox WHERE deadline < $1").bind(request_horizon))
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
