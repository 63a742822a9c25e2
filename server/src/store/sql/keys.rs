//! Token signing keys.

use super::prelude::*;

fn key_from<R: Row + ?Sized>(row: &R) -> StoreResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        private_der: row.try_get("private_der")?,
        created_at: row.try_get("created_at")?,
        activates_at: row.try_get("activates_at")?,
    })
}

pub async fn all<E: Engine>(db: &E) -> StoreResult<Vec<SigningKeyRecord>> {
    let query = Query::new(
        "SELECT kid, alg, private_der, created_at, activates_at FROM signing_keys ORDER BY activates_at, created_at, kid",
    );
    let rows = db.pool().fetch_all(query).await?;
    rows.iter().map(key_from).collect()
}

pub async fn insert<E: Engine>(db: &E, k: &SigningKeyRecord) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "INSERT INTO signing_keys (kid, alg, private_der, created_at, activates_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&k.kid)
    .bind(&k.alg)
    .bind(&k.private_der)
    .bind(k.created_at)
    .bind(k.activates_at);
    writes.execute(query).await?;
    Ok(())
}
