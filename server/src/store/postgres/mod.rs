//! PostgreSQL: one shared database for several server instances. The hot path (new requests,
//! pending polls, redemptions, and the reads by key of the backchannel and of redeeming token
//! requests) is batched per instance ([`batch`]); everything else goes through the pool. PostgreSQL's own row locks order concurrent writers, and outbox claims skip
//! the rows another instance has locked.

mod batch;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Postgres};

use self::batch::Batches;
use super::sql::{Engine, Exec, Query, SqlStore, Transaction, Value, Writes, pooled};
use super::{
    CibaRequest, InsertOutcome, NewAuditEvent, NewWakeup, Outbox, PollOutcome, StoreError,
    StoreResult,
};

/// Migrations, embedded in the binary.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../../migrations/postgres/0002_notifications.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../../migrations/postgres/0003_push.sql"),
    ),
    (
        4,
        "poll_fast_path",
        include_str!("../../../migrations/postgres/0004_poll_fast_path.sql"),
    ),
    (
        5,
        "user_identifiers",
        include_str!("../../../migrations/postgres/0005_user_identifiers.sql"),
    ),
    (
        6,
        "device_attestation",
        include_str!("../../../migrations/postgres/0006_device_attestation.sql"),
    ),
    (
        7,
        "approval_key",
        include_str!("../../../migrations/postgres/0007_approval_key.sql"),
    ),
    (
        8,
        "fapi_clients",
        include_str!("../../../migrations/postgres/0008_fapi_clients.sql"),
    ),
    (
        9,
        "token_lifecycle",
        include_str!("../../../migrations/postgres/0009_token_lifecycle.sql"),
    ),
    (
        10,
        "user_codes",
        include_str!("../../../migrations/postgres/0010_user_codes.sql"),
    ),
    (
        11,
        "dynamic_registration",
        include_str!("../../../migrations/postgres/0011_dynamic_registration.sql"),
    ),
    (
        12,
        "listing_indexes",
        include_str!("../../../migrations/postgres/0012_listing_indexes.sql"),
    ),
    (
        13,
        "console",
        include_str!("../../../migrations/postgres/0013_console.sql"),
    ),
    (
        14,
        "outbox_announce",
        include_str!("../../../migrations/postgres/0014_outbox_announce.sql"),
    ),
];

/// The channel the outbox triggers announce new rows on (migration 0014).
const OUTBOX_CHANNEL: &str = "ciba_outbox";

/// PostgreSQL implementation of [`Store`](super::Store).
pub type PgStore = SqlStore<PgEngine>;

/// The PostgreSQL engine: a pool, a connection of its own to listen for the outboxes'
/// announcements (so listening never takes one of the pool's), and the hot writes' batches.
#[derive(Debug, Clone)]
pub struct PgEngine {
    pool: PgPool,
    listen: PgPool,
    /// Absent in the engine the batches themselves run on (its hot writes go through the pool).
    batches: Option<Arc<Batches>>,
}

impl PgStore {
    /// A pool that connects on first use: the server starts (and reports not ready) while the
    /// database is unreachable, and recovers when it returns. Starts the batches' tasks on the
    /// current tokio runtime.
    pub fn connect_lazy(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let listen = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options.clone());
        let batch_pool = PgPoolOptions::new()
            .max_connections(batch::CONNECTIONS)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(
                options
                    .clone()
                    .options([("plan_cache_mode", "force_generic_plan")]),
            );
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        let mut engine = PgEngine {
            pool,
            listen,
            batches: None,
        };
        engine.batches = Some(Arc::new(Batches::start(&engine, batch_pool)?));
        Ok(SqlStore::new(engine))
    }
}

/// The statement with its values, which sqlx encodes as they are bound.
fn bind(query: Query<'_>) -> sqlx::query::Query<'static, Postgres, PgArguments> {
    let mut bound = match query.sql {
        std::borrow::Cow::Borrowed(sql) => sqlx::query(sql),
        std::borrow::Cow::Owned(sql) => sqlx::query(AssertSqlSafe(sql)),
    };
    for value in query.values {
        bound = match value {
            Value::Text(v) => bound.bind(&*v),
            Value::OptText(v) => bound.bind(v),
            Value::Int(v) => bound.bind(v),
            Value::OptInt(v) => bound.bind(v),
            Value::Bool(v) => bound.bind(v),
            Value::OptBool(v) => bound.bind(v),
            Value::Bytes(v) => bound.bind(v),
        };
    }
    bound
}

impl Engine for PgEngine {
    type Row = PgRow;
    type Pool<'a> = &'a PgPool;
    type Writes<'a> = &'a PgPool;

    const CLAIM_LOCK: &'static str = "FOR UPDATE SKIP LOCKED";
    const ROW_LOCK: &'static str = "FOR UPDATE";
    const USER_LOCK: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))");

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Writers need no turn: PostgreSQL's row locks order them.
    fn writes(&self) -> impl Future<Output = &PgPool> + Send {
        std::future::ready(&self.pool)
    }

    async fn migrate(&self) -> StoreResult<()> {
        super::migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))
    }

    async fn close(&self) {
        // What is queued commits first.
        if let Some(batches) = &self.batches {
            batches.close().await;
        }
        // The listener sees its pool close and gives its connection back.
        self.listen.close().await;
        self.pool.close().await;
    }

    async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome> {
        match &self.batches {
            Some(b) => b.insert_request(request, pushes, audit, max_pending).await,
            None => pooled::insert_request(self, request, pushes, audit, max_pending).await,
        }
    }

    async fn poll_pending(
        &self,
        auth_req_id_hash: &str,
        client_id: &str,
        now: i64,
        slow_down_step: i64,
    ) -> StoreResult<Option<PollOutcome>> {
        match &self.batches {
            Some(b) => {
                b.poll_pending(auth_req_id_hash, client_id, now, slow_down_step)
                    .await
            }
            None => {
                pooled::poll_pending(self, auth_req_id_hash, client_id, now, slow_down_step).await
            }
        }
    }

    async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        match &self.batches {
            Some(b) => b.redeem(id, now).await,
            None => pooled::redeem(self, id, now).await,
        }
    }

    async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<super::User>> {
        match &self.batches {
            Some(b) => b.user_by_login_hint(hint).await,
            None => pooled::user_by_login_hint(self, hint).await,
        }
    }

    async fn request_by_auth_req_id(&self, hash: &str) -> StoreResult<Option<CibaRequest>> {
        match &self.batches {
            Some(b) => b.request_by_auth_req_id(hash).await,
            None => pooled::request_by_auth_req_id(self, hash).await,
        }
    }

    async fn user(&self, id: &str) -> StoreResult<Option<super::User>> {
        match &self.batches {
            Some(b) => b.user(id).await,
            None => pooled::user(self, id).await,
        }
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<super::Device>> {
        match &self.batches {
            Some(b) => b.devices_of_user(user_id).await,
            None => pooled::devices_of_user(self, user_id).await,
        }
    }

    /// LISTENs on [`OUTBOX_CHANNEL`] on the engine's listening connection (not one of the
    /// pool's). A lost connection is re-established by the listener; announcements made while it
    /// was down are lost, so both outboxes are reported changed once it is back.
    async fn watch_outbox(&self, changed: &(dyn Fn(Outbox) + Send + Sync)) -> StoreResult<()> {
        // After (re)connecting: what was committed meanwhile was announced to nobody.
        let everything_changed = || {
            changed(Outbox::ClientNotifications);
            changed(Outbox::DeviceWakeups);
        };
        let watched: Result<std::convert::Infallible, sqlx::Error> = async {
            let mut listener = PgListener::connect_with(&self.listen).await?;
            listener.listen(OUTBOX_CHANNEL).await?;
            everything_changed();
            loop {
                match listener.try_recv().await? {
                    Some(note) => match note.payload() {
                        "notifications" => changed(Outbox::ClientNotifications),
                        "wakeups" => changed(Outbox::DeviceWakeups),
                        other => tracing::debug!(payload = other, "unknown outbox announcement"),
                    },
                    None => everything_changed(),
                }
            }
        }
        .await;
        match watched {
            // The pool is closing: the server is stopping.
            Err(sqlx::Error::PoolClosed) => Ok(()),
            Err(e) => Err(e.into()),
            Ok(never) => match never {},
        }
    }
}

impl Exec for &PgPool {
    type Row = PgRow;

    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64> {
        Ok(bind(query).execute(*self).await?.rows_affected())
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<PgRow>> {
        Ok(bind(query).fetch_optional(*self).await?)
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<PgRow>> {
        Ok(bind(query).fetch_all(*self).await?)
    }
}

impl Writes for &PgPool {
    type Tx = sqlx::Transaction<'static, Postgres>;

    async fn begin(&mut self) -> StoreResult<Self::Tx> {
        Ok((*self).begin().await?)
    }
}

impl Exec for sqlx::Transaction<'static, Postgres> {
    type Row = PgRow;

    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64> {
        Ok(bind(query).execute(&mut **self).await?.rows_affected())
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<PgRow>> {
        Ok(bind(query).fetch_optional(&mut **self).await?)
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<PgRow>> {
        Ok(bind(query).fetch_all(&mut **self).await?)
    }
}

impl Transaction for sqlx::Transaction<'static, Postgres> {
    async fn commit(self) -> StoreResult<()> {
        Ok(sqlx::Transaction::commit(self).await?)
    }
}
