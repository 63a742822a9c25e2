//! Refresh tokens (by hash, in families) and revoked access tokens (in the replay cache, keyed
//! `revoked:<jti>`, until the token's own expiry).

use super::prelude::*;

/// The replay-cache key that marks an access token revoked.
pub fn revoked_access_key(jti: &str) -> String {
    format!("revoked:{jti}")
}

fn token_from<R: Row + ?Sized>(row: &R) -> StoreResult<RefreshToken> {
    Ok(RefreshToken {
        token_hash: row.try_get("token_hash")?,
        family_id: row.try_get("family_id")?,
        client_id: row.try_get("client_id")?,
        user_id: row.try_get("user_id")?,
        scope: split_words(&row.try_get::<String>("scope")?),
        amr: split_words(&row.try_get::<String>("amr")?),
        acr: row.try_get("acr")?,
        auth_time: row.try_get("auth_time")?,
        certificate_thumbprint: row.try_get("certificate_thumbprint")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        family_expires_at: row.try_get("family_expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked_at: row.try_get("revoked_at")?,
        access_jti: row.try_get("access_jti")?,
        access_expires_at: row.try_get("access_expires_at")?,
    })
}

/// The insert of a refresh token, for any executor (the redemption's transaction among them).
pub fn insert_query(t: &RefreshToken) -> Query<'_> {
    Query::new(
        "INSERT INTO refresh_tokens (token_hash, family_id, client_id, user_id, scope, amr, acr, \
         auth_time, certificate_thumbprint, created_at, expires_at, family_expires_at, used_at, \
         revoked_at, access_jti, access_expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&t.token_hash)
    .bind(&t.family_id)
    .bind(&t.client_id)
    .bind(&t.user_id)
    .bind(t.scope.join(" "))
    .bind(t.amr.join(" "))
    .bind(&t.acr)
    .bind(t.auth_time)
    .bind(&t.certificate_thumbprint)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.family_expires_at)
    .bind(t.used_at)
    .bind(t.revoked_at)
    .bind(&t.access_jti)
    .bind(t.access_expires_at)
}

/// approved → redeemed, and the refresh token issued with the tokens stored, in one
/// transaction: false (nothing stored) when the request was not approved any more.
pub async fn redeem_with<E: Engine>(
    db: &E,
    request_id: &str,
    now: i64,
    token: &RefreshToken,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let query = Query::with_values(
        super::requests::REDEEM,
        super::requests::redeem_values(request_id, now),
    );
    if tx.execute(query).await? != 1 {
        return Ok(false);
    }
    tx.execute(insert_query(token)).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn by_hash<E: Engine>(db: &E, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
    let query = Query::new("SELECT * FROM refresh_tokens WHERE token_hash = $1").bind(token_hash);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(token_from).transpose()
}

/// Marks the family revoked and every access token it issued that has not expired, in `tx`.
///
/// The family's rows are locked first (by the update), and the replay-cache rows are written
/// in one order after that: two concurrent revocations of one family (two reuses of a used
/// token, on two instances) queue on the rows instead of deadlocking on PostgreSQL.
async fn revoke_family_in<T: Exec>(tx: &mut T, family_id: &str, now: i64) -> StoreResult<u64> {
    let revoked = tx
        .execute(
            Query::new(
                "UPDATE refresh_tokens SET revoked_at = $1 \
                 WHERE family_id = $2 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(family_id),
        )
        .await?;
    let issued = tx
        .fetch_all(
            Query::new(
                "SELECT access_jti, access_expires_at FROM refresh_tokens \
                 WHERE family_id = $1 AND access_expires_at > $2 ORDER BY access_jti",
            )
            .bind(family_id)
            .bind(now),
        )
        .await?;
    for row in &issued {
        let jti: String = row.try_get("access_jti")?;
        let expires_at: i64 = row.try_get("access_expires_at")?;
        tx.execute(
            Query::new(
                "INSERT INTO seen_jtis (key, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at",
            )
            .bind(revoked_access_key(&jti))
            .bind(expires_at),
        )
        .await?;
    }
    Ok(revoked)
}

/// Uses the token `old_hash` (unused, unrevoked, unexpired at `now`) and stores `next` in its
/// place, atomically: of two concurrent uses one rotates. A token that was used before revokes
/// its whole family (reuse detection).
pub async fn rotate<E: Engine>(
    db: &E,
    old_hash: &str,
    now: i64,
    next: &RefreshToken,
) -> StoreResult<RotateOutcome> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let used = tx
        .execute(
            Query::new(
                "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 \
                 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1",
            )
            .bind(now)
            .bind(old_hash),
        )
        .await?;
    if used == 1 {
        tx.execute(insert_query(next)).await?;
        tx.commit().await?;
        return Ok(RotateOutcome::Rotated);
    }
    let row = tx
        .fetch_optional(
            Query::new(
                "SELECT family_id, used_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
            )
            .bind(old_hash),
        )
        .await?;
    let Some(row) = row else {
        return Ok(RotateOutcome::Refused);
    };
    let used_at: Option<i64> = row.try_get("used_at")?;
    let revoked_at: Option<i64> = row.try_get("revoked_at")?;
    if used_at.is_none() || revoked_at.is_some() {
        // Expired, or its family is revoked already.
        return Ok(RotateOutcome::Refused);
    }
    let family: String = row.try_get("family_id")?;
    revoke_family_in(&mut tx, &family, now).await?;
    tx.commit().await?;
    Ok(RotateOutcome::ReuseDetected)
}

pub async fn revoke_family<E: Engine>(db: &E, family_id: &str, now: i64) -> StoreResult<u64> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let revoked = revoke_family_in(&mut tx, family_id, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

pub async fn revoke_access_token<E: Engine>(
    db: &E,
    jti: &str,
    expires_at: i64,
    now: i64,
) -> StoreResult<()> {
    // Revoking twice is no error (RFC 7009 §2.2): the first insert stands.
    super::replay::remember_jti(db, &revoked_access_key(jti), expires_at, now).await?;
    Ok(())
}

pub async fn access_token_revoked<E: Engine>(db: &E, jti: &str, now: i64) -> StoreResult<bool> {
    let query = Query::new("SELECT 1 AS one FROM seen_jtis WHERE key = $1 AND expires_at > $2")
        .bind(revoked_access_key(jti))
        .bind(now);
    Ok(db.pool().fetch_optional(query).await?.is_some())
}
