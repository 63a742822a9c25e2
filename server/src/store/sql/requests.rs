//! CIBA requests: the insert (with its wake-ups and audit trail), reads, the poll fast path and
//! the state transitions.

use super::audit::{self, AUDIT_INSERT};
use super::prelude::*;
use super::wakeups::{self, PUSH_INSERT};

/// New request insert; values from [`insert_values`].
pub const REQUEST_INSERT: &str = "INSERT INTO requests (id, auth_req_id_hash, client_id, user_id, scope, acr_values, \
     binding_message, authorization_details, challenge, status, created_at, expires_at, poll_interval, \
     notification_token, notify_auth_req_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// How many pending, unexpired requests a user (`$1`) has at `$2`: what the per-user limit
/// counts, in the same transaction as the insert it allows.
pub const COUNT_PENDING_OF_USER: &str = "SELECT COUNT(*) AS n FROM requests \
     WHERE user_id = $1 AND status = 'pending' AND expires_at > $2";

/// The values of [`REQUEST_INSERT`], for the pool and the group-commit writer alike.
pub fn insert_values(r: &CibaRequest) -> [Value<'_>; 15] {
    [
        Value::from(&r.id),
        Value::from(&r.auth_req_id_hash),
        Value::from(&r.client_id),
        Value::from(&r.user_id),
        Value::from(r.scope.join(" ")),
        Value::from(r.acr_values.join(" ")),
        Value::from(&r.binding_message),
        Value::from(&r.authorization_details),
        Value::from(&r.challenge),
        Value::from(r.status.as_str()),
        Value::from(r.created_at),
        Value::from(r.expires_at),
        Value::from(r.interval),
        Value::from(&r.notification_token),
        Value::from(&r.notify_auth_req_id),
    ]
}

/// The pending-poll fast path; values from [`poll_values`]. SET expressions all see the row as
/// it was; RETURNING sees it as it is now.
pub const POLL_PENDING: &str = "UPDATE requests SET \
       poll_slowed = (last_polled_at IS NOT NULL AND last_polled_at + poll_interval > $2), \
       poll_interval = CASE WHEN last_polled_at IS NOT NULL AND last_polled_at + poll_interval > $2 \
                       THEN poll_interval + $3 ELSE poll_interval END, \
       last_polled_at = $2 \
     WHERE auth_req_id_hash = $1 AND client_id = $4 AND status = 'pending' AND expires_at > $2 \
     RETURNING poll_slowed";

/// The values of [`POLL_PENDING`], for the pool and the group-commit writer alike.
pub fn poll_values<'a>(hash: &'a str, client_id: &'a str, now: i64, step: i64) -> [Value<'a>; 4] {
    [
        Value::from(hash),
        Value::from(now),
        Value::from(step),
        Value::from(client_id),
    ]
}

/// What `RETURNING poll_slowed` says.
pub fn poll_outcome(slowed: bool) -> PollOutcome {
    if slowed {
        PollOutcome::TooFast
    } else {
        PollOutcome::Allowed
    }
}

/// The columns [`request_from`] reads (a literal, so `concat!` can put it in constants).
macro_rules! request_columns {
    () => {
        "id, auth_req_id_hash, client_id, user_id, scope, acr_values, binding_message, \
         authorization_details, challenge, status, created_at, expires_at, poll_interval, last_polled_at, \
         decided_at, decided_by, amr, deny_reason, redeemed_at, notification_token, notify_auth_req_id"
    };
}
pub(crate) use request_columns;

const BY_ID: &str = concat!(
    "SELECT ",
    request_columns!(),
    " FROM requests WHERE id = $1"
);
/// A request by its auth_req_id's hash (`$1`).
pub const BY_AUTH_REQ_ID: &str = concat!(
    "SELECT ",
    request_columns!(),
    " FROM requests WHERE auth_req_id_hash = $1"
);
const PENDING_OF_USER: &str = concat!(
    "SELECT ",
    request_columns!(),
    " FROM requests WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 \
     ORDER BY created_at DESC, id DESC LIMIT 100"
);

pub fn request_from<R: Row + ?Sized>(row: &R) -> StoreResult<CibaRequest> {
    let status: String = row.try_get("status")?;
    let amr: Option<String> = row.try_get("amr")?;
    Ok(CibaRequest {
        id: row.try_get("id")?,
        auth_req_id_hash: row.try_get("auth_req_id_hash")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: split_words(&row.try_get::<String>("scope")?),
        acr_values: split_words(&row.try_get::<String>("acr_values")?),
        binding_message: row.try_get("binding_message")?,
        authorization_details: row.try_get("authorization_details")?,
        challenge: row.try_get("challenge")?,
        status: RequestStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("request status {status}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        interval: row.try_get("poll_interval")?,
        last_polled_at: row.try_get("last_polled_at")?,
        decided_at: row.try_get("decided_at")?,
        decided_by: row.try_get("decided_by")?,
        amr: match amr {
            Some(text) => {
                serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("amr: {e}")))?
            }
            None => Vec::new(),
        },
        deny_reason: row.try_get("deny_reason")?,
        redeemed_at: row.try_get("redeemed_at")?,
        notification_token: row.try_get("notification_token")?,
        notify_auth_req_id: row.try_get("notify_auth_req_id")?,
    })
}

/// The pool path of [`Store::insert_request`](crate::store::Store::insert_request).
pub async fn insert<E: Engine>(
    db: &E,
    r: &CibaRequest,
    pushes: &[NewWakeup],
    audit: &[NewAuditEvent],
    max_pending: Option<u32>,
) -> StoreResult<InsertOutcome> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    // Serialised with the user's other new requests (the limit) and with a lock of the user.
    if let Some(lock) = E::USER_LOCK {
        tx.execute(Query::new(lock).bind(&r.user_id)).await?;
    }
    // The insert first, so the transaction holds the write lock before it reads (a read that
    // then writes can deadlock with another one on SQLite); then the count, this request
    // included. Over the limit, dropping the transaction rolls the insert back.
    tx.execute(Query::with_values(REQUEST_INSERT, insert_values(r)))
        .await?;
    if let Some(limit) = max_pending {
        let row = tx
            .fetch_optional(
                Query::new(COUNT_PENDING_OF_USER)
                    .bind(&r.user_id)
                    .bind(r.created_at),
            )
            .await?;
        let pending: i64 = match row {
            Some(row) => row.try_get("n")?,
            None => 0,
        };
        if pending > i64::from(limit) {
            return Ok(InsertOutcome::UserAtLimit);
        }
    }
    // The pushes commit with the request: a crash cannot leave a request nobody is woken for.
    for p in pushes {
        tx.execute(Query::with_values(
            PUSH_INSERT,
            wakeups::insert_values(r, p),
        ))
        .await?;
    }
    // So do its audit events: one commit in all, and no request without its trail.
    for e in audit {
        tx.execute(Query::with_values(AUDIT_INSERT, audit::insert_values(e)))
            .await?;
    }
    tx.commit().await?;
    Ok(InsertOutcome::Inserted)
}

pub async fn by_id<E: Engine>(db: &E, id: &str) -> StoreResult<Option<CibaRequest>> {
    let row = db.pool().fetch_optional(Query::new(BY_ID).bind(id)).await?;
    row.as_ref().map(request_from).transpose()
}

pub async fn by_auth_req_id<E: Engine>(db: &E, hash: &str) -> StoreResult<Option<CibaRequest>> {
    let row = db
        .pool()
        .fetch_optional(Query::new(BY_AUTH_REQ_ID).bind(hash))
        .await?;
    row.as_ref().map(request_from).transpose()
}

pub async fn pending_of_user<E: Engine>(
    db: &E,
    user_id: &str,
    now: i64,
) -> StoreResult<Vec<CibaRequest>> {
    let rows = db
        .pool()
        .fetch_all(Query::new(PENDING_OF_USER).bind(user_id).bind(now))
        .await?;
    rows.iter().map(request_from).collect()
}

/// The pool path of [`Store::poll_pending`](crate::store::Store::poll_pending).
pub async fn poll_pending<E: Engine>(
    db: &E,
    hash: &str,
    client_id: &str,
    now: i64,
    step: i64,
) -> StoreResult<Option<PollOutcome>> {
    let query = Query::with_values(POLL_PENDING, poll_values(hash, client_id, now, step));
    match db.pool().fetch_optional(query).await? {
        None => Ok(None),
        Some(row) => Ok(Some(poll_outcome(row.try_get("poll_slowed")?))),
    }
}

/// pending → approved | denied, while unexpired; values from [`decide_values`].
pub const DECIDE: &str = "UPDATE requests SET status = $1, decided_at = $2, decided_by = $3, amr = $4, \
     deny_reason = $5 WHERE id = $6 AND status = 'pending' AND expires_at > $2";

/// The decision's methods as stored (a JSON array).
pub fn amr_json(d: &Decision) -> StoreResult<String> {
    serde_json::to_string(&d.amr).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The values of [`DECIDE`] (`amr` from [`amr_json`]), for the pool and the group-commit writer
/// alike.
pub fn decide_values<'a>(id: &'a str, d: &'a Decision, amr: &'a str, now: i64) -> [Value<'a>; 6] {
    let status = if d.approved {
        RequestStatus::Approved
    } else {
        RequestStatus::Denied
    };
    [
        Value::from(status.as_str()),
        Value::from(now),
        Value::from(&d.device_id),
        Value::from(amr),
        Value::from(&d.deny_reason),
        Value::from(id),
    ]
}

/// The notification that commits with a decision.
const NOTIFICATION_INSERT: &str = "INSERT INTO notification_outbox (request_id, client_id, kind, \
     created_at, next_attempt_at, deadline) VALUES ($1, $2, $3, $4, $4, $5)";

/// What a winning decision writes after [`DECIDE`], in the same transaction: its notification
/// (ping and push clients), then its audit events. For the pool and the group-commit writer
/// alike.
pub fn decision_writes<'a>(
    id: &'a str,
    d: &'a Decision,
    now: i64,
) -> impl Iterator<Item = Query<'a>> {
    let notification = d.notification.iter().map(move |n| {
        Query::with_values(
            NOTIFICATION_INSERT,
            [
                Value::from(id),
                Value::from(&n.client_id),
                Value::from(n.kind.as_str()),
                Value::from(now),
                Value::from(n.deadline),
            ],
        )
    });
    let audit = d
        .audit
        .iter()
        .map(|e| Query::with_values(AUDIT_INSERT, audit::insert_values(e)));
    notification.chain(audit)
}

pub async fn decide<E: Engine>(db: &E, id: &str, d: &Decision, now: i64) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let amr = amr_json(d)?;
    let mut tx = writes.begin().await?;
    let done = tx
        .execute(Query::with_values(DECIDE, decide_values(id, d, &amr, now)))
        .await?;
    if done != 1 {
        return Ok(false);
    }
    // The notification and the audit trail commit with the decision: a crash cannot separate
    // them.
    for query in decision_writes(id, d, now) {
        tx.execute(query).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// approved → redeemed, while unexpired; values from [`redeem_values`].
pub const REDEEM: &str = "UPDATE requests SET status = 'redeemed', redeemed_at = $1 \
     WHERE id = $2 AND status = 'approved' AND expires_at > $1";

/// The values of [`REDEEM`], for the pool and the group-commit writer alike.
pub fn redeem_values(id: &str, now: i64) -> [Value<'_>; 2] {
    [Value::from(now), Value::from(id)]
}

pub async fn redeem<E: Engine>(db: &E, id: &str, now: i64) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::with_values(REDEEM, redeem_values(id, now));
    Ok(writes.execute(query).await? == 1)
}
