//! The replay cache (`jti`s seen).

use super::prelude::*;

/// Inserts, or takes over an entry that has already expired; a live entry is a replay. Values
/// from [`remember_values`].
pub const REMEMBER_JTI: &str = "INSERT INTO seen_jtis (key, expires_at) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_jtis.expires_at <= $3";

/// The values of [`REMEMBER_JTI`], for the pool and the group-commit writer alike.
pub fn remember_values(key: &str, expires_at: i64, now: i64) -> [Value<'_>; 3] {
    [Value::from(key), Value::from(expires_at), Value::from(now)]
}

pub async fn remember_jti<E: Engine>(
    db: &E,
    key: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::with_values(REMEMBER_JTI, remember_values(key, expires_at, now));
    Ok(writes.execute(query).await? == 1)
}
