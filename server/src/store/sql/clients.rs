//! Clients.

use super::prelude::*;

pub fn client_from<R: Row + ?Sized>(row: &R) -> StoreResult<Client> {
    Ok(Client {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        logo_uri: row.try_get("logo_uri")?,
        delivery_mode: parse_stored(
            row.try_get("delivery_mode")?,
            DeliveryMode::parse,
            "delivery mode",
        )?,
        notification_endpoint: row.try_get("notification_endpoint")?,
        auth_method: parse_stored(
            row.try_get("auth_method")?,
            ClientAuthMethod::parse,
            "auth method",
        )?,
        secret_hash: row.try_get("secret_hash")?,
        scope: split_words(&row.try_get::<String>("scope")?),
        user_code_parameter: row.try_get("user_code_parameter")?,
        request_signing_alg: row.try_get("request_signing_alg")?,
        jwks: row.try_get("jwks")?,
        jwks_uri: row.try_get("jwks_uri")?,
        fapi: row.try_get("fapi")?,
        tls_client_auth: row
            .try_get::<Option<String>>("tls_client_auth")?
            .map(|text| {
                serde_json::from_str(&text).map_err(|e| {
                    StoreError::Corrupt(format!("client tls_client_auth {text:?}: {e}"))
                })
            })
            .transpose()?,
        refresh_token_grant: row.try_get("refresh_token_grant")?,
        id_token_signed_response_alg: row.try_get("id_token_signed_response_alg")?,
        registration_token_hash: row.try_get("registration_token_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

/// The insert of a client, for the pool or a transaction.
fn insert_query(c: &Client) -> StoreResult<Query<'_>> {
    let tls_client_auth = match &c.tls_client_auth {
        Some(name) => Value::from(
            serde_json::to_string(name).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        ),
        None => Value::OptText(None),
    };
    Ok(Query::new(
        "INSERT INTO clients (id, name, logo_uri, delivery_mode, notification_endpoint, auth_method, \
         secret_hash, scope, user_code_parameter, request_signing_alg, jwks, jwks_uri, fapi, tls_client_auth, created_at, \
         refresh_token_grant, id_token_signed_response_alg, registration_token_hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
    )
    .bind(&c.id)
    .bind(&c.name)
    .bind(&c.logo_uri)
    .bind(c.delivery_mode.as_str())
    .bind(&c.notification_endpoint)
    .bind(c.auth_method.as_str())
    .bind(&c.secret_hash)
    .bind(c.scope.join(" "))
    .bind(c.user_code_parameter)
    .bind(&c.request_signing_alg)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(c.fapi)
    .bind(tls_client_auth)
    .bind(c.created_at)
    .bind(c.refresh_token_grant)
    .bind(&c.id_token_signed_response_alg)
    .bind(&c.registration_token_hash))
}

pub async fn insert<E: Engine>(db: &E, c: &Client) -> StoreResult<()> {
    let query = insert_query(c)?;
    let mut writes = db.writes().await;
    writes.execute(query).await?;
    Ok(())
}

/// Replaces the registration of an existing client (everything but its id and creation time);
/// false when there is no such client.
pub async fn update<E: Engine>(db: &E, c: &Client) -> StoreResult<bool> {
    let tls_client_auth = c
        .tls_client_auth
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut writes = db.writes().await;
    let query = Query::new(
        "UPDATE clients SET name = $1, logo_uri = $2, delivery_mode = $3, notification_endpoint = $4, \
         auth_method = $5, secret_hash = $6, scope = $7, user_code_parameter = $8, request_signing_alg = $9, \
         jwks = $10, jwks_uri = $11, fapi = $12, tls_client_auth = $13, refresh_token_grant = $14, \
         id_token_signed_response_alg = $15, registration_token_hash = $16 WHERE id = $17",
    )
    .bind(&c.name)
    .bind(&c.logo_uri)
    .bind(c.delivery_mode.as_str())
    .bind(&c.notification_endpoint)
    .bind(c.auth_method.as_str())
    .bind(&c.secret_hash)
    .bind(c.scope.join(" "))
    .bind(c.user_code_parameter)
    .bind(&c.request_signing_alg)
    .bind(&c.jwks)
    .bind(&c.jwks_uri)
    .bind(c.fapi)
    .bind(&tls_client_auth)
    .bind(c.refresh_token_grant)
    .bind(&c.id_token_signed_response_alg)
    .bind(&c.registration_token_hash)
    .bind(&c.id);
    Ok(writes.execute(query).await? == 1)
}

pub async fn insert_initial_access_token<E: Engine>(
    db: &E,
    token_hash: &str,
    created_at: i64,
    expires_at: i64,
    uses: Option<i64>,
) -> StoreResult<()> {
    let mut writes = db.writes().await;
    let query = Query::new(
        "INSERT INTO initial_access_tokens (token_hash, created_at, expires_at, uses_left) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(created_at)
    .bind(expires_at)
    .bind(uses);
    writes.execute(query).await?;
    Ok(())
}

pub async fn initial_access_token_valid<E: Engine>(
    db: &E,
    token_hash: &str,
    now: i64,
) -> StoreResult<bool> {
    let query = Query::new(
        "SELECT 1 AS one FROM initial_access_tokens WHERE token_hash = $1 AND expires_at > $2 \
         AND (uses_left IS NULL OR uses_left > 0)",
    )
    .bind(token_hash)
    .bind(now);
    Ok(db.pool().fetch_optional(query).await?.is_some())
}

/// Uses an initial access token once, and registers `client` with it, in one transaction:
/// false (nothing stored) when the token is unknown, expired or used up.
pub async fn insert_with_initial_access_token<E: Engine>(
    db: &E,
    token_hash: &str,
    now: i64,
    c: &Client,
) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    let used = tx
        .execute(
            Query::new(
                "UPDATE initial_access_tokens SET uses_left = uses_left - 1 \
                 WHERE token_hash = $1 AND expires_at > $2 AND (uses_left IS NULL OR uses_left > 0)",
            )
            .bind(token_hash)
            .bind(now),
        )
        .await?;
    if used != 1 {
        return Ok(false);
    }
    tx.execute(insert_query(c)?).await?;
    tx.commit().await?;
    Ok(true)
}

pub async fn by_id<E: Engine>(db: &E, id: &str) -> StoreResult<Option<Client>> {
    let query = Query::new("SELECT * FROM clients WHERE id = $1").bind(id);
    let row = db.pool().fetch_optional(query).await?;
    row.as_ref().map(client_from).transpose()
}

pub async fn delete<E: Engine>(db: &E, id: &str) -> StoreResult<bool> {
    let mut writes = db.writes().await;
    let mut tx = writes.begin().await?;
    tx.execute(
        Query::new(
            "UPDATE requests SET status = 'cancelled' WHERE client_id = $1 AND status IN ('pending', 'approved')",
        )
        .bind(id),
    )
    .await?;
    let done = tx
        .execute(Query::new("DELETE FROM clients WHERE id = $1").bind(id))
        .await?;
    tx.commit().await?;
    Ok(done == 1)
}
