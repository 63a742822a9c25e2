//! Users.

use super::prelude::*;

/// A user by login hint (`$1`): subject, then username, email, phone.
pub const BY_LOGIN_HINT: &str = "SELECT * FROM users WHERE subject = $1 OR username = $1 OR email = $1 OR phone = $1 \
     ORDER BY CASE WHEN subject = $1 THEN 0 WHEN username = $1 THEN 1 WHEN email = $1 THEN 2 ELSE 3 END \
     LIMIT 1";

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

pub async fn insert<E: Engine>(db: &E, u: &User) -> StoreResult<()> {
    let mut writes = db.writes().await;
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
    writes.execute(query).await?;
    Ok(())
}

pub async fn by_id<E: Engine>(db: &E, id: &str) -> StoreResult<Option<User>> {
    let query = Query::new("SELECT * FROM users WHERE id = $1").bind(id);
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
