//! The operators' console's sign-in sessions.

use super::prelude::*;

fn session_from<R: Row + ?Sized>(row: &R) -> StoreResult<ConsoleSession> {
    Ok(ConsoleSession {
        id_hash: row.try_get("id_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        idle_until: row.try_get("idle_until")?,
    })
}

pub async fn insert<E: Engine>(db: &E, s: &ConsoleSession) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "INSERT INTO console_sessions (id_hash, created_at, expires_at, idle_until) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(s.id_hash.as_str())
    .bind(s.created_at)
    .bind(s.expires_at)
    .bind(s.idle_until);
    writes.execute(query).await?;
    Ok(())
}

pub async fn by_hash<E: Engine>(db: &E, id_hash: &str) -> StoreResult<Option<ConsoleSession>> {
    let query = Query::new("SELECT * FROM console_sessions WHERE id_hash = $1").bind(id_hash);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(session_from).transpose()
}

pub async fn touch<E: Engine>(
    db: &E,
    id_hash: &str,
    now: i64,
    idle_until: i64,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE console_sessions SET idle_until = CASE WHEN $3 < expires_at THEN $3 ELSE expires_at END \
         WHERE id_hash = $1 AND expires_at > $2 AND idle_until > $2",
    )
    .bind(id_hash)
    .bind(now)
    .bind(idle_until);
    Ok(writes.execute(query).await? == 1)
}

pub async fn delete<E: Engine>(db: &E, id_hash: &str) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash);
    Ok(writes.execute(query).await? == 1)
}
