//! The one implementation of [`Store`] for both engines: [`SqlStore`] over an [`Engine`].
//!
//! Every statement is written once, in SQL that SQLite and PostgreSQL both run, with `$N`
//! placeholders, in the file of its aggregate. The only engine-specific clause is
//! [`Engine::CLAIM_LOCK`] when claiming outbox work (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite has one writer and needs none).

mod audit;
mod clients;
mod console;
mod devices;
mod engine;
mod keys;
mod listing;
mod notifications;
mod query;
mod refresh;
mod replay;
mod requests;
mod row;
mod sweep;
mod users;
mod wakeups;

pub use audit::AUDIT_INSERT;
pub use devices::{OF_USER as DEVICES_OF_USER, device_from};
pub use engine::{Engine, Exec, Transaction, Writes};
pub use query::{Query, Value};
pub use replay::{REMEMBER_JTI, remember_values};
pub(crate) use requests::request_columns;
pub use requests::{
    BY_AUTH_REQ_ID as REQUEST_BY_AUTH_REQ_ID, COUNT_PENDING_OF_USER, DECIDE, POLL_PENDING, REDEEM,
    REQUEST_INSERT, amr_json, decide_values, decision_writes, poll_outcome, poll_values,
    redeem_values, request_from,
};
pub use users::{
    BY_ID as USER_BY_ID, BY_LOGIN_HINT as USER_BY_LOGIN_HINT, BY_SUBJECT as USER_BY_SUBJECT,
    user_from,
};
pub use wakeups::PUSH_INSERT;
/// The bound values of the statements the SQLite writer runs too.
pub mod values {
    pub use super::audit::insert_values as audit_insert;
    pub use super::requests::insert_values as request_insert;
    pub use super::wakeups::insert_values as push_insert;
}
/// The pool paths of the hot operations (SQLite's without its direct connections).
pub mod pooled {
    pub use super::devices::of_user as devices_of_user;
    pub use super::replay::remember_jti;
    pub use super::requests::{
        by_auth_req_id as request_by_auth_req_id, decide, insert as insert_request, poll_pending,
        redeem,
    };
    pub use super::users::{
        by_id as user, by_login_hint as user_by_login_hint, by_subject as user_by_subject,
    };
}

/// What the aggregates' files use.
mod prelude {
    pub use super::engine::{Engine, Exec, Transaction, Writes};
    pub use super::query::{Query, Value};
    pub use super::row::{Row, parse_stored, split_words};
    pub use crate::store::*;
}

use async_trait::async_trait;

use crate::store::*;

/// [`Store`] over an engine: SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore<E> {
    pub(in crate::store) engine: E,
}

impl<E: Engine> SqlStore<E> {
    pub(crate) fn new(engine: E) -> Self {
        Self { engine }
    }
}

#[async_trait]
impl<E: Engine> Store for SqlStore<E> {
    async fn ping(&self) -> StoreResult<()> {
        self.engine.pool().execute(Query::new("SELECT 1")).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<()> {
        self.engine.migrate().await
    }

    async fn close(&self) {
        self.engine.close().await;
    }

    async fn watch_outbox(&self, changed: &(dyn Fn(Outbox) + Send + Sync)) -> StoreResult<()> {
        self.engine.watch_outbox(changed).await
    }

    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        users::insert(&self.engine, user).await
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.engine.user(id).await
    }

    async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        self.engine.user_by_login_hint(hint).await
    }

    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        self.engine.user_by_subject(subject).await
    }

    async fn user_code(&self, user_id: &str) -> StoreResult<Option<(String, i64)>> {
        users::user_code(&self.engine, user_id).await
    }

    async fn set_user_code(&self, user_id: &str, hash: Option<&str>) -> StoreResult<bool> {
        users::set_user_code(&self.engine, user_id, hash).await
    }

    async fn user_code_failed(&self, user_id: &str) -> StoreResult<i64> {
        users::user_code_failed(&self.engine, user_id).await
    }

    async fn user_code_passed(&self, user_id: &str) -> StoreResult<()> {
        users::user_code_passed(&self.engine, user_id).await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        users::delete(&self.engine, id).await
    }

    async fn insert_client(&self, client: &Client) -> StoreResult<()> {
        clients::insert(&self.engine, client).await
    }

    async fn client(&self, id: &str) -> StoreResult<Option<Client>> {
        clients::by_id(&self.engine, id).await
    }

    async fn update_client(&self, client: &Client) -> StoreResult<bool> {
        clients::update(&self.engine, client).await
    }

    async fn insert_initial_access_token(
        &self,
        token_hash: &str,
        created_at: i64,
        expires_at: i64,
        uses: Option<i64>,
    ) -> StoreResult<()> {
        clients::insert_initial_access_token(&self.engine, token_hash, created_at, expires_at, uses)
            .await
    }

    async fn initial_access_token_valid(&self, token_hash: &str, now: i64) -> StoreResult<bool> {
        clients::initial_access_token_valid(&self.engine, token_hash, now).await
    }

    async fn insert_client_with_initial_access_token(
        &self,
        token_hash: &str,
        now: i64,
        client: &Client,
    ) -> StoreResult<bool> {
        clients::insert_with_initial_access_token(&self.engine, token_hash, now, client).await
    }

    async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        clients::delete(&self.engine, id).await
    }

    async fn insert_enrollment(&self, enrollment: &Enrollment) -> StoreResult<()> {
        devices::insert_enrollment(&self.engine, enrollment).await
    }

    async fn enrollment_code_user(&self, code_hash: &str, now: i64) -> StoreResult<Option<String>> {
        devices::enrollment_code_user(&self.engine, code_hash, now).await
    }

    async fn enroll_device(
        &self,
        code_hash: &str,
        now: i64,
        device: &Device,
    ) -> StoreResult<EnrollOutcome> {
        devices::enroll(&self.engine, code_hash, now, device).await
    }

    async fn device_by_jkt(&self, jkt: &str) -> StoreResult<Option<Device>> {
        devices::by_jkt(&self.engine, jkt).await
    }

    async fn device(&self, id: &str) -> StoreResult<Option<Device>> {
        devices::by_id(&self.engine, id).await
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        self.engine.devices_of_user(user_id).await
    }

    async fn revoke_device(&self, id: &str, now: i64) -> StoreResult<bool> {
        devices::revoke(&self.engine, id, now).await
    }

    async fn update_push(
        &self,
        id: &str,
        provider: PushProvider,
        token: Option<&str>,
        environment: PushEnvironment,
    ) -> StoreResult<bool> {
        devices::update_push(&self.engine, id, provider, token, environment).await
    }

    async fn rotate_device_key(
        &self,
        id: &str,
        old_jkt: &str,
        new_jkt: &str,
        new_jwk: &str,
    ) -> StoreResult<bool> {
        devices::rotate_key(&self.engine, id, old_jkt, new_jkt, new_jwk).await
    }

    async fn set_user_status(&self, id: &str, status: UserStatus) -> StoreResult<bool> {
        users::set_status(&self.engine, id, status).await
    }

    async fn lock_user(
        &self,
        id: &str,
        now: i64,
        notification_deadline: i64,
    ) -> StoreResult<Option<u64>> {
        users::lock(&self.engine, id, now, notification_deadline).await
    }

    async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome> {
        self.engine
            .insert_request(request, pushes, audit, max_pending)
            .await
    }

    async fn request(&self, id: &str) -> StoreResult<Option<CibaRequest>> {
        requests::by_id(&self.engine, id).await
    }

    async fn request_by_auth_req_id(
        &self,
        auth_req_id_hash: &str,
    ) -> StoreResult<Option<CibaRequest>> {
        self.engine.request_by_auth_req_id(auth_req_id_hash).await
    }

    async fn pending_requests_of_user(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<CibaRequest>> {
        requests::pending_of_user(&self.engine, user_id, now).await
    }

    async fn poll_pending(
        &self,
        auth_req_id_hash: &str,
        client_id: &str,
        now: i64,
        slow_down_step: i64,
    ) -> StoreResult<Option<PollOutcome>> {
        self.engine
            .poll_pending(auth_req_id_hash, client_id, now, slow_down_step)
            .await
    }

    async fn decide(&self, id: &str, decision: &Decision, now: i64) -> StoreResult<bool> {
        self.engine.decide(id, decision, now).await
    }

    async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.engine.redeem(id, now).await
    }

    async fn redeem_with_refresh_token(
        &self,
        id: &str,
        now: i64,
        token: &RefreshToken,
    ) -> StoreResult<bool> {
        refresh::redeem_with(&self.engine, id, now, token).await
    }

    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
        refresh::by_hash(&self.engine, token_hash).await
    }

    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        now: i64,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome> {
        refresh::rotate(&self.engine, old_hash, now, next).await
    }

    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> StoreResult<u64> {
        refresh::revoke_family(&self.engine, family_id, now).await
    }

    async fn revoke_access_token(&self, jti: &str, expires_at: i64, now: i64) -> StoreResult<()> {
        refresh::revoke_access_token(&self.engine, jti, expires_at, now).await
    }

    async fn access_token_revoked(&self, jti: &str, now: i64) -> StoreResult<bool> {
        refresh::access_token_revoked(&self.engine, jti, now).await
    }

    async fn claim_client_notifications(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClientNotificationEntry>> {
        notifications::claim(&self.engine, now, lease_until, limit).await
    }

    async fn finish_client_notification(
        &self,
        id: i64,
        outcome: NotificationFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        notifications::finish(&self.engine, id, outcome, now, error).await
    }

    async fn retry_client_notification(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()> {
        notifications::retry(&self.engine, id, next_attempt_at, error).await
    }

    async fn store_push_mode_tokens(
        &self,
        notification_id: i64,
        request_id: &str,
        payload: &str,
        now: i64,
        refresh_token: Option<&RefreshToken>,
    ) -> StoreResult<bool> {
        notifications::store_push_mode_tokens(
            &self.engine,
            notification_id,
            request_id,
            payload,
            now,
            refresh_token,
        )
        .await
    }

    async fn store_push_mode_payload(
        &self,
        notification_id: i64,
        payload: &str,
    ) -> StoreResult<()> {
        notifications::store_push_mode_payload(&self.engine, notification_id, payload).await
    }

    async fn enqueue_push_mode_expiries(
        &self,
        since: i64,
        now: i64,
        deadline: i64,
    ) -> StoreResult<u64> {
        notifications::enqueue_push_mode_expiries(&self.engine, since, now, deadline).await
    }

    async fn claim_wakeups(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<WakeupEntry>> {
        wakeups::claim(&self.engine, now, lease_until, limit).await
    }

    async fn finish_wakeup(
        &self,
        id: i64,
        outcome: WakeupFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()> {
        wakeups::finish(&self.engine, id, outcome, now, error).await
    }

    async fn retry_wakeup(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()> {
        wakeups::retry(&self.engine, id, next_attempt_at, error).await
    }

    async fn invalidate_push_token(
        &self,
        device_id: &str,
        token: &str,
        now: i64,
    ) -> StoreResult<bool> {
        wakeups::invalidate_push_token(&self.engine, device_id, token, now).await
    }

    async fn wakeups_of_request(&self, request_id: &str) -> StoreResult<Vec<WakeupDelivery>> {
        wakeups::of_request(&self.engine, request_id).await
    }

    async fn remember_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        self.engine.remember_jti(key, expires_at, now).await
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        keys::all(&self.engine).await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        keys::insert(&self.engine, key).await
    }

    async fn append_audit(&self, event: &NewAuditEvent) -> StoreResult<()> {
        audit::append(&self.engine, event).await
    }

    async fn audit_events(&self, filter: &AuditFilter, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        audit::events(&self.engine, filter, limit).await
    }

    async fn device_seen(&self, id: &str, now: i64) -> StoreResult<()> {
        devices::seen(&self.engine, id, now).await
    }

    async fn insert_console_session(&self, session: &ConsoleSession) -> StoreResult<()> {
        console::insert(&self.engine, session).await
    }

    async fn console_session(&self, id_hash: &str) -> StoreResult<Option<ConsoleSession>> {
        console::by_hash(&self.engine, id_hash).await
    }

    async fn touch_console_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_until: i64,
    ) -> StoreResult<bool> {
        console::touch(&self.engine, id_hash, now, idle_until).await
    }

    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<bool> {
        console::delete(&self.engine, id_hash).await
    }

    async fn list_users(
        &self,
        search: Option<&str>,
        status: Option<&str>,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<User>> {
        listing::users(&self.engine, search, status, after, limit).await
    }

    async fn registered_scopes(&self) -> StoreResult<Vec<String>> {
        listing::registered_scopes(&self.engine).await
    }

    async fn list_clients(&self, after: Option<&After>, limit: i64) -> StoreResult<Vec<Client>> {
        listing::clients(&self.engine, after, limit).await
    }

    async fn list_devices(
        &self,
        filter: &DeviceFilter,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<Device>> {
        listing::devices(&self.engine, filter, after, limit).await
    }

    async fn request_counts(&self, since: i64, now: i64) -> StoreResult<Vec<RequestCount>> {
        listing::request_counts(&self.engine, since, now).await
    }

    async fn recent_delivery_errors(&self, limit: i64) -> StoreResult<Vec<DeliveryError>> {
        listing::recent_delivery_errors(&self.engine, limit).await
    }

    async fn list_requests(
        &self,
        filter: &RequestFilter,
        now: i64,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<CibaRequest>> {
        listing::requests(&self.engine, filter, now, after, limit).await
    }

    async fn notifications_of_request(
        &self,
        request_id: &str,
    ) -> StoreResult<Vec<ClientNotificationDelivery>> {
        listing::notifications_of_request(&self.engine, request_id).await
    }

    async fn audit_events_of_request(&self, request_id: &str) -> StoreResult<Vec<AuditEvent>> {
        audit::of_request(&self.engine, request_id).await
    }

    async fn cancel_request(
        &self,
        id: &str,
        now: i64,
        notification_deadline: i64,
    ) -> StoreResult<bool> {
        listing::cancel(&self.engine, id, now, notification_deadline).await
    }

    async fn sweep(&self, now: i64, request_horizon: i64) -> StoreResult<SweepStats> {
        sweep::sweep(&self.engine, now, request_horizon).await
    }

    async fn prune_audit(&self, before: i64) -> StoreResult<u64> {
        sweep::prune_audit(&self.engine, before).await
    }
}
