//! The wake-up outbox (pushes to devices).

use super::prelude::*;

/// Wake-up push insert; values from [`insert_values`].
pub const PUSH_INSERT: &str = "INSERT INTO push_outbox (request_id, device_id, provider, created_at, next_attempt_at, deadline) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// The values of [`PUSH_INSERT`] for a wake-up of a new request, for the pool and the
/// group-commit writer alike.
pub fn insert_values<'a>(r: &'a CibaRequest, p: &'a NewWakeup) -> [Value<'a>; 6] {
    [
        Value::from(&r.id),
        Value::from(&p.device_id),
        Value::from(p.provider.as_str()),
        Value::from(r.created_at),
        Value::from(r.created_at),
        Value::from(p.deadline),
    ]
}

fn entry_from<R: Row + ?Sized>(row: &R) -> StoreResult<WakeupEntry> {
    let device: Option<String> = row.try_get("d_id")?;
    let target = match device {
        None => None,
        Some(_) => Some(WakeupTarget {
            status: parse_stored(
                row.try_get("d_status")?,
                DeviceStatus::parse,
                "device status",
            )?,
            provider: parse_stored(
                row.try_get("push_provider")?,
                parse_push_provider,
                "push provider",
            )?,
            token: row.try_get("push_token")?,
            environment: parse_stored(
                row.try_get("push_environment")?,
                parse_push_environment,
                "push environment",
            )?,
            token_invalid: row
                .try_get::<Option<i64>>("push_token_invalid_at")?
                .is_some(),
        }),
    };
    let status: Option<String> = row.try_get("r_status")?;
    let request = match status {
        None => None,
        Some(status) => Some((
            RequestStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("request status {status}")))?,
            row.try_get("r_expires_at")?,
        )),
    };
    Ok(WakeupEntry {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        device_id: row.try_get("device_id")?,
        provider: parse_stored(
            row.try_get("provider")?,
            parse_push_provider,
            "push provider",
        )?,
        attempts: row.try_get("attempts")?,
        created_at: row.try_get("created_at")?,
        deadline: row.try_get("deadline")?,
        target,
        request,
        user_id: row.try_get("r_user_id")?,
    })
}

fn delivery_from<R: Row + ?Sized>(row: &R) -> StoreResult<WakeupDelivery> {
    Ok(WakeupDelivery {
        device_id: row.try_get("device_id")?,
        provider: row.try_get("provider")?,
        status: row.try_get("status")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        sent_at: row.try_get("sent_at")?,
    })
}

pub async fn claim<E: Engine>(
    db: &E,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> StoreResult<Vec<WakeupEntry>> {
    let mut writes = db.writes().await;
    // A random claim marks this worker's rows, so one join reads them back with the device
    // and the request (RETURNING cannot join on SQLite).
    let claim = crate::crypto::random_b64u(12).map_err(|e| StoreError::Database(e.to_string()))?;
    let sql = format!(
        "UPDATE push_outbox SET lease_until = $1, attempts = attempts + 1, claim = $4 \
         WHERE id IN (SELECT id FROM push_outbox \
         WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
         ORDER BY next_attempt_at, id LIMIT $3 {}) AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2)",
        E::CLAIM_LOCK
    );
    let claimed = writes
        .execute(
            Query::assembled(sql)
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .bind(&claim),
        )
        .await?;
    if claimed == 0 {
        return Ok(Vec::new());
    }
    let rows = writes
        .fetch_all(
            Query::new(
                "SELECT p.id, p.request_id, p.device_id, p.provider, p.attempts, p.created_at, p.deadline, \
                 d.id AS d_id, d.status AS d_status, d.push_provider, d.push_token, d.push_environment, d.push_token_invalid_at, \
                 r.status AS r_status, r.expires_at AS r_expires_at, r.user_id AS r_user_id \
                 FROM push_outbox p LEFT JOIN devices d ON d.id = p.device_id LEFT JOIN requests r ON r.id = p.request_id \
                 WHERE p.claim = $1 AND p.lease_until = $2 AND p.status = 'pending' ORDER BY p.id",
            )
            .bind(&claim)
            .bind(lease_until),
        )
        .await?;
    rows.iter().map(entry_from).collect()
}

pub async fn finish<E: Engine>(
    db: &E,
    id: i64,
    outcome: WakeupFinal,
    now: i64,
    error: Option<&str>,
) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let sent = outcome == WakeupFinal::Sent;
    let query = Query::new(
        "UPDATE push_outbox SET status = $1, lease_until = NULL, claim = NULL, last_error = $2, sent_at = $3 WHERE id = $4",
    )
    .bind(outcome.as_str())
    .bind(error)
    .bind(sent.then_some(now))
    .bind(id);
    writes.execute(query).await?;
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
        "UPDATE push_outbox SET next_attempt_at = $1, lease_until = NULL, claim = NULL, last_error = $2 WHERE id = $3",
    )
    .bind(next_attempt_at)
    .bind(error)
    .bind(id);
    writes.execute(query).await?;
    Ok(())
}

pub async fn invalidate_push_token<E: Engine>(
    db: &E,
    device_id: &str,
    token: &str,
    now: i64,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE devices SET push_token_invalid_at = $1 WHERE id = $2 AND push_token = $3 AND push_token_invalid_at IS NULL",
    )
    .bind(now)
    .bind(device_id)
    .bind(token);
    Ok(writes.execute(query).await? == 1)
}

pub async fn of_request<E: Engine>(db: &E, request_id: &str) -> StoreResult<Vec<WakeupDelivery>> {
    let query = Query::new(
        "SELECT device_id, provider, status, attempts, next_attempt_at, last_error, created_at, sent_at FROM push_outbox \
         WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(delivery_from).collect()
}
