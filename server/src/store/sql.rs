//! The one implementation of [`Store`](super::Store) for both engines.
//!
//! Every statement is written once, in SQL that SQLite and PostgreSQL both run, with `$N`
//! placeholders (which sqlx binds on both). The implementation is generated per engine by
//! [`sql_store!`], over the engine's pool and row types; the only engine-specific clause is
//! `FOR UPDATE SKIP LOCKED` when claiming outbox work (SQLite has one writer and needs none).

/// Generates the row → record mappers over a row type with `try_get(column)` (sqlx rows, and
/// rusqlite rows through the SQLite fast paths' extension trait), so each mapping is written once.
macro_rules! row_mappers {
    ($row:ty) => {
        pub(super) fn split_words(s: &str) -> Vec<String> {
            s.split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect()
        }

        /// A stored enum name, or a corrupt record.
        pub(super) fn parse_stored<T>(
            text: String,
            parse: fn(&str) -> Option<T>,
            what: &str,
        ) -> StoreResult<T> {
            parse(&text).ok_or_else(|| StoreError::Corrupt(format!("{what} {text:?}")))
        }

        pub(super) fn user_from(row: &$row) -> StoreResult<User> {
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

        pub(super) fn client_from(row: &$row) -> StoreResult<Client> {
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
                scope: split_words(&row.try_get::<String, _>("scope")?),
                user_code_parameter: row.try_get("user_code_parameter")?,
                request_signing_alg: row.try_get("request_signing_alg")?,
                jwks: row.try_get("jwks")?,
                jwks_uri: row.try_get("jwks_uri")?,
                created_at: row.try_get("created_at")?,
            })
        }

        pub(super) fn device_from(row: &$row) -> StoreResult<Device> {
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
            })
        }

        pub(super) fn request_from(row: &$row) -> StoreResult<CibaRequest> {
            let status: String = row.try_get("status")?;
            let amr: Option<String> = row.try_get("amr")?;
            Ok(CibaRequest {
                id: row.try_get("id")?,
                auth_req_id_hash: row.try_get("auth_req_id_hash")?,
                client_id: row.try_get("client_id")?,
                user_id: row.try_get("user_id")?,
                scope: split_words(&row.try_get::<String, _>("scope")?),
                acr_values: split_words(&row.try_get::<String, _>("acr_values")?),
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
                    Some(text) => serde_json::from_str(&text)
                        .map_err(|e| StoreError::Corrupt(format!("amr: {e}")))?,
                    None => Vec::new(),
                },
                deny_reason: row.try_get("deny_reason")?,
                redeemed_at: row.try_get("redeemed_at")?,
                notification_token: row.try_get("notification_token")?,
                notify_auth_req_id: row.try_get("notify_auth_req_id")?,
            })
        }

        pub(super) fn audit_from(row: &$row) -> StoreResult<AuditEvent> {
            let detail: String = row.try_get("detail")?;
            Ok(AuditEvent {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                kind: row.try_get("kind")?,
                user_id: row.try_get("user_id")?,
                client_id: row.try_get("client_id")?,
                device_id: row.try_get("device_id")?,
                request_id: row.try_get("request_id")?,
                detail: serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
            })
        }
    };
}

pub(crate) use row_mappers;

/// Generates `impl Store for $store` (with a `pool` field) and its row mappers.
macro_rules! sql_store {
    ($store:ident, $row:ty, $skip_locked:literal) => {
super::sql::row_mappers!($row);

use super::sql::{AUDIT_INSERT, DEVICES_OF_USER, POLL_PENDING, PUSH_INSERT, REQUEST_INSERT, USER_BY_LOGIN_HINT, USER_BY_SUBJECT};

const REQUEST_COLUMNS: &str = "id, auth_req_id_hash, client_id, user_id, scope, acr_values, binding_message, \
     authorization_details, challenge, status, created_at, expires_at, poll_interval, last_polled_at, \
     decided_at, decided_by, amr, deny_reason, redeemed_at, notification_token, notify_auth_req_id";

#[async_trait]
impl Store for $store {
    async fn migrate(&self) -> StoreResult<()> {
        super::migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
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
        .bind(u.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        if let Some(readers) = self.readers() {
            return readers.user_by_login_hint(hint);
        }
        let row = sqlx::query(USER_BY_LOGIN_HINT)
        .bind(hint)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        if let Some(readers) = self.readers() {
            return readers.user_by_subject(subject);
        }
        let row = sqlx::query(USER_BY_SUBJECT)
            .bind(subject)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE requests SET status = 'cancelled' WHERE user_id = $1 AND status IN ('pending', 'approved')")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Devices and enrollments go with the user (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_client(&self, c: &Client) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO clients (id, name, logo_uri, delivery_mode, notification_endpoint, auth_method, \
             secret_hash, scope, user_code_parameter, request_signing_alg, jwks, jwks_uri, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
        .bind(c.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        let row = sqlx::query("SELECT * FROM clients WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(client_from).transpose()
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE requests SET status = 'cancelled' WHERE client_id = $1 AND status IN ('pending', 'approved')",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let done = sqlx::query("DELETE FROM clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_enrollment(&self, e: &Enrollment) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query("INSERT INTO enrollments (id, user_id, code_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&e.id)
            .bind(&e.user_id)
            .bind(&e.code_hash)
            .bind(e.created_at)
            .bind(e.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn enroll_device(
        &self,
        code_hash: &str,
        now: i64,
        d: &Device,
    ) -> StoreResult<EnrollOutcome> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        // The first statement writes, so the transaction holds the write lock from here on.
        let consumed = sqlx::query(
            "UPDATE enrollments SET used_at = $1, device_id = $2 \
             WHERE code_hash = $3 AND used_at IS NULL AND expires_at > $4 RETURNING user_id",
        )
        .bind(now)
        .bind(&d.id)
        .bind(code_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = consumed else {
            return Ok(EnrollOutcome::InvalidCode);
        };
        let user_id: String = row.try_get("user_id")?;
        let inserted = sqlx::query(
            "INSERT INTO devices (id, user_id, jkt, public_jwk, status, push_provider, push_token, \
             push_environment, display_name, platform, model, os_version, app_version, sdk_version, enrolled_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
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
        .execute(&mut *tx)
        .await;
        match inserted.map_err(StoreError::from) {
            Ok(_) => {
                tx.commit().await?;
                Ok(EnrollOutcome::Enrolled { user_id })
            }
            // Rolling back leaves the code unused: the device may retry with a fresh key.
            Err(StoreError::Conflict(_)) => Ok(EnrollOutcome::KeyAlreadyEnrolled),
            Err(e) => Err(e),
        }
    }

    async fn device_by_jkt(&self, jkt: &str) -> StoreResult<Option<Device>> {
        let row = sqlx::query("SELECT * FROM devices WHERE jkt = $1")
            .bind(jkt)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(device_from).transpose()
    }

    async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        let row = sqlx::query("SELECT * FROM devices WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(device_from).transpose()
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        if let Some(readers) = self.readers() {
            return readers.devices_of_user(user_id);
        }
        let rows =
            sqlx::query(DEVICES_OF_USER)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(device_from).collect()
    }

    async fn revoke_device(&self, id: &str, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("UPDATE devices SET status = 'revoked', revoked_at = $1 WHERE id = $2 AND status = 'active'")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_push(
        &self,
        id: &str,
        provider: PushProvider,
        token: Option<&str>,
        environment: PushEnvironment,
    ) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE devices SET push_provider = $1, push_token = $2, push_environment = $3, push_token_invalid_at = NULL \
             WHERE id = $4 AND status = 'active'",
        )
        .bind(provider.as_str())
        .bind(token)
        .bind(environment.as_str())
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_device_key(
        &self,
        id: &str,
        old_jkt: &str,
        new_jkt: &str,
        new_jwk: &str,
    ) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE devices SET jkt = $1, public_jwk = $2 WHERE id = $3 AND jkt = $4 AND status = 'active'",
        )
        .bind(new_jkt)
        .bind(new_jwk)
        .bind(id)
        .bind(old_jkt)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_user_status(&self, id: &str, status: UserStatus) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
            .bind(status.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_request(&self, r: &CibaRequest, pushes: &[NewWakeup], audit: &[NewAuditEvent]) -> StoreResult<()> {
        if let Some(writer) = self.group_commit() {
            return writer.insert_request(r, pushes, audit).await;
        }
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query(REQUEST_INSERT)
        .bind(&r.id)
        .bind(&r.auth_req_id_hash)
        .bind(&r.client_id)
        .bind(&r.user_id)
        .bind(r.scope.join(" "))
        .bind(r.acr_values.join(" "))
        .bind(&r.binding_message)
        .bind(&r.authorization_details)
        .bind(&r.challenge)
        .bind(r.status.as_str())
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.interval)
        .bind(&r.notification_token)
        .bind(&r.notify_auth_req_id)
        .execute(&mut *tx)
        .await?;
        // The pushes commit with the request: a crash cannot leave a request nobody is woken for.
        for p in pushes {
            sqlx::query(PUSH_INSERT)
            .bind(&r.id)
            .bind(&p.device_id)
            .bind(p.provider.as_str())
            .bind(r.created_at)
            .bind(r.created_at)
            .bind(p.deadline)
            .execute(&mut *tx)
            .await?;
        }
        // So do its audit events: one commit in all, and no request without its trail.
        for e in audit {
            sqlx::query(AUDIT_INSERT)
                .bind(e.at)
                .bind(e.kind)
                .bind(&e.user_id)
                .bind(&e.client_id)
                .bind(&e.device_id)
                .bind(&e.request_id)
                .bind(e.detail.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn request(&self, id: &str) -> StoreResult<Option<CibaRequest>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1"
        ));
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(request_from).transpose()
    }

    async fn request_by_auth_req_id(&self, hash: &str) -> StoreResult<Option<CibaRequest>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE auth_req_id_hash = $1"
        ));
        let row = sqlx::query(sql)
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(request_from).transpose()
    }

    async fn pending_requests_of_user(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<CibaRequest>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE user_id = $1 AND status = 'pending' AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC LIMIT 100"
        ));
        let rows = sqlx::query(sql)
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_from).collect()
    }

    async fn poll_pending(&self, hash: &str, client_id: &str, now: i64, step: i64) -> StoreResult<Option<PollOutcome>> {
        if let Some(writer) = self.group_commit() {
            return writer.poll_pending(hash, client_id, now, step).await;
        }
        let row = sqlx::query(POLL_PENDING)
        .bind(hash)
        .bind(now)
        .bind(step)
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let slowed: bool = row.try_get("poll_slowed")?;
                Ok(Some(if slowed { PollOutcome::TooFast } else { PollOutcome::Allowed }))
            }
        }
    }

    async fn decide(&self, id: &str, d: &Decision, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let amr = serde_json::to_string(&d.amr).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE requests SET status = $1, decided_at = $2, decided_by = $3, amr = $4, deny_reason = $5 \
             WHERE id = $6 AND status = 'pending' AND expires_at > $7",
        )
        .bind(if d.approved { RequestStatus::Approved.as_str() } else { RequestStatus::Denied.as_str() })
        .bind(now)
        .bind(&d.device_id)
        .bind(amr)
        .bind(&d.deny_reason)
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // The notification commits with the decision: a crash cannot separate them.
        if let Some(n) = &d.notification {
            sqlx::query(
                "INSERT INTO notification_outbox (request_id, client_id, kind, created_at, next_attempt_at, deadline) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&n.client_id)
            .bind(n.kind.as_str())
            .bind(now)
            .bind(now)
            .bind(n.deadline)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE requests SET status = 'redeemed', redeemed_at = $1 \
             WHERE id = $2 AND status = 'approved' AND expires_at > $3",
        )
        .bind(now)
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_client_notifications(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClientNotificationEntry>> {
        let _turn = self.write_turn().await;
        let rows = sqlx::query(
            concat!(
                "UPDATE notification_outbox SET lease_until = $1, attempts = attempts + 1 \
                 WHERE id IN (SELECT id FROM notification_outbox \
                 WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                 ORDER BY next_attempt_at, id LIMIT $3 ",
                $skip_locked,
                ") AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2) \
                 RETURNING id, request_id, client_id, kind, payload, attempts, created_at, deadline"
            ),
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ClientNotificationEntry {
                    id: row.try_get("id")?,
                    request_id: row.try_get("request_id")?,
                    client_id: row.try_get("client_id")?,
                    kind: parse_stored(row.try_get("kind")?, NotificationKind::parse, "notification kind")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    created_at: row.try_get("created_at")?,
                    deadline: row.try_get("deadline")?,
                })
            })
            .collect()
    }

    async fn finish_client_notification(
        &self,
        id: i64,
        outcome: NotificationFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        let delivered = outcome == NotificationFinal::Delivered;
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE notification_outbox SET status = $1, lease_until = NULL, last_error = $2, \
             delivered_at = $3, payload = CASE WHEN $4 THEN NULL ELSE payload END WHERE id = $5",
        )
        .bind(outcome.as_str())
        .bind(error)
        .bind(delivered.then_some(now))
        .bind(delivered)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // A request gets at most one notification: its auth_req_id need not be kept in clear.
        sqlx::query(
            "UPDATE requests SET notify_auth_req_id = NULL \
             WHERE id = (SELECT request_id FROM notification_outbox WHERE id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retry_client_notification(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE notification_outbox SET next_attempt_at = $1, lease_until = NULL, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn store_push_mode_tokens(
        &self,
        notification_id: i64,
        request_id: &str,
        payload: &str,
        now: i64,
    ) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("UPDATE requests SET status = 'redeemed', redeemed_at = $1 WHERE id = $2 AND status = 'approved'")
            .bind(now)
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE notification_outbox SET payload = $1 WHERE id = $2")
            .bind(payload)
            .bind(notification_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn store_push_mode_payload(&self, notification_id: i64, payload: &str) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE notification_outbox SET payload = $1 WHERE id = $2")
            .bind(payload)
            .bind(notification_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn enqueue_push_mode_expiries(&self, now: i64, deadline: i64) -> StoreResult<u64> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let marked = sqlx::query(
            "UPDATE requests SET expiry_notified = TRUE \
             WHERE status = 'pending' AND expires_at <= $1 AND expiry_notified = FALSE \
             AND client_id IN (SELECT id FROM clients WHERE delivery_mode = 'push') \
             RETURNING id, client_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for row in &marked {
            sqlx::query(
                "INSERT INTO notification_outbox (request_id, client_id, kind, created_at, next_attempt_at, deadline) \
                 VALUES ($1, $2, 'push', $3, $4, $5) ON CONFLICT (request_id, kind) DO NOTHING",
            )
            .bind(row.try_get::<String, _>("id")?)
            .bind(row.try_get::<String, _>("client_id")?)
            .bind(now)
            .bind(now)
            .bind(deadline)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(marked.len() as u64)
    }

    async fn claim_wakeups(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<WakeupEntry>> {
        let _turn = self.write_turn().await;
        // A random claim marks this worker's rows, so one join reads them back with the device
        // and the request (RETURNING cannot join on SQLite).
        let claim = crate::crypto::random_b64u(12).map_err(|e| StoreError::Database(e.to_string()))?;
        let claimed = sqlx::query(
            concat!(
                "UPDATE push_outbox SET lease_until = $1, attempts = attempts + 1, claim = $4 \
                 WHERE id IN (SELECT id FROM push_outbox \
                 WHERE status = 'pending' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                 ORDER BY next_attempt_at, id LIMIT $3 ",
                $skip_locked,
                ") AND status = 'pending' AND (lease_until IS NULL OR lease_until < $2)"
            ),
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .bind(&claim)
        .execute(&self.pool)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT p.id, p.request_id, p.device_id, p.provider, p.attempts, p.created_at, p.deadline, \
             d.id AS d_id, d.status AS d_status, d.push_provider, d.push_token, d.push_environment, d.push_token_invalid_at, \
             r.status AS r_status, r.expires_at AS r_expires_at, r.user_id AS r_user_id \
             FROM push_outbox p LEFT JOIN devices d ON d.id = p.device_id LEFT JOIN requests r ON r.id = p.request_id \
             WHERE p.claim = $1 AND p.lease_until = $2 AND p.status = 'pending' ORDER BY p.id",
        )
        .bind(&claim)
        .bind(lease_until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let device: Option<String> = row.try_get("d_id")?;
                let target = match device {
                    None => None,
                    Some(_) => Some(WakeupTarget {
                        status: parse_stored(row.try_get("d_status")?, DeviceStatus::parse, "device status")?,
                        provider: parse_stored(row.try_get("push_provider")?, parse_push_provider, "push provider")?,
                        token: row.try_get("push_token")?,
                        environment: parse_stored(row.try_get("push_environment")?, parse_push_environment, "push environment")?,
                        token_invalid: row.try_get::<Option<i64>, _>("push_token_invalid_at")?.is_some(),
                    }),
                };
                let status: Option<String> = row.try_get("r_status")?;
                let request = match status {
                    None => None,
                    Some(status) => Some((
                        RequestStatus::parse(&status)
                            .ok_or_else(|| StoreError::Corrupt(format!("request status {status}")))?,
                        row.try_get("r_expires_at")?,
                    )),
                };
                Ok(WakeupEntry {
                    id: row.try_get("id")?,
                    request_id: row.try_get("request_id")?,
                    device_id: row.try_get("device_id")?,
                    provider: parse_stored(row.try_get("provider")?, parse_push_provider, "push provider")?,
                    attempts: row.try_get("attempts")?,
                    created_at: row.try_get("created_at")?,
                    deadline: row.try_get("deadline")?,
                    target,
                    request,
                    user_id: row.try_get("r_user_id")?,
                })
            })
            .collect()
    }

    async fn finish_wakeup(
        &self,
        id: i64,
        outcome: WakeupFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        let sent = outcome == WakeupFinal::Sent;
        sqlx::query(
            "UPDATE push_outbox SET status = $1, lease_until = NULL, claim = NULL, last_error = $2, sent_at = $3 WHERE id = $4",
        )
        .bind(outcome.as_str())
        .bind(error)
        .bind(sent.then_some(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn retry_wakeup(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query("UPDATE push_outbox SET next_attempt_at = $1, lease_until = NULL, claim = NULL, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn invalidate_push_token(&self, device_id: &str, token: &str, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        let done = sqlx::query(
            "UPDATE devices SET push_token_invalid_at = $1 WHERE id = $2 AND push_token = $3 AND push_token_invalid_at IS NULL",
        )
        .bind(now)
        .bind(device_id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn wakeups_of_request(&self, request_id: &str) -> StoreResult<Vec<WakeupDelivery>> {
        let rows = sqlx::query(
            "SELECT device_id, provider, status, attempts, next_attempt_at, last_error FROM push_outbox \
             WHERE request_id = $1 ORDER BY id",
        )
        .bind(request_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WakeupDelivery {
                    device_id: r.try_get("device_id")?,
                    provider: r.try_get("provider")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                    next_attempt_at: r.try_get("next_attempt_at")?,
                    last_error: r.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn remember_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        let _turn = self.write_turn().await;
        // Inserts, or takes over an entry that has already expired; a live entry is a replay.
        let done = sqlx::query(
            "INSERT INTO seen_jtis (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_jtis.expires_at <= $3",
        )
        .bind(key)
        .bind(expires_at)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT kid, alg, private_der, created_at FROM signing_keys ORDER BY created_at, kid",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    alg: row.try_get("alg")?,
                    private_der: row.try_get("private_der")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_der, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(&k.private_der)
        .bind(k.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn append_audit(&self, e: &NewAuditEvent) -> StoreResult<()> {
        let _turn = self.write_turn().await;
        sqlx::query(AUDIT_INSERT)
        .bind(e.at)
        .bind(e.kind)
        .bind(&e.user_id)
        .bind(&e.client_id)
        .bind(&e.device_id)
        .bind(&e.request_id)
        .bind(e.detail.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_events(
        &self,
        user_id: Option<&str>,
        since: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_events WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
             AND (CAST($2 AS BIGINT) IS NULL OR at >= $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(user_id)
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from).collect()
    }

    async fn sweep(&self, now: i64, request_horizon: i64) -> StoreResult<SweepStats> {
        // Small batches, so no statement holds locks for long on a busy database (each batch
        // takes its own write turn; the short clean-ups at the end share one).
        const BATCH: u64 = 1000;
        let mut stats = SweepStats::default();
        loop {
            let _turn = self.write_turn().await;
            let n = sqlx::query(
                "DELETE FROM requests WHERE id IN (SELECT id FROM requests WHERE expires_at < $1 LIMIT 1000)",
            )
            .bind(request_horizon)
            .execute(&self.pool)
            .await?
            .rows_affected();
            stats.requests += n;
            if n < BATCH {
                break;
            }
        }
        loop {
            let _turn = self.write_turn().await;
            let n = sqlx::query(
                "DELETE FROM seen_jtis WHERE key IN (SELECT key FROM seen_jtis WHERE expires_at <= $1 LIMIT 1000)",
            )
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            stats.jtis += n;
            if n < BATCH {
                break;
            }
        }
        let _turn = self.write_turn().await;
        stats.enrollments = sqlx::query("DELETE FROM enrollments WHERE expires_at <= $1 AND used_at IS NULL")
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        // Finished notifications and pushes are kept as long as the requests they were about.
        sqlx::query("DELETE FROM notification_outbox WHERE status <> 'pending' AND created_at < $1")
            .bind(request_horizon)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM push_outbox WHERE deadline < $1")
            .bind(request_horizon)
            .execute(&self.pool)
            .await?;
        // Expired requests that will never be notified (undecided, and no expiry push due or
        // pending) need not keep their auth_req_id in clear until the tombstone goes.
        sqlx::query(
            "UPDATE requests SET notify_auth_req_id = NULL \
             WHERE notify_auth_req_id IS NOT NULL AND expires_at <= $1 \
             AND (expiry_notified OR client_id NOT IN (SELECT id FROM clients WHERE delivery_mode = 'push')) \
             AND NOT EXISTS (SELECT 1 FROM notification_outbox o WHERE o.request_id = requests.id AND o.status = 'pending')",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(stats)
    }

    async fn close(&self) {
        self.close_direct().await;
        self.pool.close().await;
    }
}
    };
}

pub(crate) use sql_store;

/// Audit event insert (`at, kind, user_id, client_id, device_id, request_id, detail`).
pub(super) const AUDIT_INSERT: &str = "INSERT INTO audit_events (at, kind, user_id, client_id, device_id, request_id, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// New request insert.
pub(super) const REQUEST_INSERT: &str = "INSERT INTO requests (id, auth_req_id_hash, client_id, user_id, scope, acr_values, \
     binding_message, authorization_details, challenge, status, created_at, expires_at, poll_interval, \
     notification_token, notify_auth_req_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// Wake-up push insert (`request_id, device_id, provider, created_at, next_attempt_at, deadline`).
pub(super) const PUSH_INSERT: &str = "INSERT INTO push_outbox (request_id, device_id, provider, created_at, next_attempt_at, deadline) \
     VALUES ($1, $2, $3, $4, $5, $6)";

/// The pending-poll fast path (`$1` hash, `$2` now, `$3` slow-down step, `$4` client): SET
/// expressions all see the row as it was; RETURNING sees it as it is now.
pub(super) const POLL_PENDING: &str = "UPDATE requests SET \
       poll_slowed = (last_polled_at IS NOT NULL AND last_polled_at + poll_interval > $2), \
       poll_interval = CASE WHEN last_polled_at IS NOT NULL AND last_polled_at + poll_interval > $2 \
                       THEN poll_interval + $3 ELSE poll_interval END, \
       last_polled_at = $2 \
     WHERE auth_req_id_hash = $1 AND client_id = $4 AND status = 'pending' AND expires_at > $2 \
     RETURNING poll_slowed";

/// A user by login hint (`$1`): subject, then username, email, phone.
pub(super) const USER_BY_LOGIN_HINT: &str = "SELECT * FROM users WHERE subject = $1 OR username = $1 OR email = $1 OR phone = $1 \
     ORDER BY CASE WHEN subject = $1 THEN 0 WHEN username = $1 THEN 1 WHEN email = $1 THEN 2 ELSE 3 END \
     LIMIT 1";

/// A user by subject (`$1`).
pub(super) const USER_BY_SUBJECT: &str = "SELECT * FROM users WHERE subject = $1";

/// A user's devices (`$1`), newest first.
pub(super) const DEVICES_OF_USER: &str =
    "SELECT * FROM devices WHERE user_id = $1 ORDER BY enrolled_at DESC, id";
