//! What the admin API lists: users (searched), clients, devices and requests (filtered), by
//! keyset pagination — each page continues after the (time, id) of the last row of the one
//! before, so rows inserted meanwhile neither repeat nor shift a page — and what happened to
//! one request (its client notifications, its audit events), and cancelling it.

use super::prelude::*;
use super::requests::request_from;
use super::users::user_from;
use super::{clients::client_from, devices::device_from};

/// A `LIKE` pattern matching `text` anywhere, case-insensitively (`\` escapes).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn after_values(after: Option<&After>) -> (Option<i64>, Option<&str>) {
    (after.map(|a| a.at), after.map(|a| a.id.as_str()))
}

pub async fn users<E: Engine>(
    db: &E,
    search: Option<&str>,
    status: Option<&str>,
    after: Option<&After>,
    limit: i64,
) -> StoreResult<Vec<User>> {
    let pattern = search.map(contains_pattern);
    let (at, id) = after_values(after);
    let query = Query::new(
        "SELECT * FROM users WHERE (CAST($1 AS TEXT) IS NULL \
         OR LOWER(username) LIKE $1 ESCAPE '\\' OR LOWER(subject) LIKE $1 ESCAPE '\\' \
         OR LOWER(COALESCE(email, '')) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(phone, '')) LIKE $1 ESCAPE '\\' \
         OR LOWER(COALESCE(display_name, '')) LIKE $1 ESCAPE '\\') \
         AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
         AND (CAST($3 AS BIGINT) IS NULL OR created_at > $3 OR (created_at = $3 AND id > $4)) \
         ORDER BY created_at, id LIMIT $5",
    )
    .bind(pattern.as_deref())
    .bind(status)
    .bind(at)
    .bind(id)
    .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(user_from).collect()
}

pub async fn clients<E: Engine>(
    db: &E,
    after: Option<&After>,
    limit: i64,
) -> StoreResult<Vec<Client>> {
    let (at, id) = after_values(after);
    let query = Query::new(
        "SELECT * FROM clients WHERE (CAST($1 AS BIGINT) IS NULL OR created_at > $1 \
         OR (created_at = $1 AND id > $2)) ORDER BY created_at, id LIMIT $3",
    )
    .bind(at)
    .bind(id)
    .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(client_from).collect()
}

pub async fn registered_scopes<E: Engine>(db: &E) -> StoreResult<Vec<String>> {
    let rows = db
        .pool()
        .fetch_all(Query::new("SELECT DISTINCT scope FROM clients"))
        .await?;
    let mut scopes = std::collections::BTreeSet::new();
    for row in &rows {
        scopes.extend(split_words(&row.try_get::<String>("scope")?));
    }
    Ok(scopes.into_iter().collect())
}

pub async fn devices<E: Engine>(
    db: &E,
    filter: &DeviceFilter,
    after: Option<&After>,
    limit: i64,
) -> StoreResult<Vec<Device>> {
    let (at, id) = after_values(after);
    let query = Query::new(
        "SELECT * FROM devices WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
         AND (CAST($2 AS TEXT) IS NULL OR status = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR platform = $3) \
         AND (CAST($4 AS BOOLEAN) IS NULL OR ((push_token IS NOT NULL AND push_token_invalid_at IS NULL) = $4)) \
         AND (CAST($5 AS BIGINT) IS NULL OR enrolled_at > $5 OR (enrolled_at = $5 AND id > $6)) \
         ORDER BY enrolled_at, id LIMIT $7",
    )
    .bind(filter.user_id.as_deref())
    .bind(filter.status.as_deref())
    .bind(filter.platform.as_deref())
    .bind(Value::OptBool(filter.push_token_valid))
    .bind(at)
    .bind(id)
    .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(device_from).collect()
}

/// Newest first.
pub async fn requests<E: Engine>(
    db: &E,
    filter: &RequestFilter,
    now: i64,
    after: Option<&After>,
    limit: i64,
) -> StoreResult<Vec<CibaRequest>> {
    let (at, id) = after_values(after);
    let query = Query::new(
        "SELECT * FROM requests WHERE (CAST($1 AS TEXT) IS NULL OR client_id = $1) \
         AND (CAST($2 AS TEXT) IS NULL OR user_id = $2) \
         AND (CAST($3 AS TEXT) IS NULL OR status = $3) \
         AND (CAST($4 AS BOOLEAN) IS NULL OR ((expires_at <= $5) = $4)) \
         AND (CAST($6 AS BIGINT) IS NULL OR created_at < $6 OR (created_at = $6 AND id < $7)) \
         ORDER BY created_at DESC, id DESC LIMIT $8",
    )
    .bind(filter.client_id.as_deref())
    .bind(filter.user_id.as_deref())
    .bind(filter.status.as_deref())
    .bind(Value::OptBool(filter.expired))
    .bind(now)
    .bind(at)
    .bind(id)
    .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(request_from).collect()
}

pub async fn notifications_of_request<E: Engine>(
    db: &E,
    request_id: &str,
) -> StoreResult<Vec<ClientNotificationDelivery>> {
    let query = Query::new(
        "SELECT kind, status, attempts, created_at, delivered_at, last_error \
         FROM notification_outbox WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter()
        .map(|row| {
            Ok(ClientNotificationDelivery {
                kind: row.try_get("kind")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                created_at: row.try_get("created_at")?,
                delivered_at: row.try_get("delivered_at")?,
                last_error: row.try_get("last_error")?,
            })
        })
        .collect()
}

/// pending or approved (not redeemed), unexpired → cancelled, and the ping or push client told
/// (a notification due now, until `notification_deadline`), in one transaction. False when the
/// request was not live.
pub async fn cancel<E: Engine>(
    db: &E,
    id: &str,
    now: i64,
    notification_deadline: i64,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let live = format!(
        "SELECT id FROM requests WHERE id = $1 AND status IN ('pending', 'approved') AND expires_at > $2 {}",
        E::ROW_LOCK
    );
    if tx
        .fetch_optional(Query::assembled(live).bind(id).bind(now))
        .await?
        .is_none()
    {
        return Ok(false);
    }
    tx.execute(
        super::notifications::withdrawal_notices("id")
            .bind(id)
            .bind(now)
            .bind(notification_deadline),
    )
    .await?;
    let cancelled = tx
        .execute(
            Query::new(
                "UPDATE requests SET status = 'cancelled' WHERE id = $1 AND status IN ('pending', 'approved')",
            )
            .bind(id),
        )
        .await?;
    tx.commit().await?;
    Ok(cancelled == 1)
}

pub async fn request_counts<E: Engine>(
    db: &E,
    since: i64,
    now: i64,
) -> StoreResult<Vec<RequestCount>> {
    let query = Query::new(
        "SELECT (created_at / 60) * 60 AS minute, status, \
         CAST(CASE WHEN expires_at <= $2 THEN 1 ELSE 0 END AS BIGINT) AS expired, \
         COUNT(*) AS n FROM requests WHERE created_at >= $1 \
         GROUP BY (created_at / 60) * 60, status, CASE WHEN expires_at <= $2 THEN 1 ELSE 0 END \
         ORDER BY minute",
    )
    .bind(since)
    .bind(now);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter()
        .map(|row| {
            Ok(RequestCount {
                minute: row.try_get("minute")?,
                status: row.try_get("status")?,
                expired: row.try_get::<i64>("expired")? == 1,
                count: row.try_get("n")?,
            })
        })
        .collect()
}

pub async fn recent_delivery_errors<E: Engine>(
    db: &E,
    limit: i64,
) -> StoreResult<Vec<DeliveryError>> {
    let query = Query::new(
        "SELECT * FROM (SELECT CAST('device_push' AS TEXT) AS source, request_id, provider AS target, \
         status, attempts, last_error, created_at, id FROM push_outbox WHERE last_error IS NOT NULL \
         ORDER BY id DESC LIMIT $1) AS pushes \
         UNION ALL SELECT * FROM (SELECT CAST('client_notification' AS TEXT) AS source, request_id, \
         client_id AS target, status, attempts, last_error, created_at, id FROM notification_outbox \
         WHERE last_error IS NOT NULL ORDER BY id DESC LIMIT $1) AS notifications",
    )
    .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    let mut errors = rows
        .iter()
        .map(|row| {
            Ok(DeliveryError {
                source: row.try_get("source")?,
                request_id: row.try_get("request_id")?,
                target: row.try_get("target")?,
                status: row.try_get("status")?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    errors.sort_by_key(|e| std::cmp::Reverse(e.created_at));
    errors.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(errors)
}
