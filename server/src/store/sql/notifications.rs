//! The client notification outbox (ping and push delivery).

use super::prelude::*;

fn notification_from<R: Row + ?Sized>(row: &R) -> StoreResult<ClientNotificationEntry> {
    Ok(ClientNotificationEntry {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        client_id: row.try_get("client_id")?,
        kind: parse_stored(
            row.try_get("kind")?,
            NotificationKind::parse,
            "notification kind",
        )?,
        payload: row.try_get("payload")?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        deadline: row.try_get("deadline")?,
    })
}

pub async fn claim<E: Engine>(
    db: &E,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<ClientNotificationEntry>> {
    let mut writes = db.writes().await;
    let sql = format!(
        "UPDATE notification_outbox SET lease_until = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM notification_outbox \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
         ORDER BY next_attempt_at, id LIMIT $3 {}) AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
         RETURNING id, request_id, client_id, kind, payload, attempts, created_at, deadline",
        E::CLAIM_LOCK
    );
    let query = Query::assembled(sql)
        .bind(lease_until)
        .bind(now)
        .bind(limit);
    let rows = writes.fetch_all(query).await?;
    rows.iter().map(notification_from).collect()
}

pub async fn finish<E: Engine>(
    db: &E,
    id: i64,
    outcome: NotificationFinal,
    now: i64,
    error: Option<&str>,
) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let delivered = outcome == NotificationFinal::Delivered;
    let mut tx = writes.begin().await?;
    // However it ended, the body goes: a push-mode body holds tokens, and nothing usable stays
    // at rest once the delivery is over.
    tx.execute(
        Query::new(
            "UPDATE notification_outbox SET status = $1, lease_until = NULL, last_error = $2, \
             delivered_at = $3, payload = NULL WHERE id = $4",
        )
        .bind(outcome.as_str())
        .bind(error)
        .bind(delivered.then_some(now))
        .bind(id),
    )
    .await?;
    // A request gets at most one notification: its auth_req_id need not be kept in clear.
    tx.execute(
        Query::new(
            "UPDATE requests SET notify_auth_req_id = NULL \
             WHERE id = (SELECT request_id FROM notification_outbox WHERE id = $1)",
        )
        .bind(id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn retry<E: Engine>(
    db: &E,
    id: i64,
    next_attempt_at: i64,
    error: &str,
) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE notification_outbox SET next_attempt_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(id);
    writes.execute(query).await?;
    Ok(())
}

pub async fn store_push_mode_tokens<E: Engine>(
    db: &E,
    notification_id: i64,
    request_id: &str,
    payload: &str,
    now: i64,
    refresh_token: Option<&RefreshToken>,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let done = tx
        .execute(
            Query::new(
                "UPDATE requests SET status = 'redeemed', redeemed_at = $1 WHERE id = $2 AND status = 'approved'",
            )
            .bind(now)
            .bind(request_id),
        )
        .await?;
    if done != 1 {
        return Ok(false);
    }
    if let Some(token) = refresh_token {
        tx.execute(super::refresh::insert_query(token)).await?;
    }
    tx.execute(
        Query::new("UPDATE notification_outbox SET payload = $1 WHERE id = $2")
            .bind(payload)
            .bind(notification_id),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn store_push_mode_payload<E: Engine>(
    db: &E,
    notification_id: i64,
    payload: &str,
) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new("UPDATE notification_outbox SET payload = $1 WHERE id = $2")
        .bind(payload)
        .bind(notification_id);
    writes.execute(query).await?;
    Ok(())
}

pub async fn enqueue_push_mode_expiries<E: Engine>(
    db: &E,
    since: i64,
    now: i64,
    deadline: i64,
) -> StoreResult<u64> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let marked = tx
        .fetch_all(
            Query::new(
                "UPDATE requests SET expiry_notified = TRUE \
                 WHERE status = 'pending' AND expires_at > $1 AND expires_at <= $2 \
                 AND expiry_notified = FALSE \
                 AND client_id IN (SELECT id FROM clients WHERE delivery_mode = 'push') \
                 RETURNING id, client_id",
            )
            .bind(since)
            .bind(now),
        )
        .await?;
    for row in &marked {
        tx.execute(
            Query::new(
                "INSERT INTO notification_outbox (request_id, client_id, kind, created_at, next_attempt_at, deadline) \
                 VALUES ($1, $2, 'push', $3, $4, $5) ON CONFLICT (request_id, kind) DO NOTHING",
            )
            .bind(row.try_get::<String>("id")?)
            .bind(row.try_get::<String>("client_id")?)
            .bind(now)
            .bind(now)
            .bind(deadline),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(marked.len() as u64)
}

/// Enqueues, due at `$2` until `$3`, a notification for each live (pending or approved) request
/// whose `column` is `$1` and whose client is in ping or push mode — what a lock or a cancel
/// tells the clients, run before the requests are cancelled. A request that has its
/// notification already (an approval of a ping client) keeps it.
pub fn withdrawal_notices(column: &'static str) -> Query<'static> {
    Query::assembled(format!(
        "INSERT INTO notification_outbox (request_id, client_id, kind, created_at, next_attempt_at, deadline) \
         SELECT r.id, r.client_id, c.delivery_mode, $2, $2, $3 FROM requests r JOIN clients c ON c.id = r.client_id \
         WHERE r.{column} = $1 AND r.status IN ('pending', 'approved') AND c.delivery_mode IN ('ping', 'push') \
         ON CONFLICT (request_id, kind) DO NOTHING"
    ))
}
