//! The audit trail.

use super::prelude::*;

/// Audit event insert; values from [`insert_values`].
pub const AUDIT_INSERT: &str = "INSERT INTO audit_events (at, kind, user_id, client_id, device_id, request_id, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// The values of [`AUDIT_INSERT`], for the pool and the group-commit writer alike.
pub fn insert_values(e: &NewAuditEvent) -> [Value<'_>; 7] {
    [
        Value::from(e.at),
        Value::from(e.kind),
        Value::from(&e.user_id),
        Value::from(&e.client_id),
        Value::from(&e.device_id),
        Value::from(&e.request_id),
        Value::from(e.detail.to_string()),
    ]
}

pub fn audit_from<R: Row + ?Sized>(row: &R) -> StoreResult<AuditEvent> {
    let detail: String = row.try_get("detail")?;
    Ok(AuditEvent {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        kind: row.try_get("kind")?,
        user_id: row.try_get("user_id")?,
        client_id: row.try_get("client_id")?,
        device_id: row.try_get("device_id")?,
        request_id: row.try_get("request_id")?,
        detail: serde_json::from_str(&detail)
            .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
    })
}

pub async fn append<E: Engine>(db: &E, e: &NewAuditEvent) -> StoreResult<()> {
    let mut writes = db.writes().await;
    writes
        .execute(Query::with_values(AUDIT_INSERT, insert_values(e)))
        .await?;
    Ok(())
}

pub async fn events<E: Engine>(
    db: &E,
    f: &AuditFilter,
    limit: i64,
) -> StoreResult<Vec<AuditEvent>> {
    // One filter, two orders (the cursor follows the order).
    macro_rules! filtered {
        ($after:literal, $order:literal) => {
            concat!(
                "SELECT * FROM audit_events WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
                 AND (CAST($2 AS TEXT) IS NULL OR client_id = $2) \
                 AND (CAST($3 AS TEXT) IS NULL OR kind = $3) \
                 AND (CAST($4 AS BIGINT) IS NULL OR at >= $4) \
                 AND (CAST($5 AS BIGINT) IS NULL OR at < $5) \
                 AND (CAST($6 AS BIGINT) IS NULL OR id ",
                $after,
                " $6) ORDER BY id ",
                $order,
                " LIMIT $7"
            )
        };
    }
    let sql = if f.newest_first {
        filtered!("<", "DESC")
    } else {
        filtered!(">", "ASC")
    };
    let query = Query::new(sql)
        .bind(f.user_id.as_deref())
        .bind(f.client_id.as_deref())
        .bind(f.kind.as_deref())
        .bind(f.since)
        .bind(f.until)
        .bind(f.after_id)
        .bind(limit);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(audit_from).collect()
}

pub async fn of_request<E: Engine>(db: &E, request_id: &str) -> StoreResult<Vec<AuditEvent>> {
    let query =
        Query::new("SELECT * FROM audit_events WHERE request_id = $1 ORDER BY id LIMIT 1000")
            .bind(request_id);
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(audit_from).collect()
}
