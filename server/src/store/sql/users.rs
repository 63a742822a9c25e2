//! Users.

use super::prelude::*;

/// A user by login hint (`$1`): the one user whose subject, username, email or phone it is (the
/// identifiers table holds each value once, whatever its kind).
pub const BY_LOGIN_HINT: &str = "SELECT u.* FROM user_identifiers i JOIN users u ON u.id = i.user_id \
     WHERE i.value = $1 AND i.kind <> 'ambiguous'";

/// A user by subject (`$1`).
pub const BY_SUBJECT: &str = "SELECT * FROM users WHERE subject = $1";

pub fn user_from<R: Row + ?Sized>(row: &R) -> StoreResult<User> {
    Ok(User {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        username: row.try_get("username")?,
        email: row.try_get("email")?,
        phone: row.try_get("phone")?,
        display_name: row.try_get("display_name")?,
        status: parse_stored(row.try_get("status")?, UserStatus::parse, "user status")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The identifiers a login hint may name, by kind; a value the user has twice (an email used as
/// the username) counts once.
fn identifiers(u: &User) -> Vec<(&str, &'static str)> {
    let mut ids: Vec<(&str, &'static str)> =
        vec![(&u.subject, "subject"), (&u.username, "username")];
    ids.extend(u.email.as_deref().map(|e| (e, "email")));
    ids.extend(u.phone.as_deref().map(|p| (p, "phone")));
    let mut seen = std::collections::HashSet::new();
    ids.retain(|(value, _)| seen.insert(*value));
    ids
}

pub async fn insert<E: Engine>(db: &E, u: &User) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let query = Query::new(
        "INSERT INTO users (id, subject, username, email, phone, display_name, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&u.id)
    .bind(&u.subject)
    .bind(&u.username)
    .bind(&u.email)
    .bind(&u.phone)
    .bind(&u.display_name)
    .bind(u.status.as_str())
    .bind(u.created_at);
    tx.execute(query).await?;
    // A value already another user's identifier, of any kind, is a conflict: the whole insert
    // rolls back.
    for (value, kind) in identifiers(u) {
        tx.execute(
            Query::new("INSERT INTO user_identifiers (value, user_id, kind) VALUES ($1, $2, $3)")
                .bind(value)
                .bind(&u.id)
                .bind(kind),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// A user by id (`$1`).
pub const BY_ID: &str = "SELECT * FROM users WHERE id = $1";

pub async fn by_id<E: Engine>(db: &E, id: &str) -> StoreResult<Option<User>> {
    let query = Query::new(BY_ID).bind(id);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(user_from).transpose()
}

pub async fn by_login_hint<E: Engine>(db: &E, hint: &str) -> StoreResult<Option<User>> {
    let row = db
        .pool()
        .fetch_optional(Query::new(BY_LOGIN_HINT).bind(hint))
        .await?;
    row.as_ref().map(user_from).transpose()
}

pub async fn by_subject<E: Engine>(db: &E, subject: &str) -> StoreResult<Option<User>> {
    let row = db
        .pool()
        .fetch_optional(Query::new(BY_SUBJECT).bind(subject))
        .await?;
    row.as_ref().map(user_from).transpose()
}

pub async fn delete<E: Engine>(db: &E, id: &str) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    tx.execute(
        Query::new(
            "UPDATE requests SET status = 'cancelled' WHERE user_id = $1 AND status IN ('pending', 'approved')",
        )
        .bind(id),
    )
    .await?;
    // Devices and enrollments go with the user (ON DELETE CASCADE).
    let done = tx
        .execute(Query::new("DELETE FROM users WHERE id = $1").bind(id))
        .await?;
    tx.commit().await?;
    Ok(done == 1)
}

/// Locks a user, cancels their pending and approved-but-unredeemed requests, and enqueues a
/// notification for each cancelled request of a ping or push client, in one transaction.
pub async fn lock<E: Engine>(
    db: &E,
    id: &str,
    now: i64,
    notification_deadline: i64,
) -> StoreResult<Option<u64>> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    // Serialised with the user's new requests (they take the same lock), and the user's live
    // requests locked before anything is written: a decision under way finishes first (its
    // notification is then kept by ON CONFLICT below), and no new request slips in between the
    // notifications and the cancel.
    if let Some(lock) = E::USER_LOCK {
        tx.execute(Query::new(lock).bind(id)).await?;
    }
    let live = format!(
        "SELECT id FROM requests WHERE user_id = $1 AND status IN ('pending', 'approved') {}",
        E::ROW_LOCK
    );
    tx.fetch_all(Query::assembled(live).bind(id)).await?;
    let locked = tx
        .execute(Query::new("UPDATE users SET status = 'locked' WHERE id = $1").bind(id))
        .await?;
    if locked != 1 {
        return Ok(None);
    }
    // Before the cancel, while they are still live: the clients to tell. A request that has its
    // notification already (an approval of a ping client) keeps it; its client's next poll then
    // gets access_denied.
    tx.execute(
        super::notifications::withdrawal_notices("user_id")
            .bind(id)
            .bind(now)
            .bind(notification_deadline),
    )
    .await?;
    let cancelled = tx
        .execute(
            Query::new(
                "UPDATE requests SET status = 'cancelled' WHERE user_id = $1 AND status IN ('pending', 'approved')",
            )
            .bind(id),
        )
        .await?;
    tx.commit().await?;
    Ok(Some(cancelled))
}

pub async fn set_status<E: Engine>(db: &E, id: &str, status: UserStatus) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let done = writes
        .execute(
            Query::new("UPDATE users SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(id),
        )
        .await?;
    Ok(done == 1)
}

pub async fn user_code<E: Engine>(db: &E, id: &str) -> StoreResult<Option<(String, i64)>> {
    let query = Query::new(
        "SELECT user_code_hash, user_code_failures FROM users WHERE id = $1 AND user_code_hash IS NOT NULL",
    )
    .bind(id);
    let row = db.pool().fetch_optional(query).await?;
    row.map(|r| {
        Ok((
            r.try_get("user_code_hash")?,
            r.try_get("user_code_failures")?,
        ))
    })
    .transpose()
}

pub async fn set_user_code<E: Engine>(db: &E, id: &str, hash: Option<&str>) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query =
        Query::new("UPDATE users SET user_code_hash = $1, user_code_failures = 0 WHERE id = $2")
            .bind(hash)
            .bind(id);
    Ok(writes.execute(query).await? == 1)
}

pub async fn user_code_failed<E: Engine>(db: &E, id: &str) -> StoreResult<i64> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE users SET user_code_failures = user_code_failures + 1 WHERE id = $1 \
         RETURNING user_code_failures",
    )
    .bind(id);
    let row = writes.fetch_optional(query).await?;
    row.map(|r| r.try_get("user_code_failures"))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub async fn user_code_passed<E: Engine>(db: &E, id: &str) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE users SET user_code_failures = 0 WHERE id = $1 AND user_code_failures <> 0",
    )
    .bind(id);
    writes.execute(query).await?;
    Ok(())
}
