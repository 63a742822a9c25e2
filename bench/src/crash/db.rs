//! The database after the last kill: SQLite's own `PRAGMA integrity_check` and foreign-key
//! check, and on both engines a consistency check of the requests and the notification outbox,
//! row by row and against what the harness was told.

use std::collections::HashMap;
use std::str::FromStr;

use sqlx::Connection;

use super::ledger::{Action, Ledger};

const REQUESTS: &str = "SELECT r.id, r.status, COALESCE(c.delivery_mode, ''), \
     CAST(CASE WHEN r.decided_at IS NULL THEN 0 ELSE 1 END AS BIGINT), \
     CAST(CASE WHEN r.redeemed_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
     FROM requests r LEFT JOIN clients c ON c.id = r.client_id";
const OUTBOX: &str = "SELECT request_id, kind, status FROM notification_outbox";

type RequestRow = (String, String, String, i64, i64);
type OutboxRow = (String, String, String);

/// What the database holds.
#[derive(Debug, Clone, Default)]
pub struct DbReport {
    /// `PRAGMA integrity_check` (SQLite only).
    pub integrity: Option<String>,
    /// Requests per status.
    pub requests_by_status: Vec<(String, usize)>,
    /// Outbox rows per kind and status.
    pub outbox_by_status: Vec<(String, usize)>,
}

macro_rules! fetch {
    ($conn:expr) => {{
        let requests: Vec<RequestRow> = sqlx::query_as(REQUESTS)
            .fetch_all(&mut $conn)
            .await
            .map_err(|e| format!("reading requests: {e}"))?;
        let outbox: Vec<OutboxRow> = sqlx::query_as(OUTBOX)
            .fetch_all(&mut $conn)
            .await
            .map_err(|e| format!("reading the outbox: {e}"))?;
        (requests, outbox)
    }};
}

/// What was read from the database.
#[derive(Debug, Clone, Default)]
pub struct DbData {
    integrity: Option<String>,
    foreign_keys: Vec<(String, i64, String, i64)>,
    requests: Vec<RequestRow>,
    outbox: Vec<OutboxRow>,
}

/// Reads the database at `url` (the server must be stopped).
pub async fn read(url: &str) -> Result<DbData, String> {
    let mut data = DbData::default();
    (data.requests, data.outbox) = if let Some(path) = url.strip_prefix("sqlite://") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| e.to_string())?;
        let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| format!("opening {path}: {e}"))?;
        let integrity: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| format!("integrity_check: {e}"))?;
        let integrity: Vec<String> = integrity.into_iter().map(|(s,)| s).collect();
        data.integrity = Some(integrity.join("; "));
        data.foreign_keys = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| format!("foreign_key_check: {e}"))?;
        fetch!(conn)
    } else {
        let mut conn = sqlx::postgres::PgConnection::connect(url)
            .await
            .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
        fetch!(conn)
    };
    Ok(data)
}

/// Notifications still to be sent (`pending` in the outbox), read while the server runs.
pub async fn pending_notifications(url: &str) -> Result<i64, String> {
    const PENDING: &str = "SELECT COUNT(*) FROM notification_outbox WHERE status = 'pending'";
    let (n,): (i64,) = if let Some(path) = url.strip_prefix("sqlite://") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
            .map_err(|e| e.to_string())?
            .read_only(true);
        let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| format!("opening {path}: {e}"))?;
        sqlx::query_as(PENDING)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?
    } else {
        let mut conn = sqlx::postgres::PgConnection::connect(url)
            .await
            .map_err(|e| format!("connecting to PostgreSQL: {e}"))?;
        sqlx::query_as(PENDING)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?
    };
    Ok(n)
}

/// Checks what was read; violations go to the ledger.
pub fn check(data: DbData, ledger: &mut Ledger) -> DbReport {
    let DbData {
        integrity,
        foreign_keys,
        requests,
        outbox,
    } = data;
    let mut report = DbReport::default();
    if let Some(integrity) = &integrity
        && integrity != "ok"
    {
        ledger.violation(
            "database corrupt",
            format!("PRAGMA integrity_check: {integrity}"),
        );
    }
    report.integrity = integrity;
    for (table, rowid, parent, _) in foreign_keys {
        ledger.violation(
            "database corrupt",
            format!("foreign key: {table} row {rowid} names a missing {parent}"),
        );
    }

    let mut by_status: HashMap<String, usize> = HashMap::new();
    let mut status_of: HashMap<String, String> = HashMap::new();
    let mut ping_requests = Vec::new();
    for (id, status, mode, decided, redeemed) in &requests {
        *by_status.entry(status.clone()).or_default() += 1;
        let consistent = match status.as_str() {
            "pending" => *decided == 0 && *redeemed == 0,
            "approved" | "denied" => *decided == 1 && *redeemed == 0,
            "redeemed" => *decided == 1 && *redeemed == 1,
            "cancelled" => true,
            _ => false,
        };
        if !consistent {
            ledger.violation(
                "inconsistent request row",
                format!(
                    "{id}: status {status}, decided_at set: {decided}, redeemed_at set: {redeemed}"
                ),
            );
        }
        if mode == "ping" {
            ping_requests.push((id.clone(), status.clone()));
        }
        status_of.insert(id.clone(), status.clone());
    }
    let mut outbox_by: HashMap<String, usize> = HashMap::new();
    let mut pinged_rows: HashMap<&str, &str> = HashMap::new();
    for (request_id, kind, status) in &outbox {
        *outbox_by.entry(format!("{kind} {status}")).or_default() += 1;
        match status_of.get(request_id).map(String::as_str) {
            None => ledger.violation(
                "outbox row without its request",
                format!("{kind} notification for {request_id}"),
            ),
            Some("pending") if kind == "ping" => ledger.violation(
                "ping queued for an undecided request",
                format!("{request_id}: {status}"),
            ),
            Some(_) => {}
        }
        if kind == "ping" {
            pinged_rows.insert(request_id, status);
        }
    }
    for (id, status) in &ping_requests {
        let decided = matches!(status.as_str(), "approved" | "denied" | "redeemed");
        match pinged_rows.get(id.as_str()) {
            None if decided => ledger.violation(
                "decision committed without its ping",
                format!("{id}: {status}, no ping in the outbox"),
            ),
            Some(&"pending") if decided => ledger.violation(
                "ping still pending after the drain",
                format!("{id}: {status}"),
            ),
            _ => {}
        }
    }

    // Against what the harness was told.
    let mut found = Vec::new();
    for (seq, r) in &ledger.reqs {
        let Some(txn) = &r.txn_id else { continue };
        let Some(status) = status_of.get(txn).map(String::as_str) else {
            if r.auth_req_id.is_some() {
                found.push((
                    "accepted request lost",
                    format!("request {seq} ({txn}): no row"),
                ));
            }
            continue;
        };
        let fits = match (r.decision.is_decided(), r.action) {
            (true, Action::Approve) => matches!(status, "approved" | "redeemed"),
            (true, Action::Deny) => status == "denied",
            (false, _) => status == "pending",
        };
        if !fits {
            found.push((
                "database disagrees with the answers",
                format!(
                    "request {seq} ({txn}): {:?}, {:?}, stored {status}",
                    r.decision, r.action
                ),
            ));
        }
        if r.tokens_ok > 0 && status != "redeemed" {
            found.push((
                "database disagrees with the answers",
                format!("request {seq} ({txn}): tokens issued, stored {status}"),
            ));
        }
        if status == "redeemed" && r.tokens_ok == 0 && r.token_unknown == 0 {
            found.push((
                "redeemed without tokens handed out",
                format!("request {seq} ({txn}): stored redeemed"),
            ));
        }
    }
    for (kind, detail) in found {
        ledger.violation(kind, detail);
    }

    let sorted = |m: HashMap<String, usize>| {
        let mut v: Vec<(String, usize)> = m.into_iter().collect();
        v.sort();
        v
    };
    report.requests_by_status = sorted(by_status);
    report.outbox_by_status = sorted(outbox_by);
    report
}
