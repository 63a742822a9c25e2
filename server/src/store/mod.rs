//! Storage: one [`Store`] trait, one implementation per engine.
//!
//! Every state transition that two server instances or two devices could race on is a single
//! conditional statement (compare-and-set), so exactly one caller wins: consuming an enrollment
//! code, deciding a request, redeeming it, and remembering a `jti`.
//!
//! Where things are:
//! - `sql/`: the one implementation of [`Store`] for both engines (`SqlStore` over an `Engine`),
//!   one file per aggregate (`users`, `clients`, `devices` with enrollments, `requests`,
//!   `notifications`, `wakeups`, `replay`, `keys`, `audit`, `sweep`), each holding its
//!   statements, the values they bind and its row → record mappers; `query.rs` and `row.rs` are
//!   the engine-neutral statements and rows, `engine.rs` what an engine provides.
//! - `sqlite/`: the SQLite engine, and its hot path, which only SQLite has because it has one
//!   writer: new requests and pending polls group-committed by one writer thread
//!   (`group_commit.rs`) and the backchannel's point reads run inline (`read.rs`), over rusqlite
//!   connections of their own (`direct.rs`) that run the shared statements, values and mappers.
//! - `postgres.rs`: the PostgreSQL engine (everything through the pool; outbox claims lock rows
//!   with `FOR UPDATE SKIP LOCKED`, since several instances claim at once).
//! - `integration_tests.rs`: the tests every store passes.

#[cfg(test)]
mod integration_tests;
mod postgres;
mod records;
mod sql;
mod sqlite;

pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;

use std::borrow::Cow;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Records the first use of `jti` by `owner` in `scope` (`dpop`, `decision`, `assertion`, …)
/// until `until`, on every instance (the replay cache is in the database): false when it was
/// used before. Keys are hashed, so the cache holds no proof material, and proofs of different
/// scopes or owners never collide.
pub async fn remember_first_use(
    store: &dyn Store,
    scope: &str,
    owner: &str,
    jti: &str,
    until: i64,
    now: i64,
) -> StoreResult<bool> {
    let key = format!(
        "{scope}:{}",
        crate::crypto::hash_secret(&format!("{owner}:{jti}"))
    );
    store.remember_jti(&key, until, now).await
}

/// Opens the store a database URL names: `sqlite://…` (the embedded default, migrated at once)
/// or `postgres://…` (connected lazily, so the server starts while the database is unreachable;
/// [`Store::migrate`] runs when it answers).
pub async fn open(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, max_connections).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect_lazy(url, max_connections)?))
    } else {
        Err(StoreError::Database(format!(
            "unsupported database URL {:?}: use sqlite://… or postgres://…",
            url.split(':').next().unwrap_or_default()
        )))
    }
}

/// A migrator over embedded `(version, name, sql)` migrations.
fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations: Vec<Migration> = migrations
        .iter()
        .map(|(version, name, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*name),
                MigrationType::Simple,
                SqlStr::from_static(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (username, email, key, …) is already taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed or is unreachable.
    #[error("database: {0}")]
    Database(String),
    /// A stored value could not be read back (corrupt row).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict(db.message().to_owned());
        }
        Self::Database(e.to_string())
    }
}

/// Shorthand.
pub type StoreResult<T> = Result<T, StoreError>;

/// An outbox whose new rows [`Store::watch_outbox`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbox {
    /// Pings and pushes to clients (`delivery::client_notifications`).
    ClientNotifications,
    /// Wake-ups of users' devices (`delivery::device_wakeups`).
    DeviceWakeups,
}

/// What the server persists.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// Brings the schema up to date (idempotent; safe from several instances at once).
    async fn migrate(&self) -> StoreResult<()>;
    /// Closes the connections (waits for them to finish).
    async fn close(&self);
    /// Calls `changed` whenever the database announces that a row was committed into an outbox
    /// by any instance sharing it (PostgreSQL: LISTEN on the channel its triggers notify), so
    /// that every instance's workers start at once instead of at their next scan. Runs until
    /// the database fails (`Err`: call again, after a pause) or the store closes (`Ok`).
    /// Returns `Ok` at once where there is nothing to listen to: a SQLite file has one server,
    /// whose own commits wake its workers directly.
    async fn watch_outbox(&self, changed: &(dyn Fn(Outbox) + Send + Sync)) -> StoreResult<()>;

    // --- users
    /// Inserts a user; `Conflict` when the username, email, phone or subject is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    /// A user by internal id.
    async fn user(&self, id: &str) -> StoreResult<Option<User>>;
    /// A user by `subject`, `username`, `email` or `phone` (in that order of preference).
    async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>>;
    /// A user by subject.
    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>>;
    /// A user's code hash (Argon2id PHC string) and the wrong codes presented in a row.
    async fn user_code(&self, user_id: &str) -> StoreResult<Option<(String, i64)>>;
    /// Sets (or with `None` removes) a user's code hash, resetting the failures; false when
    /// there is no such user.
    async fn set_user_code(&self, user_id: &str, hash: Option<&str>) -> StoreResult<bool>;
    /// Counts a wrong code; the failures in a row after it.
    async fn user_code_failed(&self, user_id: &str) -> StoreResult<i64>;
    /// A right code: the failures start again from zero.
    async fn user_code_passed(&self, user_id: &str) -> StoreResult<()>;
    /// Deletes a user with their devices and enrollments, and cancels their pending requests.
    async fn delete_user(&self, id: &str) -> StoreResult<bool>;

    // --- clients
    /// Inserts a client.
    async fn insert_client(&self, client: &Client) -> StoreResult<()>;
    /// A client by `client_id`.
    async fn client(&self, id: &str) -> StoreResult<Option<Client>>;
    /// Replaces an existing client's registration (all but its id and creation time); false
    /// when there is no such client.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// Stores an initial access token (by hash) for dynamic registration; `uses`: `None` for
    /// any number until `expires_at`.
    async fn insert_initial_access_token(
        &self,
        token_hash: &str,
        created_at: i64,
        expires_at: i64,
        uses: Option<i64>,
    ) -> StoreResult<()>;
    /// Whether an initial access token exists, unexpired and not used up (only a hint: the
    /// registration itself decides atomically).
    async fn initial_access_token_valid(&self, token_hash: &str, now: i64) -> StoreResult<bool>;
    /// Uses an initial access token and inserts `client`, atomically; false (nothing stored)
    /// when the token is unknown, expired or used up.
    async fn insert_client_with_initial_access_token(
        &self,
        token_hash: &str,
        now: i64,
        client: &Client,
    ) -> StoreResult<bool>;
    /// Deletes a client and cancels its pending requests.
    async fn delete_client(&self, id: &str) -> StoreResult<bool>;

    // --- enrollment and devices
    /// Inserts an enrollment (its code only as a hash).
    async fn insert_enrollment(&self, enrollment: &Enrollment) -> StoreResult<()>;
    /// The user of an enrollment code (by hash) that exists, unused and unexpired at `now`. Only a hint:
    /// [`Store::enroll_device`] decides atomically.
    async fn enrollment_code_user(&self, code_hash: &str, now: i64) -> StoreResult<Option<String>>;
    /// Consumes an unused, unexpired enrollment code and stores the device, atomically: a code
    /// works once even under concurrent calls, and a refused device leaves the code unused.
    async fn enroll_device(
        &self,
        code_hash: &str,
        now: i64,
        device: &Device,
    ) -> StoreResult<EnrollOutcome>;
    /// A device by the thumbprint of its key.
    async fn device_by_jkt(&self, jkt: &str) -> StoreResult<Option<Device>>;
    /// A device by id.
    async fn device(&self, id: &str) -> StoreResult<Option<Device>>;
    /// The devices of a user, newest first.
    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>>;
    /// Marks a device revoked; false when it does not exist or was already revoked.
    async fn revoke_device(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// Replaces an active device's push registration; false when the device is not active.
    async fn update_push(
        &self,
        id: &str,
        provider: PushProvider,
        token: Option<&str>,
        environment: PushEnvironment,
    ) -> StoreResult<bool>;
    /// Moves an active device from `old_jkt` to a new key, atomically: false when the device is
    /// not active or no longer has `old_jkt`; `Conflict` when the new key is enrolled already.
    async fn rotate_device_key(
        &self,
        id: &str,
        old_jkt: &str,
        new_jkt: &str,
        new_jwk: &str,
    ) -> StoreResult<bool>;
    /// Sets a user's status; false when there is no such user.
    async fn set_user_status(&self, id: &str, status: UserStatus) -> StoreResult<bool>;
    /// Locks a user and, in the same transaction, cancels every pending or approved (not yet
    /// redeemed) request of theirs and enqueues a notification (due now, until
    /// `notification_deadline`) for each of those requests whose client is in ping or push mode.
    /// Returns how many requests were cancelled; `None` when there is no such user.
    async fn lock_user(
        &self,
        id: &str,
        now: i64,
        notification_deadline: i64,
    ) -> StoreResult<Option<u64>>;

    // --- CIBA requests
    /// Inserts a new pending request, its wake-up pushes and its audit events, in one
    /// transaction — unless its user already has `max_pending` pending, unexpired requests (at
    /// the request's `created_at`), in which case nothing is stored. The count and the insert
    /// are atomic: concurrent requests for one user cannot exceed the limit together.
    async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome>;
    /// A request by transaction id.
    async fn request(&self, id: &str) -> StoreResult<Option<CibaRequest>>;
    /// A request by the hash of its `auth_req_id`.
    async fn request_by_auth_req_id(
        &self,
        auth_req_id_hash: &str,
    ) -> StoreResult<Option<CibaRequest>>;
    /// A user's pending, unexpired requests, newest first.
    async fn pending_requests_of_user(
        &self,
        user_id: &str,
        now: i64,
    ) -> StoreResult<Vec<CibaRequest>>;
    /// The fast path of a token poll: records the poll on a pending, unexpired request of this
    /// client in one statement and says whether it was too fast (which also raises the interval
    /// by `slow_down_step`). `None` when the request is not pending, expired, unknown or another
    /// client's: the caller then looks at it in full.
    async fn poll_pending(
        &self,
        auth_req_id_hash: &str,
        client_id: &str,
        now: i64,
        slow_down_step: i64,
    ) -> StoreResult<Option<PollOutcome>>;
    /// pending → approved | denied, only while unexpired. False when another decision won or
    /// the request expired.
    async fn decide(&self, id: &str, decision: &Decision, now: i64) -> StoreResult<bool>;
    /// approved → redeemed, only while unexpired. False when already redeemed (or not approved).
    async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool>;
    /// [`Store::redeem`], and the refresh token issued with the tokens stored in the same
    /// transaction (nothing stored when the redemption loses).
    async fn redeem_with_refresh_token(
        &self,
        id: &str,
        now: i64,
        token: &RefreshToken,
    ) -> StoreResult<bool>;

    // --- refresh tokens and revoked access tokens
    /// A refresh token by the hash of its value.
    async fn refresh_token(&self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// Uses the refresh token `old_hash` and stores `next` in its place, atomically; a token
    /// used before revokes its whole family (and the access tokens the family issued).
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        now: i64,
        next: &RefreshToken,
    ) -> StoreResult<RotateOutcome>;
    /// Revokes a family of refresh tokens and the unexpired access tokens it issued; how many
    /// refresh tokens were still unrevoked.
    async fn revoke_refresh_family(&self, family_id: &str, now: i64) -> StoreResult<u64>;
    /// Revokes the access token `jti` until its expiry (idempotent).
    async fn revoke_access_token(&self, jti: &str, expires_at: i64, now: i64) -> StoreResult<()>;
    /// Whether the access token `jti` was revoked.
    async fn access_token_revoked(&self, jti: &str, now: i64) -> StoreResult<bool>;

    // --- notification outbox (ping and push delivery)
    /// Takes up to `limit` due notifications (pending, `next_attempt_at` ≤ now, not leased),
    /// leasing them until `lease_until` and counting the attempt. A crashed worker's lease
    /// expires and another instance takes the work over.
    async fn claim_client_notifications(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<ClientNotificationEntry>>;
    /// Ends a notification: delivered (payload cleared), failed or abandoned.
    async fn finish_client_notification(
        &self,
        id: i64,
        outcome: NotificationFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Releases a notification for another attempt at `next_attempt_at`.
    async fn retry_client_notification(
        &self,
        id: i64,
        next_attempt_at: i64,
        error: &str,
    ) -> StoreResult<()>;
    /// Push mode: approved → redeemed and the minted token body stored on the notification, in
    /// one transaction (with the refresh token issued, if any), so tokens are minted once and
    /// retries resend the same body. False when the request is no longer approved.
    async fn store_push_mode_tokens(
        &self,
        notification_id: i64,
        request_id: &str,
        payload: &str,
        now: i64,
        refresh_token: Option<&RefreshToken>,
    ) -> StoreResult<bool>;
    /// Stores an error body on a push notification (denied, expired, failed).
    async fn store_push_mode_payload(&self, notification_id: i64, payload: &str)
    -> StoreResult<()>;
    /// Enqueues an `expired_token` push for every push-mode request that expired undecided
    /// after `since` (exclusive) and by `now`, once. Returns how many were enqueued. The lower
    /// bound keeps the scan to what expired since the previous one: without it every scan
    /// walks all the expired rows the sweep still keeps (a day of them, by default).
    async fn enqueue_push_mode_expiries(
        &self,
        since: i64,
        now: i64,
        deadline: i64,
    ) -> StoreResult<u64>;

    // --- push outbox (wake-up pushes to devices)
    /// Takes up to `limit` due pushes (pending, `next_attempt_at` ≤ now, not leased), leasing
    /// them until `lease_until` and counting the attempt, with the device's current push
    /// registration and the request's state.
    async fn claim_wakeups(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> StoreResult<Vec<WakeupEntry>>;
    /// Ends a push.
    async fn finish_wakeup(
        &self,
        id: i64,
        outcome: WakeupFinal,
        now: i64,
        error: Option<&str>,
    ) -> StoreResult<()>;
    /// Releases a push for another attempt at `next_attempt_at`.
    async fn retry_wakeup(&self, id: i64, next_attempt_at: i64, error: &str) -> StoreResult<()>;
    /// Marks a device's push token dead, only if it is still `token` (the device may have
    /// registered a fresh one meanwhile). False when nothing changed.
    async fn invalidate_push_token(
        &self,
        device_id: &str,
        token: &str,
        now: i64,
    ) -> StoreResult<bool>;
    /// The pushes of a request.
    async fn wakeups_of_request(&self, request_id: &str) -> StoreResult<Vec<WakeupDelivery>>;

    // --- replay cache
    /// Remembers `key` until `expires_at`; false when it is already remembered (a replay).
    async fn remember_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool>;

    // --- signing keys
    /// All signing keys.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Stores a signing key.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;

    // --- audit
    /// Appends a security event.
    async fn append_audit(&self, event: &NewAuditEvent) -> StoreResult<()>;
    /// Security events matching `filter`, in its order, at most `limit`.
    async fn audit_events(&self, filter: &AuditFilter, limit: i64) -> StoreResult<Vec<AuditEvent>>;

    /// Records that a device called the device API at `now` (nothing when it was recorded less
    /// than a minute before).
    async fn device_seen(&self, id: &str, now: i64) -> StoreResult<()>;

    // --- console sessions
    /// Stores a new console session.
    async fn insert_console_session(&self, session: &ConsoleSession) -> StoreResult<()>;
    /// The console session with this cookie hash, expired or not.
    async fn console_session(&self, id_hash: &str) -> StoreResult<Option<ConsoleSession>>;
    /// Moves a live session's idle expiry (never past its absolute one); false when it is gone
    /// or expired at `now`.
    async fn touch_console_session(
        &self,
        id_hash: &str,
        now: i64,
        idle_until: i64,
    ) -> StoreResult<bool>;
    /// Ends a console session; false when there was none.
    async fn delete_console_session(&self, id_hash: &str) -> StoreResult<bool>;

    // --- listings (the admin API)
    /// Users matching `search` (a substring of username, subject, email, phone or display name,
    /// case-insensitive) and `status`, oldest first, after `after`.
    async fn list_users(
        &self,
        search: Option<&str>,
        status: Option<&str>,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<User>>;
    /// Every scope value some registered client may request (each once, in no order).
    async fn registered_scopes(&self) -> StoreResult<Vec<String>>;
    /// Clients, oldest first, after `after`.
    async fn list_clients(&self, after: Option<&After>, limit: i64) -> StoreResult<Vec<Client>>;
    /// Devices of every user matching `filter`, by enrollment time, after `after`.
    async fn list_devices(
        &self,
        filter: &DeviceFilter,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<Device>>;
    /// Requests created since `since`, counted by minute and status (expiry judged at `now`).
    async fn request_counts(&self, since: i64, now: i64) -> StoreResult<Vec<RequestCount>>;
    /// The latest failed pushes and client notifications, at most `limit` in all, newest first.
    async fn recent_delivery_errors(&self, limit: i64) -> StoreResult<Vec<DeliveryError>>;
    /// Requests matching `filter` (expiry judged at `now`), newest first, after `after`.
    async fn list_requests(
        &self,
        filter: &RequestFilter,
        now: i64,
        after: Option<&After>,
        limit: i64,
    ) -> StoreResult<Vec<CibaRequest>>;
    /// The client notifications of a request.
    async fn notifications_of_request(
        &self,
        request_id: &str,
    ) -> StoreResult<Vec<ClientNotificationDelivery>>;
    /// The audit events about a request, oldest first.
    async fn audit_events_of_request(&self, request_id: &str) -> StoreResult<Vec<AuditEvent>>;
    /// Cancels a live (pending or approved, unexpired, not redeemed) request and enqueues the
    /// notification of its ping or push client, atomically; false when it was not live.
    async fn cancel_request(
        &self,
        id: &str,
        now: i64,
        notification_deadline: i64,
    ) -> StoreResult<bool>;

    // --- maintenance
    /// Deletes requests whose expiry is older than `request_horizon`, expired `jti`s and
    /// expired enrollments, and forgets the clear-text `auth_req_id` of expired requests that
    /// will not be notified. Idempotent; safe to run from any instance.
    async fn sweep(&self, now: i64, request_horizon: i64) -> StoreResult<SweepStats>;
    /// Deletes audit events recorded before `before` (in batches, each its own write turn);
    /// returns how many.
    async fn prune_audit(&self, before: i64) -> StoreResult<u64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pending request `txn_{n}` with the given `auth_req_id` hash, for the engines' tests.
    pub(super) fn request(n: usize, hash: &str) -> CibaRequest {
        CibaRequest {
            id: format!("txn_{n}"),
            auth_req_id_hash: hash.to_owned(),
            client_id: "c".into(),
            user_id: "u".into(),
            scope: vec!["openid".into()],
            acr_values: Vec::new(),
            binding_message: None,
            authorization_details: None,
            challenge: "ch".into(),
            status: RequestStatus::Pending,
            created_at: 100,
            expires_at: 400,
            interval: 5,
            last_polled_at: None,
            decided_at: None,
            decided_by: None,
            amr: Vec::new(),
            deny_reason: None,
            redeemed_at: None,
            notification_token: None,
            notify_auth_req_id: None,
        }
    }
}
