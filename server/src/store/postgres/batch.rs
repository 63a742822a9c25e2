//! PostgreSQL group commit: the hot writes — new backchannel requests, pending-poll bookkeeping
//! and redemptions — and the hot reads by key are queued per instance and run as batches, a few
//! statements per batch instead of a few per request.
//!
//! Why: on PostgreSQL a request's cost is its round trips and statements, not its rows. A new
//! request through the pool is `BEGIN`, the user's lock, the insert, each of its wake-ups and
//! audit events, and `COMMIT`: a round trip and a statement parsed-bound-executed by the backend
//! for each, and one commit (a WAL flush). A batch of N new requests is one statement that takes
//! the N users' locks and then inserts the N requests, their wake-ups and their audit events
//! (`INSERT … SELECT * FROM unnest($1::text[], …)` in data-modifying CTEs); with a per-user
//! limit it is a transaction: `BEGIN`, the locks with the counts, the inserts allowed, `COMMIT`.
//! N pending polls are one `UPDATE … FROM unnest(…)`, N redemptions another. Every caller is
//! answered after its batch commits, so nothing is acknowledged before it is durable.
//!
//! The backchannel's two reads — the user a login hint names, the user's devices — and a
//! redeeming token request's two — the request by its `auth_req_id`, its user — are batched the
//! same way (one `SELECT … = ANY($1)` for N keys).
//!
//! Several instances share the database, so batches take their locks in one order: users'
//! advisory locks in key order, request rows in key order (the jobs sorted, the `UPDATE` a
//! nested loop over the sorted arrays), so two batches — of one instance or of two — do not wait
//! for each other in a circle; should a plan ever take them in another order, PostgreSQL breaks
//! the deadlock and the refused batch's jobs run again one by one. A batch never holds two jobs
//! on one key (the same request polled twice): the second goes in a next round, so it sees the
//! first one's write, as it would one after the other.
//!
//! The batches have a pool of their own ([`CONNECTIONS`] connections, besides the store's) whose
//! sessions use generic plans (`plan_cache_mode = force_generic_plan`): the arrays' lengths vary
//! from batch to batch, and PostgreSQL would otherwise plan every execution again (the planner
//! led a profile of PostgreSQL under pending polls; with generic plans its CPU fell by a quarter
//! and polls rose from 6 900 to 9 400/s).
//!
//! A job that fails (a conflict, a constraint) fails alone: when a statement of the batch fails,
//! the batch is rolled back and each of its jobs runs again on its own through the pool path,
//! which gives it its own answer. When the database is unreachable, every job of the batch gets
//! the error. A new request's statements and bound values are the pool path's (`store/sql`):
//! the batch transposes each job's values into one array per column, so a request commits the
//! same row whichever way it goes. The polls', redemptions' and reads' statements restate the
//! pool path's conditions over arrays (each names the statement it follows); the store suite
//! runs both paths (`integration_tests.rs`: PostgreSQL batched, SQLite in memory through the
//! pool) with the same assertions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use futures_util::future::join_all;
use sqlx::postgres::{PgArguments, PgPool, PgRow};
use sqlx::{AssertSqlSafe, Postgres, Row as _};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::PgEngine;
use crate::store::sql::{
    AUDIT_INSERT, PUSH_INSERT, REQUEST_INSERT, Value, device_from, poll_outcome, pooled,
    request_columns, request_from, user_from, values,
};
use crate::store::{
    CibaRequest, Device, InsertOutcome, NewAuditEvent, NewWakeup, PollOutcome, StoreError,
    StoreResult, User,
};

/// The most jobs in one batch (bounds the arrays bound to a statement and the latency a batch
/// adds to its first job).
const MAX_BATCH: usize = 256;
/// Jobs waiting for a batch before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8192;
/// The batches' own connections: one per kind of batch (each kind runs one batch at a time, see
/// [`drive`]).
pub(super) const CONNECTIONS: u32 = 7;

/// The users' (`$1`) advisory locks, as a CTE named `locks`: taken in key order (PostgreSQL
/// evaluates a volatile output expression after `ORDER BY`), the key being the pool path's
/// (`USER_LOCK`). What must run under the locks waits for them with [`UNDER_LOCKS`].
const LOCK_USERS: &str = "locks AS MATERIALIZED (SELECT pg_advisory_xact_lock(k) FROM \
     (SELECT DISTINCT hashtextextended(u, 0) AS k FROM unnest($1::text[]) AS u) AS keys ORDER BY k)";

/// A condition that holds once every lock of [`LOCK_USERS`] is taken (a one-time filter,
/// evaluated before the first row).
const UNDER_LOCKS: &str = "(SELECT count(*) FROM locks) >= 0";

/// Under the users' locks (`$1`): pending, unexpired requests per user with a limit (`$2`), each
/// counted at its own moment (`$3`), what the per-user limit counts (the pool path's
/// `COUNT_PENDING_OF_USER`).
const COUNT_PENDING: &str = "SELECT u.user_id, \
       (SELECT COUNT(*) FROM requests r \
         WHERE r.user_id = u.user_id AND r.status = 'pending' AND r.expires_at > u.now) AS n \
     FROM unnest($2::text[], $3::int8[]) AS u(user_id, now)";

/// The pool path's `POLL_PENDING` for many requests (`$1`, sorted: the rows are updated, and
/// locked, in that order, as the plan is a nested loop over the arrays).
const POLL_PENDING: &str = "UPDATE requests AS r SET \
       poll_slowed = (r.last_polled_at IS NOT NULL AND r.last_polled_at + r.poll_interval > p.now), \
       poll_interval = CASE WHEN r.last_polled_at IS NOT NULL AND r.last_polled_at + r.poll_interval > p.now \
                       THEN r.poll_interval + p.step ELSE r.poll_interval END, \
       last_polled_at = p.now \
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS p(hash, client_id, now, step) \
     WHERE r.auth_req_id_hash = p.hash AND r.client_id = p.client_id AND r.status = 'pending' \
       AND r.expires_at > p.now \
     RETURNING r.auth_req_id_hash AS hash, r.poll_slowed";

/// The pool path's `REDEEM` for many requests (`$2`, sorted, as above).
const REDEEM: &str = "UPDATE requests AS r SET status = 'redeemed', redeemed_at = p.now \
     FROM unnest($1::int8[], $2::text[]) AS p(now, id) \
     WHERE r.id = p.id AND r.status = 'approved' AND r.expires_at > p.now \
     RETURNING r.id";

/// Requests by auth_req_id hash (`$1`, distinct): the pool path's `BY_AUTH_REQ_ID` for many.
const REQUESTS_BY_AUTH_REQ_ID: &str = concat!(
    "SELECT auth_req_id_hash AS batch_key, ",
    request_columns!(),
    " FROM requests WHERE auth_req_id_hash = ANY($1::text[])"
);

/// Users by id (`$1`, distinct): the pool path's `BY_ID` for many.
const USERS_BY_ID: &str = "SELECT id AS batch_key, * FROM users WHERE id = ANY($1::text[])";

/// Users by login hint (`$1`, distinct): the pool path's `BY_LOGIN_HINT` for many hints.
const USERS_BY_LOGIN_HINT: &str = "SELECT h.hint AS batch_key, u.* FROM unnest($1::text[]) AS h(hint) \
     JOIN user_identifiers i ON i.value = h.hint AND i.kind <> 'ambiguous' \
     JOIN users u ON u.id = i.user_id";

/// Devices of users (`$1`, distinct): the pool path's `OF_USER` for many users, in its order
/// per user.
const DEVICES_OF_USERS: &str = "SELECT user_id AS batch_key, * FROM devices \
     WHERE user_id = ANY($1::text[]) ORDER BY enrolled_at DESC, id";

fn stopped() -> StoreError {
    StoreError::Database("the PostgreSQL batch writer has stopped".into())
}

/// The batch queues of one store.
#[derive(Debug)]
pub(super) struct Batches {
    inserts: Queue<InsertJob>,
    polls: Queue<PollJob>,
    redemptions: Queue<RedeemJob>,
    hints: Queue<KeyedJob<Option<User>>>,
    requests: Queue<KeyedJob<Option<CibaRequest>>>,
    users: Queue<KeyedJob<Option<User>>>,
    devices: Queue<KeyedJob<Vec<Device>>>,
    pool: PgPool,
}

/// What a batch runs on: the batches' pool, and the store's engine without batches, which a
/// refused batch's jobs run again on one by one.
#[derive(Debug, Clone)]
struct On {
    pool: PgPool,
    engine: PgEngine,
}

impl Batches {
    /// Starts the queues' tasks on the current runtime.
    pub(super) fn start(engine: &PgEngine, pool: PgPool) -> StoreResult<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Database("the PostgreSQL store needs a tokio runtime".into())
        })?;
        let on = On {
            pool: pool.clone(),
            engine: engine.clone(),
        };
        let o = on.clone();
        let inserts = Queue::start(&runtime, move |jobs| insert_batch(o.clone(), jobs));
        let o = on.clone();
        let polls = Queue::start(&runtime, move |jobs| poll_batch(o.clone(), jobs));
        let o = on.clone();
        let redemptions = Queue::start(&runtime, move |jobs| redeem_batch(o.clone(), jobs));
        let o = on.clone();
        let hints = Queue::start(&runtime, move |jobs| hint_batch(o.clone(), jobs));
        let o = on.clone();
        let requests = Queue::start(&runtime, move |jobs| request_batch(o.clone(), jobs));
        let o = on.clone();
        let users = Queue::start(&runtime, move |jobs| user_batch(o.clone(), jobs));
        let o = on;
        let devices = Queue::start(&runtime, move |jobs| devices_batch(o.clone(), jobs));
        Ok(Self {
            inserts,
            polls,
            redemptions,
            hints,
            requests,
            users,
            devices,
            pool,
        })
    }

    /// [`Store::insert_request`](crate::store::Store::insert_request), batched.
    pub(super) async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome> {
        self.inserts
            .submit(|reply| InsertJob {
                request: request.clone(),
                pushes: pushes.to_vec(),
                audit: audit.to_vec(),
                max_pending,
                reply,
            })
            .await
    }

    /// [`Store::poll_pending`](crate::store::Store::poll_pending), batched.
    pub(super) async fn poll_pending(
        &self,
        hash: &str,
        client_id: &str,
        now: i64,
        step: i64,
    ) -> StoreResult<Option<PollOutcome>> {
        self.polls
            .submit(|reply| PollJob {
                hash: hash.to_owned(),
                client_id: client_id.to_owned(),
                now,
                step,
                reply,
            })
            .await
    }

    /// [`Store::redeem`](crate::store::Store::redeem), batched.
    pub(super) async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        self.redemptions
            .submit(|reply| RedeemJob {
                id: id.to_owned(),
                now,
                reply,
            })
            .await
    }

    /// [`Store::user_by_login_hint`](crate::store::Store::user_by_login_hint), batched.
    pub(super) async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        self.hints
            .submit(|reply| KeyedJob {
                key: hint.to_owned(),
                reply,
            })
            .await
    }

    /// [`Store::request_by_auth_req_id`](crate::store::Store::request_by_auth_req_id), batched.
    pub(super) async fn request_by_auth_req_id(
        &self,
        hash: &str,
    ) -> StoreResult<Option<CibaRequest>> {
        self.requests
            .submit(|reply| KeyedJob {
                key: hash.to_owned(),
                reply,
            })
            .await
    }

    /// [`Store::user`](crate::store::Store::user), batched.
    pub(super) async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.users
            .submit(|reply| KeyedJob {
                key: id.to_owned(),
                reply,
            })
            .await
    }

    /// [`Store::devices_of_user`](crate::store::Store::devices_of_user), batched.
    pub(super) async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        self.devices
            .submit(|reply| KeyedJob {
                key: user_id.to_owned(),
                reply,
            })
            .await
    }

    /// Refuses new jobs, waits until the queued ones are committed and answered, and closes the
    /// batches' pool.
    pub(super) async fn close(&self) {
        self.inserts.close().await;
        self.polls.close().await;
        self.redemptions.close().await;
        self.hints.close().await;
        self.requests.close().await;
        self.users.close().await;
        self.devices.close().await;
        self.pool.close().await;
    }
}

#[derive(Debug)]
enum Message<J> {
    Job(J),
    /// Refuse new jobs, finish the queued ones, stop.
    Close,
}

/// One kind of job, and the task that batches it.
#[derive(Debug)]
struct Queue<J> {
    jobs: mpsc::Sender<Message<J>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl<J: Send + 'static> Queue<J> {
    fn start<F, Fut>(runtime: &tokio::runtime::Handle, run: F) -> Self
    where
        F: Fn(Vec<J>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let task = runtime.spawn(drive(queue, run));
        Self {
            jobs,
            task: Mutex::new(Some(task)),
        }
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> J,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Message::Job(job(reply)))
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn close(&self) {
        let task = match self.task.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(task) = task else { return };
        if self.jobs.send(Message::Close).await.is_ok() {
            let _ = task.await;
        }
    }
}

/// Takes every job queued when the last batch is done, up to [`MAX_BATCH`], and runs them
/// together: one batch of a kind at a time, so the next one fills while the last one runs and
/// grows with the load. (Two in flight were slower on two cores: smaller batches, more
/// statements — 3 500–4 800 backchannel requests/s and 12 500–15 000 polls/s against 4 200–5 400
/// and 14 300–16 200 with one, alternating runs at 16 clients.) Ends when every sender is gone
/// (the store was dropped) or after `Close` once the jobs queued before it are answered.
async fn drive<J, F, Fut>(mut queue: mpsc::Receiver<Message<J>>, run: F)
where
    F: Fn(Vec<J>) -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        let first = match queue.recv().await {
            Some(Message::Job(job)) => job,
            Some(Message::Close) => {
                queue.close();
                continue;
            }
            None => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Job(job)) => batch.push(job),
                Ok(Message::Close) => queue.close(),
                Err(_) => break,
            }
        }
        run(batch).await;
    }
}

#[derive(Debug)]
struct InsertJob {
    request: CibaRequest,
    pushes: Vec<NewWakeup>,
    audit: Vec<NewAuditEvent>,
    max_pending: Option<u32>,
    reply: oneshot::Sender<StoreResult<InsertOutcome>>,
}

#[derive(Debug)]
struct PollJob {
    hash: String,
    client_id: String,
    now: i64,
    step: i64,
    reply: oneshot::Sender<StoreResult<Option<PollOutcome>>>,
}

#[derive(Debug)]
struct RedeemJob {
    id: String,
    now: i64,
    reply: oneshot::Sender<StoreResult<bool>>,
}

/// A read by key: at most one record (`Option`), or every record of the key (`Vec`).
#[derive(Debug)]
struct KeyedJob<A> {
    key: String,
    reply: oneshot::Sender<StoreResult<A>>,
}

/// Why a batch failed.
enum Failure {
    /// A statement was refused (a constraint, a conflict): the batch is rolled back and its jobs
    /// run again one by one.
    Refused,
    /// The database could not run the batch (unreachable, a lost connection): every job gets
    /// the error.
    Lost(String),
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(_) => Self::Refused,
            other => Self::Lost(StoreError::from(other).to_string()),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Lost(e.to_string())
    }
}

/// Answers every job of a lost batch with the same error.
fn lost<T>(replies: impl IntoIterator<Item = oneshot::Sender<StoreResult<T>>>, error: &str) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Database(error.to_owned())));
    }
}

async fn insert_batch(on: On, jobs: Vec<InsertJob>) {
    match insert_all(&on.pool, &jobs).await {
        Ok(outcomes) => {
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let _ = job.reply.send(Ok(outcome));
            }
        }
        Err(Failure::Lost(error)) => lost(jobs.into_iter().map(|j| j.reply), &error),
        Err(Failure::Refused) => {
            // Concurrently, and within the batch: a close waits for these answers too.
            let engine = &on.engine;
            join_all(jobs.into_iter().map(|job| async move {
                let outcome = pooled::insert_request(
                    engine,
                    &job.request,
                    &job.pushes,
                    &job.audit,
                    job.max_pending,
                )
                .await;
                let _ = job.reply.send(outcome);
            }))
            .await;
        }
    }
}

/// Without a per-user limit, one statement: the users' locks, then every request with its
/// wake-ups and audit events. With one, a transaction: the locks and the counts, then the
/// requests allowed.
async fn insert_all(pool: &PgPool, jobs: &[InsertJob]) -> Result<Vec<InsertOutcome>, Failure> {
    let users: Vec<&str> = jobs.iter().map(|j| j.request.user_id.as_str()).collect();
    let mut limited: BTreeMap<&str, i64> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.max_pending.is_some()) {
        let at = limited
            .entry(job.request.user_id.as_str())
            .or_insert(job.request.created_at);
        *at = (*at).min(job.request.created_at);
    }
    if limited.is_empty() {
        let rows = Rows::of(jobs.iter());
        let mut statement = Multi::locking(&users);
        rows.add_to(&mut statement)?;
        statement.query()?.execute(pool).await?;
        return Ok(vec![InsertOutcome::Inserted; jobs.len()]);
    }
    let mut tx = pool.begin().await?;
    // Under the locks: how many pending requests each user with a limit has, counted at the
    // earliest moment a job of the batch counts them (the pool path counts at its request's
    // creation).
    let (who, when): (Vec<&str>, Vec<i64>) = limited.iter().map(|(u, t)| (*u, *t)).unzip();
    let counting = format!("WITH {LOCK_USERS} {COUNT_PENDING} WHERE {UNDER_LOCKS}");
    let rows = sqlx::query(AssertSqlSafe(counting))
        .bind(&users)
        .bind(&who)
        .bind(&when)
        .fetch_all(&mut *tx)
        .await?;
    let mut pending: HashMap<&str, i64> = HashMap::new();
    for row in rows {
        let user: String = row.try_get("user_id")?;
        let n: i64 = row.try_get("n")?;
        if let Some((user, _)) = limited.get_key_value(user.as_str()) {
            pending.insert(user, n);
        }
    }
    // In the order the jobs came: each one allowed counts for the next ones of its user.
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut allowed = Vec::with_capacity(jobs.len());
    for job in jobs {
        let count = pending.entry(job.request.user_id.as_str()).or_insert(0);
        match job.max_pending {
            Some(limit) if *count + 1 > i64::from(limit) => {
                outcomes.push(InsertOutcome::UserAtLimit);
            }
            _ => {
                *count += 1;
                outcomes.push(InsertOutcome::Inserted);
                allowed.push(job);
            }
        }
    }
    if !allowed.is_empty() {
        let rows = Rows::of(allowed.into_iter());
        let mut statement = Multi::default();
        rows.add_to(&mut statement)?;
        statement.query()?.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// The rows new requests write, as the pool path binds them.
struct Rows<'a> {
    requests: Vec<[Value<'a>; 15]>,
    pushes: Vec<[Value<'a>; 6]>,
    audit: Vec<[Value<'a>; 7]>,
}

impl<'a> Rows<'a> {
    fn of(jobs: impl Iterator<Item = &'a InsertJob> + Clone) -> Self {
        Self {
            requests: jobs
                .clone()
                .map(|j| values::request_insert(&j.request))
                .collect(),
            pushes: jobs
                .clone()
                .flat_map(|j| j.pushes.iter().map(|p| values::push_insert(&j.request, p)))
                .collect(),
            audit: jobs
                .flat_map(|j| j.audit.iter().map(values::audit_insert))
                .collect(),
        }
    }

    fn add_to(&'a self, statement: &mut Multi<'a>) -> StoreResult<()> {
        statement.insert(REQUEST_INSERT, &self.requests)?;
        statement.insert(PUSH_INSERT, &self.pushes)?;
        statement.insert(AUDIT_INSERT, &self.audit)
    }
}

/// One statement inserting rows into several tables: each table's rows bound as one array per
/// column and inserted by a data-modifying CTE (`INSERT … SELECT * FROM unnest(…)`). A table
/// without rows is left out (an insert of none would still fire its statement triggers: an
/// outbox announcement for nothing). Begun with [`Multi::locking`], the inserts wait for the
/// users' locks.
#[derive(Default)]
struct Multi<'a> {
    ctes: Vec<String>,
    columns: Vec<Column<'a>>,
    locked: bool,
}

/// One column of a table's rows.
enum Column<'a> {
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
    Bool(Vec<Option<bool>>),
}

impl Column<'_> {
    fn array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "int8[]",
            Column::Bool(_) => "bool[]",
        }
    }
}

impl<'a> Multi<'a> {
    /// A statement that first takes the advisory locks of `users` ([`LOCK_USERS`]).
    fn locking(users: &[&'a str]) -> Self {
        Self {
            ctes: vec![LOCK_USERS.to_owned()],
            columns: vec![Column::Text(users.iter().map(|u| Some(*u)).collect())],
            locked: true,
        }
    }

    /// Adds `rows` of the single-row `insert` (`INSERT INTO t (a, b) VALUES ($1, $2)`, its
    /// placeholders in order, as the pool path runs it: the tests check the three inserts
    /// batched).
    fn insert<const N: usize>(
        &mut self,
        insert: &str,
        rows: &'a [[Value<'a>; N]],
    ) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let malformed = || StoreError::Database(format!("cannot batch {insert}"));
        let (into, _) = insert.split_once(" VALUES ").ok_or_else(malformed)?;
        let mut arrays = Vec::with_capacity(N);
        for i in 0..N {
            let mut column = match &rows[0][i] {
                Value::Text(_) | Value::OptText(_) => Column::Text(Vec::with_capacity(rows.len())),
                Value::Int(_) | Value::OptInt(_) => Column::Int(Vec::with_capacity(rows.len())),
                Value::Bool(_) | Value::OptBool(_) => Column::Bool(Vec::with_capacity(rows.len())),
                Value::Bytes(_) => return Err(malformed()),
            };
            for row in rows {
                match (&mut column, &row[i]) {
                    (Column::Text(c), Value::Text(v)) => c.push(Some(v.as_ref())),
                    (Column::Text(c), Value::OptText(v)) => c.push(*v),
                    (Column::Int(c), Value::Int(v)) => c.push(Some(*v)),
                    (Column::Int(c), Value::OptInt(v)) => c.push(*v),
                    (Column::Bool(c), Value::Bool(v)) => c.push(Some(*v)),
                    (Column::Bool(c), Value::OptBool(v)) => c.push(*v),
                    _ => return Err(malformed()),
                }
            }
            arrays.push(column);
        }
        let first = self.columns.len() + 1;
        let params: Vec<String> = arrays
            .iter()
            .enumerate()
            .map(|(i, c)| format!("${}::{}", first + i, c.array_type()))
            .collect();
        let guard = if self.locked {
            format!(" WHERE {UNDER_LOCKS}")
        } else {
            String::new()
        };
        self.ctes.push(format!(
            "t{} AS ({into} SELECT * FROM unnest({}) AS v{guard})",
            self.ctes.len(),
            params.join(", ")
        ));
        self.columns.extend(arrays);
        Ok(())
    }

    fn query(&self) -> StoreResult<sqlx::query::Query<'_, Postgres, PgArguments>> {
        if self.ctes.len() <= usize::from(self.locked) {
            return Err(StoreError::Database("an empty batch insert".into()));
        }
        let sql = format!("WITH {} SELECT 1", self.ctes.join(", "));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for column in &self.columns {
            query = match column {
                Column::Text(v) => query.bind(v),
                Column::Int(v) => query.bind(v),
                Column::Bool(v) => query.bind(v),
            };
        }
        Ok(query)
    }
}

/// Splits jobs into rounds in which no key appears twice, keeping each key's jobs in order (a
/// job runs after the ones before it on the same row, as it would alone), each round sorted by
/// key (the order its rows are locked in).
fn rounds<J>(jobs: Vec<J>, key: impl Fn(&J) -> &str) -> Vec<Vec<J>> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut rounds: Vec<Vec<J>> = Vec::new();
    for job in jobs {
        let n = seen.entry(key(&job).to_owned()).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(job);
        *n += 1;
    }
    for round in &mut rounds {
        round.sort_by(|a, b| key(a).cmp(key(b)));
    }
    rounds
}

async fn poll_batch(on: On, jobs: Vec<PollJob>) {
    for round in rounds(jobs, |j| j.hash.as_str()) {
        match poll_round(&on.pool, &round).await {
            Ok(slowed) => {
                for job in round {
                    let outcome = slowed.get(job.hash.as_str()).map(|s| poll_outcome(*s));
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            Err(Failure::Lost(error)) => lost(round.into_iter().map(|j| j.reply), &error),
            Err(Failure::Refused) => {
                for job in round {
                    let outcome = pooled::poll_pending(
                        &on.engine,
                        &job.hash,
                        &job.client_id,
                        job.now,
                        job.step,
                    )
                    .await;
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// One `UPDATE` for the round; which requests it changed (by hash), and whether each was
/// polled too fast.
async fn poll_round(pool: &PgPool, jobs: &[PollJob]) -> Result<HashMap<String, bool>, Failure> {
    let hashes: Vec<&str> = jobs.iter().map(|j| j.hash.as_str()).collect();
    let clients: Vec<&str> = jobs.iter().map(|j| j.client_id.as_str()).collect();
    let nows: Vec<i64> = jobs.iter().map(|j| j.now).collect();
    let steps: Vec<i64> = jobs.iter().map(|j| j.step).collect();
    let rows = sqlx::query(POLL_PENDING)
        .bind(&hashes)
        .bind(&clients)
        .bind(&nows)
        .bind(&steps)
        .fetch_all(pool)
        .await?;
    let mut slowed = HashMap::with_capacity(rows.len());
    for row in rows {
        slowed.insert(row.try_get("hash")?, row.try_get("poll_slowed")?);
    }
    Ok(slowed)
}

async fn redeem_batch(on: On, jobs: Vec<RedeemJob>) {
    for round in rounds(jobs, |j| j.id.as_str()) {
        match redeem_round(&on.pool, &round).await {
            Ok(redeemed) => {
                for job in round {
                    let _ = job.reply.send(Ok(redeemed.contains(job.id.as_str())));
                }
            }
            Err(Failure::Lost(error)) => lost(round.into_iter().map(|j| j.reply), &error),
            Err(Failure::Refused) => {
                for job in round {
                    let outcome = pooled::redeem(&on.engine, &job.id, job.now).await;
                    let _ = job.reply.send(outcome);
                }
            }
        }
    }
}

/// One `UPDATE` for the round; the requests it redeemed.
async fn redeem_round(pool: &PgPool, jobs: &[RedeemJob]) -> Result<HashSet<String>, Failure> {
    let nows: Vec<i64> = jobs.iter().map(|j| j.now).collect();
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let rows = sqlx::query(REDEEM)
        .bind(&nows)
        .bind(&ids)
        .fetch_all(pool)
        .await?;
    let mut redeemed = HashSet::with_capacity(rows.len());
    for row in rows {
        redeemed.insert(row.try_get("id")?);
    }
    Ok(redeemed)
}

async fn hint_batch(on: On, jobs: Vec<KeyedJob<Option<User>>>) {
    let engine = &on.engine;
    keyed_batch(
        &on.pool,
        jobs,
        USERS_BY_LOGIN_HINT,
        one(user_from),
        |key| async move { pooled::user_by_login_hint(engine, &key).await },
    )
    .await;
}

async fn request_batch(on: On, jobs: Vec<KeyedJob<Option<CibaRequest>>>) {
    let engine = &on.engine;
    keyed_batch(
        &on.pool,
        jobs,
        REQUESTS_BY_AUTH_REQ_ID,
        one(request_from),
        |key| async move { pooled::request_by_auth_req_id(engine, &key).await },
    )
    .await;
}

async fn user_batch(on: On, jobs: Vec<KeyedJob<Option<User>>>) {
    let engine = &on.engine;
    keyed_batch(
        &on.pool,
        jobs,
        USERS_BY_ID,
        one(user_from),
        |key| async move { pooled::user(engine, &key).await },
    )
    .await;
}

async fn devices_batch(on: On, jobs: Vec<KeyedJob<Vec<Device>>>) {
    let engine = &on.engine;
    let every = |row: &PgRow, devices: &mut Vec<Device>| {
        devices.push(device_from(row)?);
        Ok(())
    };
    keyed_batch(&on.pool, jobs, DEVICES_OF_USERS, every, |key| async move {
        pooled::devices_of_user(engine, &key).await
    })
    .await;
}

/// A key's answer is its one record (a key names one record at most).
fn one<T>(map: fn(&PgRow) -> StoreResult<T>) -> impl Fn(&PgRow, &mut Option<T>) -> StoreResult<()> {
    move |row, answer| {
        *answer = Some(map(row)?);
        Ok(())
    }
}

/// Runs `sql` (`… AS batch_key … = ANY($1)`) once for the jobs' distinct keys, adds each row to
/// its key's answer (`collect`, in the rows' order), and answers each job with its key's (the
/// default — none, no records — for a key without rows). A refused statement runs each job
/// `alone` (the pool path).
async fn keyed_batch<A, C, F, Fut>(
    pool: &PgPool,
    jobs: Vec<KeyedJob<A>>,
    sql: &'static str,
    collect: C,
    alone: F,
) where
    A: Default + Clone,
    C: Fn(&PgRow, &mut A) -> StoreResult<()>,
    F: Fn(String) -> Fut,
    Fut: Future<Output = StoreResult<A>>,
{
    match keyed(pool, &jobs, sql, collect).await {
        Ok(found) => {
            for job in jobs {
                let answer = found.get(&job.key).cloned().unwrap_or_default();
                let _ = job.reply.send(Ok(answer));
            }
        }
        Err(Failure::Lost(error)) => lost(jobs.into_iter().map(|j| j.reply), &error),
        Err(Failure::Refused) => {
            for job in jobs {
                let answer = alone(job.key).await;
                let _ = job.reply.send(answer);
            }
        }
    }
}

async fn keyed<A: Default>(
    pool: &PgPool,
    jobs: &[KeyedJob<A>],
    sql: &'static str,
    collect: impl Fn(&PgRow, &mut A) -> StoreResult<()>,
) -> Result<HashMap<String, A>, Failure> {
    let keys: HashSet<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    let rows = sqlx::query(sql).bind(&keys).fetch_all(pool).await?;
    let mut found: HashMap<String, A> = HashMap::with_capacity(keys.len());
    for row in rows {
        let key: String = row.try_get("batch_key")?;
        collect(&row, found.entry(key).or_default())?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`Multi::insert`] relies on: each batched insert lists its placeholders in order,
    /// one per bound value.
    #[test]
    fn the_batched_inserts_bind_their_values_in_order() {
        let request = crate::store::tests::request(1, "h1");
        let push = NewWakeup {
            device_id: "d".into(),
            provider: crate::store::PushProvider::Fcm,
            deadline: 400,
        };
        let audit = NewAuditEvent {
            at: 100,
            kind: "ciba_request",
            user_id: None,
            client_id: None,
            device_id: None,
            request_id: None,
            detail: serde_json::json!({}),
        };
        for (insert, n) in [
            (REQUEST_INSERT, values::request_insert(&request).len()),
            (PUSH_INSERT, values::push_insert(&request, &push).len()),
            (AUDIT_INSERT, values::audit_insert(&audit).len()),
        ] {
            let (_, placeholders) = insert.split_once(" VALUES ").unwrap();
            let expected: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
            assert_eq!(
                placeholders.trim(),
                format!("({})", expected.join(", ")),
                "{insert}"
            );
        }
    }
}
