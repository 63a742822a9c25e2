//! SQLite group commit: the hot writes (new backchannel requests, pending-poll bookkeeping,
//! redemptions, replay-cache `jti`s and decisions) go to one thread that owns a write connection and commits everything queued meanwhile in one
//! transaction.
//!
//! Why: SQLite has one writer. Through a pool, concurrent transactions take turns on the write
//! lock with sleeps in SQLite's busy handler, and every statement is a hand-off between tokio and
//! a connection thread. Here a batch of N requests costs one `BEGIN IMMEDIATE`, N executions of
//! cached prepared statements on the writer's own thread, and one `COMMIT` — which is also when
//! every caller in the batch gets its answer, so nothing is acknowledged before it is durable.
//!
//! A job that fails (a conflict, a constraint) fails alone: the batch is rolled back and run
//! again with a savepoint per job, so the others commit. If the transaction itself is lost (an
//! I/O error), every job of the batch gets the error. Statements and their bound values are the
//! pool path's (`store/sql`), so a request commits the same row whichever way it goes.
//!
//! The writes that still go through sqlx's pool take a [`WriteTurn`] first — a FIFO lock the
//! writer also takes for each batch — so they never sleep in SQLite's busy handler waiting for a
//! writer that is always busy. A checkpointer thread keeps the WAL short (see [`checkpoint`]).
//! Single-use writes — redemptions, replay-cache `jti`s and decisions (with their notification
//! and audit trail) — are jobs too: a batch that holds one
//! is committed with `synchronous = FULL` (synced to disk before anyone is answered, so it
//! survives an OS crash or a power loss, and with it every commit before it), one sync per batch
//! however many it holds. Batches of new requests and poll bookkeeping only are committed with
//! `synchronous = NORMAL` (safe against a process crash; a power loss may forget the last ones,
//! which can issue nothing twice). The pool's connections, which do the rarer single-use writes
//! (code consumptions, push-mode redemptions) and the outboxes' bookkeeping, commit with `FULL`
//! always.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::direct::{bind, connect, execute_values};
use crate::store::sql::{
    AUDIT_INSERT, COUNT_PENDING_OF_USER, DECIDE, POLL_PENDING, PUSH_INSERT, REDEEM, REMEMBER_JTI,
    REQUEST_INSERT, Value, amr_json, decide_values, decision_writes, poll_outcome, poll_values,
    redeem_values, remember_values, values,
};
use crate::store::{
    CibaRequest, Decision, InsertOutcome, NewAuditEvent, NewWakeup, PollOutcome, StoreError,
    StoreResult,
};

/// The most jobs committed together (bounds the latency a batch adds to its first job).
const MAX_BATCH: usize = 512;
/// The writer's page cache, in KiB (negative: SQLite's unit for a size rather than pages). Its
/// own commits keep it; only the pool's rarer writes and the checkpointer's rewinds empty it.
/// 8 MiB: the hot pages (index roots, the ends of time-ordered keys) fit. At every commit
/// SQLite truncates the cache to the database's size, which with 64 MiB scanned the cache's
/// whole hash table (`pcache1TruncateUnsafe`, 7–9 % of the server's CPU in a backchannel
/// profile); 8 MiB measured the same throughput at 16 and 256 clients, and within noise with a
/// million pending requests (backchannel 6 258 against 6 580/s, polls 19 639 against 21 373/s,
/// one run each), with half the heap.
const WRITER_CACHE_KIB: i64 = -8 * 1024;
/// How often the checkpointer copies the WAL into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages past which the checkpointer rewinds the WAL (16 MiB of 4 KiB pages).
const RESTART_PAGES: i64 = 4096;
/// Bytes of WAL file kept after a rewind (the rest is truncated).
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;
/// WAL pages past which a committing connection checkpoints itself (a backstop should the
/// checkpointer fall behind; SQLite's default is 1 000, which puts an `fsync` in the writer's
/// path every few hundred requests).
pub(super) const AUTOCHECKPOINT_PAGES: i64 = 50_000;
/// Yields before the writer sleeps on an empty queue.
const SPIN_YIELDS: usize = 32;
/// Jobs waiting for the writer before callers wait to enqueue (back-pressure).
const QUEUE: usize = 8192;

/// The writer thread and the queue to it.
#[derive(Debug)]
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
    /// Taken by `close`.
    threads: Mutex<Option<Threads>>,
    /// Turns at SQLite's write lock, shared by the writer (one per batch) and the writes that
    /// go through the pool; fair (FIFO), so neither side starves the other.
    gate: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug)]
struct Threads {
    writer: JoinHandle<()>,
    /// Dropping the sender stops the checkpointer (so does dropping the store).
    checkpointer: (std::sync::mpsc::Sender<()>, JoinHandle<()>),
}

/// The right to write through the pool, until dropped.
pub type WriteTurn<'a> = tokio::sync::MutexGuard<'a, ()>;

#[derive(Debug)]
enum Job {
    InsertRequest {
        request: Box<CibaRequest>,
        pushes: Vec<NewWakeup>,
        audit: Vec<NewAuditEvent>,
        max_pending: Option<u32>,
        reply: oneshot::Sender<StoreResult<InsertOutcome>>,
    },
    PollPending {
        hash: String,
        client_id: String,
        now: i64,
        step: i64,
        reply: oneshot::Sender<StoreResult<Option<PollOutcome>>>,
    },
    /// A single-use write (a redemption, a `jti`, a decision): its batch is committed with a
    /// sync.
    Once {
        write: OnceWrite,
        reply: oneshot::Sender<StoreResult<bool>>,
    },
    /// Refuse new jobs, finish the queued ones, stop.
    Close,
}

/// The single-use writes the writer takes: each changes one row or none (a decision that wins
/// also inserts its notification and audit events, in the same job: a failure of any of them
/// fails the batch's first pass, and the replay's savepoint undoes the whole job).
#[derive(Debug)]
enum OnceWrite {
    Decide {
        id: String,
        decision: Box<Decision>,
        amr: String,
        now: i64,
    },
    Redeem {
        id: String,
        now: i64,
    },
    RememberJti {
        key: String,
        expires_at: i64,
        now: i64,
    },
}

fn stopped() -> StoreError {
    StoreError::Database("the SQLite writer has stopped".into())
}

impl GroupCommit {
    /// Opens a write connection to the (already migrated) database file and starts the writer.
    pub fn start(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let conn = connect(path, false, busy_timeout)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        // A large cache: only the pool's rarer writes invalidate it between batches.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", AUTOCHECKPOINT_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        let (jobs, queue) = mpsc::channel(QUEUE);
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let writer_gate = gate.clone();
        let writer = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue, &writer_gate))
            .map_err(|e| StoreError::Database(format!("cannot start the SQLite writer: {e}")))?;
        let (checkpointer, stop) = std::sync::mpsc::channel();
        let checkpoint_gate = gate.clone();
        let checkpoints = connect(path, false, busy_timeout)?;
        let checkpoint_thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint(&checkpoints, &checkpoint_gate, &stop))
            .map_err(|e| {
                StoreError::Database(format!("cannot start the SQLite checkpointer: {e}"))
            })?;
        Ok(Self {
            jobs,
            threads: Mutex::new(Some(Threads {
                writer,
                checkpointer: (checkpointer, checkpoint_thread),
            })),
            gate,
        })
    }

    /// Waits for a turn to write through the pool.
    pub async fn turn(&self) -> WriteTurn<'_> {
        self.gate.lock().await
    }

    async fn submit<T>(
        &self,
        job: impl FnOnce(oneshot::Sender<StoreResult<T>>) -> Job,
    ) -> StoreResult<T> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(job(reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// [`Store::insert_request`](crate::store::Store::insert_request), group-committed.
    pub async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome> {
        self.submit(|reply| Job::InsertRequest {
            request: Box::new(request.clone()),
            pushes: pushes.to_vec(),
            audit: audit.to_vec(),
            max_pending,
            reply,
        })
        .await
    }

    /// [`Store::decide`](crate::store::Store::decide), group-committed and synced: the decision,
    /// its notification and its audit trail in one job.
    pub async fn decide(&self, id: &str, decision: &Decision, now: i64) -> StoreResult<bool> {
        let write = OnceWrite::Decide {
            id: id.to_owned(),
            amr: amr_json(decision)?,
            decision: Box::new(decision.clone()),
            now,
        };
        self.submit(|reply| Job::Once { write, reply }).await
    }

    /// [`Store::redeem`](crate::store::Store::redeem), group-committed and synced.
    pub async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        let write = OnceWrite::Redeem {
            id: id.to_owned(),
            now,
        };
        self.submit(|reply| Job::Once { write, reply }).await
    }

    /// [`Store::remember_jti`](crate::store::Store::remember_jti), group-committed and synced.
    pub async fn remember_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        let write = OnceWrite::RememberJti {
            key: key.to_owned(),
            expires_at,
            now,
        };
        self.submit(|reply| Job::Once { write, reply }).await
    }

    /// [`Store::poll_pending`](crate::store::Store::poll_pending), group-committed.
    pub async fn poll_pending(
        &self,
        hash: &str,
        client_id: &str,
        now: i64,
        step: i64,
    ) -> StoreResult<Option<PollOutcome>> {
        self.submit(|reply| Job::PollPending {
            hash: hash.to_owned(),
            client_id: client_id.to_owned(),
            now,
            step,
            reply,
        })
        .await
    }

    /// Stops taking jobs, lets the writer commit what is queued, stops the checkpointer, and
    /// waits for both to end (their connections close with them).
    pub async fn close(&self) {
        let threads = match self.threads.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Some(Threads {
            writer,
            checkpointer: (stop, checkpointer),
        }) = threads
        else {
            return;
        };
        drop(stop);
        let writer_ends = self.jobs.send(Job::Close).await.is_ok();
        let _ = tokio::task::spawn_blocking(move || {
            let _ = checkpointer.join();
            if writer_ends {
                let _ = writer.join();
            }
        })
        .await;
    }
}

/// Copies committed WAL frames into the database file in the background (PASSIVE: it never
/// blocks the writer or readers), so the writer's commits are appends only and never wait for a
/// checkpoint's `fsync`. Under sustained writes a passive checkpoint never catches up with the
/// end of the WAL, and SQLite only rewinds a WAL that is wholly copied: past
/// [`RESTART_PAGES`] the checkpointer takes a write turn (so the writer is between batches) and
/// finishes with a RESTART checkpoint, which lets the next commit start the WAL over. Stops when
/// the store is closed or dropped.
fn checkpoint(
    conn: &Connection,
    gate: &tokio::sync::Mutex<()>,
    stop: &std::sync::mpsc::Receiver<()>,
) {
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
        if let Err(e) = checkpoint_once(conn, gate, RESTART_PAGES) {
            tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
        }
    }
}

/// One round of the checkpointer; returns the pages left in the WAL.
fn checkpoint_once(
    conn: &Connection,
    gate: &tokio::sync::Mutex<()>,
    restart_pages: i64,
) -> rusqlite::Result<i64> {
    // The second column of `wal_checkpoint` is the WAL's size in pages.
    let run = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
    };
    let pages = run("PASSIVE")?;
    if pages < restart_pages {
        return Ok(pages);
    }
    let _turn = gate.blocking_lock();
    run("RESTART")
}

fn run(mut conn: Connection, mut queue: mpsc::Receiver<Job>, gate: &tokio::sync::Mutex<()>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // Ends when every sender is gone (the store was dropped) or after `Job::Close` once the
    // jobs queued before it are committed.
    loop {
        // A job usually arrives within microseconds of a commit under load: yield a few times
        // before sleeping, since a sleeping writer waits for the scheduler to wake it.
        let mut first = None;
        for _ in 0..SPIN_YIELDS {
            if let Ok(job) = queue.try_recv() {
                first = Some(job);
                break;
            }
            std::thread::yield_now();
        }
        let job = match first {
            Some(job) => job,
            None => match queue.blocking_recv() {
                Some(job) => job,
                None => break,
            },
        };
        batch.push(job);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if batch.iter().any(|job| matches!(job, Job::Close)) {
            queue.close();
        }
        let turn = gate.blocking_lock();
        commit(&mut conn, &mut batch);
        drop(turn);
    }
}

/// What a job produced, sent to its caller once the batch commits.
enum Outcome {
    Unit,
    Insert(InsertOutcome),
    Poll(Option<PollOutcome>),
    Changed(bool),
}

impl Job {
    /// Sends the job's answer.
    fn answer(self, result: StoreResult<Outcome>) {
        match (self, result) {
            (Job::InsertRequest { reply, .. }, Ok(Outcome::Insert(outcome))) => {
                let _ = reply.send(Ok(outcome));
            }
            (Job::InsertRequest { reply, .. }, Ok(_)) => {
                let _ = reply.send(Err(StoreError::Database(
                    "an insert job ended without an insert outcome".into(),
                )));
            }
            (Job::InsertRequest { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e));
            }
            (Job::PollPending { reply, .. }, Ok(Outcome::Poll(outcome))) => {
                let _ = reply.send(Ok(outcome));
            }
            (Job::Once { reply, .. }, Ok(Outcome::Changed(changed))) => {
                let _ = reply.send(Ok(changed));
            }
            (Job::Once { reply, .. }, Ok(_)) => {
                let _ = reply.send(Err(StoreError::Database(
                    "a single-use write ended without its outcome".into(),
                )));
            }
            (Job::Once { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e));
            }
            (Job::PollPending { reply, .. }, Ok(_)) => {
                let _ = reply.send(Err(StoreError::Database(
                    "a poll job ended without a poll outcome".into(),
                )));
            }
            (Job::PollPending { reply, .. }, Err(e)) => {
                let _ = reply.send(Err(e));
            }
            (Job::Close, _) => {}
        }
    }
}

/// Runs the jobs of `batch` in one transaction and answers them after COMMIT.
///
/// First without savepoints (they make SQLite copy every page a job touches into a
/// sub-journal): if every job succeeds, as is normal, that is the whole cost. If one fails, the
/// batch is rolled back and run again with a savepoint per job, so only the failing jobs fail.
fn commit(conn: &mut Connection, batch: &mut Vec<Job>) {
    let jobs: Vec<Job> = std::mem::take(batch);
    // A batch with a single-use write is synced to disk before anyone is answered; the others
    // (new requests, poll bookkeeping) need not pay for it.
    let synced = jobs.iter().any(|job| matches!(job, Job::Once { .. }));
    if synced && let Err(e) = conn.execute_batch("PRAGMA synchronous = FULL") {
        let error = StoreError::from(e);
        for job in jobs {
            job.answer(Err(StoreError::Database(error.to_string())));
        }
        return;
    }
    let mut results = match run_all(conn, &jobs) {
        Ok(results) => results,
        Err(()) => run_each(conn, &jobs),
    };
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("COMMIT")
    {
        let error = StoreError::from(e);
        let _ = conn.execute_batch("ROLLBACK");
        for result in &mut results {
            if result.is_ok() {
                *result = Err(StoreError::Database(error.to_string()));
            }
        }
    }
    if synced && let Err(e) = conn.execute_batch("PRAGMA synchronous = NORMAL") {
        tracing::warn!(error = %e, "the SQLite writer stays on synchronous = FULL");
    }
    for (job, result) in jobs.into_iter().zip(results) {
        job.answer(result);
    }
}

/// The fast path: every job in one transaction, no savepoints. `Err` (after rolling back) as
/// soon as one job fails.
fn run_all(conn: &Connection, jobs: &[Job]) -> Result<Vec<StoreResult<Outcome>>, ()> {
    if conn.execute_batch("BEGIN IMMEDIATE").is_err() {
        return Err(());
    }
    let mut results = Vec::with_capacity(jobs.len());
    for job in jobs {
        match execute(conn, job) {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(_) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                return Err(());
            }
        }
    }
    Ok(results)
}

/// The careful path: each job in its own savepoint.
fn run_each(conn: &Connection, jobs: &[Job]) -> Vec<StoreResult<Outcome>> {
    let mut results: Vec<StoreResult<Outcome>> = Vec::with_capacity(jobs.len());
    let mut open_from: Option<usize> = None;
    for (i, job) in jobs.iter().enumerate() {
        if open_from.is_none() {
            if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                results.push(Err(StoreError::from(e)));
                continue;
            }
            open_from = Some(i);
        }
        results.push(in_savepoint(conn, |c| execute(c, job)));
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full): the jobs run so
            // far in it are lost, and say so; the rest start a new transaction.
            for result in results.iter_mut().skip(open_from.unwrap_or(i)) {
                if result.is_ok() {
                    *result = Err(StoreError::Database(
                        "the transaction was rolled back".into(),
                    ));
                }
            }
            open_from = None;
        }
    }
    results
}

fn execute(conn: &Connection, job: &Job) -> StoreResult<Outcome> {
    match job {
        Job::InsertRequest {
            request,
            pushes,
            audit,
            max_pending,
            ..
        } => insert_request(conn, request, pushes, audit, *max_pending).map(Outcome::Insert),
        Job::PollPending {
            hash,
            client_id,
            now,
            step,
            ..
        } => poll_pending(conn, hash, client_id, *now, *step).map(Outcome::Poll),
        Job::Once { write, .. } => {
            let changed = match write {
                OnceWrite::Decide {
                    id,
                    decision,
                    amr,
                    now,
                } => {
                    let changed =
                        execute_values(conn, DECIDE, &decide_values(id, decision, amr, *now))?;
                    // The notification and the audit trail commit with the decision.
                    if changed == 1 {
                        for query in decision_writes(id, decision, *now) {
                            execute_values(conn, &query.sql, &query.values)?;
                        }
                    }
                    changed
                }
                OnceWrite::Redeem { id, now } => {
                    execute_values(conn, REDEEM, &redeem_values(id, *now))?
                }
                OnceWrite::RememberJti {
                    key,
                    expires_at,
                    now,
                } => execute_values(conn, REMEMBER_JTI, &remember_values(key, *expires_at, *now))?,
            };
            Ok(Outcome::Changed(changed == 1))
        }
        Job::Close => Ok(Outcome::Unit),
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.prepare_cached("SAVEPOINT job")
        .and_then(|mut s| s.execute([]))?;
    match work(conn) {
        Ok(value) => {
            conn.prepare_cached("RELEASE job")
                .and_then(|mut s| s.execute([]))?;
            Ok(value)
        }
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn
                    .prepare_cached("ROLLBACK TO job")
                    .and_then(|mut s| s.execute([]));
                let _ = conn
                    .prepare_cached("RELEASE job")
                    .and_then(|mut s| s.execute([]));
            }
            Err(e)
        }
    }
}

fn insert_request(
    conn: &Connection,
    r: &CibaRequest,
    pushes: &[NewWakeup],
    audit: &[NewAuditEvent],
    max_pending: Option<u32>,
) -> StoreResult<InsertOutcome> {
    // In the writer's transaction: the count sees the requests of earlier jobs of this batch.
    if let Some(limit) = max_pending {
        let mut statement = conn.prepare_cached(COUNT_PENDING_OF_USER)?;
        bind(
            &mut statement,
            &[Value::from(&r.user_id), Value::from(r.created_at)],
        )?;
        let mut rows = statement.raw_query();
        let pending: i64 = match rows.next()? {
            Some(row) => row.get(0)?,
            None => 0,
        };
        if pending >= i64::from(limit) {
            return Ok(InsertOutcome::UserAtLimit);
        }
    }
    execute_values(conn, REQUEST_INSERT, &values::request_insert(r))?;
    for p in pushes {
        execute_values(conn, PUSH_INSERT, &values::push_insert(r, p))?;
    }
    for e in audit {
        execute_values(conn, AUDIT_INSERT, &values::audit_insert(e))?;
    }
    Ok(InsertOutcome::Inserted)
}

fn poll_pending(
    conn: &Connection,
    hash: &str,
    client_id: &str,
    now: i64,
    step: i64,
) -> StoreResult<Option<PollOutcome>> {
    let mut statement = conn.prepare_cached(POLL_PENDING)?;
    bind(&mut statement, &poll_values(hash, client_id, now, step))?;
    let mut rows = statement.raw_query();
    let slowed: Option<bool> = match rows.next()? {
        Some(row) => Some(row.get(0)?),
        None => None,
    };
    // Step the statement to its end so the UPDATE completes before the next job.
    while rows.next()?.is_some() {}
    Ok(slowed.map(poll_outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{SqliteStore, Store};

    /// A request with a long binding message, so each write fills pages.
    fn request(n: usize) -> CibaRequest {
        CibaRequest {
            binding_message: Some("x".repeat(200)),
            ..crate::store::tests::request(n, &format!("h{n}"))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checkpoints_take_turns_with_the_writer_and_rewind_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        // Migrated by the store; its own writer is not used here.
        let store = SqliteStore::open(&url, 1).await.unwrap();
        let path = dir.path().join("t.db");
        let writer = Arc::new(GroupCommit::start(&path, Duration::from_secs(5)).unwrap());
        let checkpoints = Connection::open(&path).unwrap();
        checkpoints.busy_timeout(Duration::from_secs(5)).unwrap();
        let gate = writer.gate.clone();

        // RESTART rounds (a limit of 0 forces them) while writes keep coming: both sides take
        // turns, nothing deadlocks, every write lands.
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..300 {
            let writer = writer.clone();
            writes.spawn(async move { writer.insert_request(&request(n), &[], &[], None).await });
        }
        let rounds = tokio::task::spawn_blocking(move || {
            let pages: Vec<i64> = (0..20)
                .map(|_| checkpoint_once(&checkpoints, &gate, 0).unwrap())
                .collect();
            (pages, checkpoints, gate)
        });
        while let Some(write) = writes.join_next().await {
            write.unwrap().unwrap();
        }
        let (_, checkpoints, gate) = rounds.await.unwrap();
        for n in [0, 150, 299] {
            assert!(
                store.request(&format!("txn_{n}")).await.unwrap().is_some(),
                "{n}"
            );
        }

        // A quiet WAL: a passive round below the limit leaves the frames counted; past it the
        // WAL is copied whole, and the next commit starts it over.
        let checkpoints = Arc::new(Mutex::new(checkpoints));
        let round = |limit: i64| {
            let (checkpoints, gate) = (checkpoints.clone(), gate.clone());
            tokio::task::spawn_blocking(move || {
                let conn = checkpoints.lock().unwrap();
                checkpoint_once(&conn, &gate, limit).unwrap()
            })
        };
        let before = round(i64::MAX).await.unwrap();
        writer
            .insert_request(&request(1000), &[], &[], None)
            .await
            .unwrap();
        let after = round(i64::MAX).await.unwrap();
        assert!(
            after < 10,
            "the WAL was not rewound: {after} pages (was {before})"
        );
        writer.close().await;
        store.close().await;
    }
}
