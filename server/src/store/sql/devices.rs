//! Enrollments and devices.

use super::prelude::*;

/// A user's devices (`$1`), newest first.
pub const OF_USER: &str = "SELECT * FROM devices WHERE user_id = $1 ORDER BY enrolled_at DESC, id";

pub fn device_from<R: Row + ?Sized>(row: &R) -> StoreResult<Device> {
    Ok(Device {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        jkt: row.try_get("jkt")?,
        public_jwk: row.try_get("public_jwk")?,
        status: parse_stored(row.try_get("status")?, DeviceStatus::parse, "device status")?,
        push_provider: parse_stored(
            row.try_get("push_provider")?,
            parse_push_provider,
            "push provider",
        )?,
        push_token: row.try_get("push_token")?,
        push_environment: parse_stored(
            row.try_get("push_environment")?,
            parse_push_environment,
            "push environment",
        )?,
        push_token_invalid_at: row.try_get("push_token_invalid_at")?,
        display_name: row.try_get("display_name")?,
        platform: parse_stored(row.try_get("platform")?, parse_platform, "platform")?,
        model: row.try_get("model")?,
        os_version: row.try_get("os_version")?,
        app_version: row.try_get("app_version")?,
        sdk_version: row.try_get("sdk_version")?,
        enrolled_at: row.try_get("enrolled_at")?,
        revoked_at: row.try_get("revoked_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
        attestation: row.try_get("attestation")?,
        approval_jwk: row.try_get("approval_jwk")?,
        approval_attestation: row.try_get("approval_attestation")?,
    })
}

pub async fn insert_enrollment<E: Engine>(db: &E, e: &Enrollment) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "INSERT INTO enrollments (id, user_id, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&e.id)
    .bind(&e.user_id)
    .bind(&e.code_hash)
    .bind(e.created_at)
    .bind(e.expires_at);
    writes.execute(query).await?;
    Ok(())
}

pub async fn enrollment_code_user<E: Engine>(
    db: &E,
    code_hash: &str,
    now: i64,
) -> StoreResult<Option<String>> {
    let query = Query::new(
        "SELECT user_id FROM enrollments WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now);
    match db.pool().fetch_optional(query).await? {
        Some(row) => Ok(Some(row.try_get("user_id")?)),
        None => Ok(None),
    }
}

pub async fn enroll<E: Engine>(
    db: &E,
    code_hash: &str,
    now: i64,
    d: &Device,
) -> StoreResult<EnrollOutcome> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    // The first statement writes, so the transaction holds the write lock from here on.
    let consumed = tx
        .fetch_optional(
            Query::new(
                "UPDATE enrollments SET used_at = $1, device_id = $2 \
                 WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $4 RETURNING user_id",
            )
            .bind(now)
            .bind(&d.id)
            .bind(code_hash)
            .bind(now),
        )
        .await?;
    let Some(row) = consumed else {
        return Ok(EnrollOutcome::InvalidCode);
    };
    let user_id: String = row.try_get("user_id")?;
    let insert = Query::new(
        "INSERT INTO devices (id, user_id, jkt, public_jwk, status, push_provider, push_token, \
         push_environment, display_name, platform, model, os_version, app_version, sdk_version, enrolled_at, attestation, \
         approval_jwk, approval_attestation, last_seen_at) \
         VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $14)",
    )
    .bind(&d.id)
    .bind(&user_id)
    .bind(&d.jkt)
    .bind(&d.public_jwk)
    .bind(d.push_provider.as_str())
    .bind(&d.push_token)
    .bind(d.push_environment.as_str())
    .bind(&d.display_name)
    .bind(d.platform.as_str())
    .bind(&d.model)
    .bind(&d.os_version)
    .bind(&d.app_version)
    .bind(&d.sdk_version)
    .bind(d.enrolled_at)
    .bind(&d.attestation)
    .bind(&d.approval_jwk)
    .bind(&d.approval_attestation);
    match tx.execute(insert).await {
        Ok(_) => {
            tx.commit().await?;
            Ok(EnrollOutcome::Enrolled { user_id })
        }
        // Rolling back leaves the code unused: the device may retry with a fresh key.
        Err(StoreError::Conflict(_)) => Ok(EnrollOutcome::KeyAlreadyEnrolled),
        Err(e) => Err(e),
    }
}

pub async fn by_jkt<E: Engine>(db: &E, jkt: &str) -> StoreResult<Option<Device>> {
    let query = Query::new("SELECT * FROM devices WHERE jkt = $1").bind(jkt);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(device_from).transpose()
}

pub async fn by_id<E: Engine>(db: &E, id: &str) -> StoreResult<Option<Device>> {
    let query = Query::new("SELECT * FROM devices WHERE id = $1").bind(id);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(device_from).transpose()
}

pub async fn of_user<E: Engine>(db: &E, user_id: &str) -> StoreResult<Vec<Device>> {
    let rows = db
        .pool()
        .fetch_all(Query::new(OF_USER).bind(user_id))
        .await?;
    rows.iter().map(device_from).collect()
}

pub async fn revoke<E: Engine>(db: &E, id: &str, now: i64) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE devices SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND status = 'active'",
    )
    .bind(now)
    .bind(id);
    Ok(writes.execute(query).await? == 1)
}

pub async fn update_push<E: Engine>(
    db: &E,
    id: &str,
    provider: PushProvider,
    token: Option<&str>,
    environment: PushEnvironment,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE devices SET push_provider = $1, push_token = $2, push_environment = $3, push_token_invalid_at = NULL \
         WHERE id = $4 AND status = 'active'",
    )
    .bind(provider.as_str())
    .bind(token)
    .bind(environment.as_str())
    .bind(id);
    Ok(writes.execute(query).await? == 1)
}

pub async fn rotate_key<E: Engine>(
    db: &E,
    id: &str,
    old_jkt: &str,
    new_jkt: &str,
    new_jwk: &str,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE devices SET jkt = $1, public_jwk = $2, attestation = NULL \
         WHERE id = $3 AND jkt = $4 AND status = 'active'",
    )
    .bind(new_jkt)
    .bind(new_jwk)
    .bind(id)
    .bind(old_jkt);
    Ok(writes.execute(query).await? == 1)
}

pub async fn seen<E: Engine>(db: &E, id: &str, now: i64) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE devices SET last_seen_at = $2 WHERE id = $1 \
         AND (last_seen_at IS NULL OR last_seen_at <= $2 - 60)",
    )
    .bind(id)
    .bind(now);
    writes.execute(query).await?;
    Ok(())
}
