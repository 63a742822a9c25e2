//! The replay cache (`jti`s seen).

use super::prelude::*;

pub async fn remember_jti<E: Engine>(
    db: &E,
    key: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    // Inserts, or takes over an entry that has already expired; a live entry is a replay.
    let query = Query::new(
        "INSERT INTO seen_jtis (key, expires_at) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_jtis.expires_at <= $3",
    )
    .bind(key)
    .bind(expires_at)
    .bind(now);
    Ok(writes.execute(query).await? == 1)
}
