//! The embedded default: SQLite in WAL mode, one file on disk.
//!
//! SQLite has one writer, so the hot path skips sqlx's pool when the database is a file: new
//! requests, pending polls, redemptions, `jti`s and decisions are group-committed by one writer
//! thread ([`group_commit`]), and the point reads of the backchannel and of redeeming token
//! requests run inline on the calling thread ([`read`]). Writes that still
//! go through the pool take a turn with that writer first. An in-memory database (which another
//! connection cannot open) has no hot path and runs everything through the pool.

mod direct;
mod group_commit;
mod read;

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite};

use self::direct::{MMAP_SIZE, READER_CACHE_KIB};
use self::group_commit::{AUTOCHECKPOINT_PAGES, GroupCommit, WriteTurn};
use self::read::Readers;
use super::sql::{Engine, Exec, Query, SqlStore, Transaction, Value, Writes, pooled};
use super::*;

/// Migrations, embedded in the binary.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../../migrations/sqlite/0002_notifications.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../../migrations/sqlite/0003_push.sql"),
    ),
    (
        4,
        "poll_fast_path",
        include_str!("../../../migrations/sqlite/0004_poll_fast_path.sql"),
    ),
    (
        5,
        "user_identifiers",
        include_str!("../../../migrations/sqlite/0005_user_identifiers.sql"),
    ),
    (
        6,
        "device_attestation",
        include_str!("../../../migrations/sqlite/0006_device_attestation.sql"),
    ),
    (
        7,
        "approval_key",
        include_str!("../../../migrations/sqlite/0007_approval_key.sql"),
    ),
    (
        8,
        "fapi_clients",
        include_str!("../../../migrations/sqlite/0008_fapi_clients.sql"),
    ),
    (
        9,
        "token_lifecycle",
        include_str!("../../../migrations/sqlite/0009_token_lifecycle.sql"),
    ),
    (
        10,
        "user_codes",
        include_str!("../../../migrations/sqlite/0010_user_codes.sql"),
    ),
    (
        11,
        "dynamic_registration",
        include_str!("../../../migrations/sqlite/0011_dynamic_registration.sql"),
    ),
    (
        12,
        "listing_indexes",
        include_str!("../../../migrations/sqlite/0012_listing_indexes.sql"),
    ),
    (
        13,
        "console",
        include_str!("../../../migrations/sqlite/0013_console.sql"),
    ),
];

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite implementation of [`Store`]: new requests, pending polls, redemptions, `jti`s and
/// decisions through the group-commit writer, the hot path's point reads inline, everything else
/// through sqlx's pool.
pub type SqliteStore = SqlStore<SqliteEngine>;

/// The SQLite engine: sqlx's pool, and the hot path's own connections.
#[derive(Debug, Clone)]
pub struct SqliteEngine {
    pool: SqlitePool,
    /// Absent for an in-memory database, which another connection cannot open.
    hot: Option<Arc<HotPath>>,
    /// Without a hot path (an in-memory database, one connection), writes take turns here too,
    /// so that a write session never waits for the pool's only connection while holding it.
    memory_turns: Arc<tokio::sync::Mutex<()>>,
}

/// The group-commit writer and the inline readers (both or neither).
#[derive(Debug)]
struct HotPath {
    writer: GroupCommit,
    readers: Readers,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and runs the migrations.
    pub async fn open(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Single-use guarantees (redemptions, codes, jtis) must survive an OS crash or power
            // loss once acknowledged: every commit is synced (group commit pays for it).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("mmap_size", MMAP_SIZE.to_string())
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string());
        if let Some(parent) = Path::new(options.get_filename()).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Database(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let path = options.get_filename().to_path_buf();
        let path = path.as_path();
        let on_disk = !in_memory(url) && !path.as_os_str().is_empty();
        if on_disk {
            create_private_file(path)?;
        }
        // A file's pool gets the readers' small page cache; an in-memory database's cache is
        // the database.
        let options = if on_disk {
            options.pragma("cache_size", READER_CACHE_KIB.to_string())
        } else {
            options
        };
        // Connections sharing an in-memory database fail at once on each other's locks (no busy
        // wait), so an in-memory database gets one connection: everything takes turns.
        let connections = if on_disk { max_connections.max(1) } else { 1 };
        let pool = SqlitePoolOptions::new()
            .max_connections(connections)
            .connect_with(options.clone())
            .await?;
        let mut engine = SqliteEngine {
            pool,
            hot: None,
            memory_turns: Arc::new(tokio::sync::Mutex::new(())),
        };
        engine.migrate().await?;
        if on_disk {
            engine.hot = Some(Arc::new(HotPath {
                writer: GroupCommit::start(path, BUSY_TIMEOUT)?,
                readers: Readers::new(path, BUSY_TIMEOUT),
            }));
        }
        Ok(SqlStore::new(engine))
    }
}

/// Whether `url` names an in-memory database (`sqlite::memory:`, or `mode=memory`). sqlx gives
/// such a database a `file:` name of its own, which names no file another connection could
/// open: the URL is what says it.
fn in_memory(url: &str) -> bool {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|p| p == "mode=memory")
}

/// The database holds the token signing keys: create it readable by its owner only (SQLite
/// gives the `-wal` and `-shm` files the same mode).
fn create_private_file(path: &Path) -> StoreResult<()> {
    if path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Database(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

impl Engine for SqliteEngine {
    type Row = SqliteRow;
    type Pool<'a> = &'a SqlitePool;
    type Writes<'a> = SqliteWrites<'a>;

    /// One writer: nobody else can be claiming the rows.
    const CLAIM_LOCK: &'static str = "";
    const USER_LOCK: Option<&'static str> = None;
    const ROW_LOCK: &'static str = "";

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Writes through the pool wait for their turn with the writer (first come, first served)
    /// instead of polling SQLite's lock in its busy handler.
    async fn writes(&self) -> SqliteWrites<'_> {
        let turn = match &self.hot {
            Some(hot) => hot.writer.turn().await,
            None => self.memory_turns.lock().await,
        };
        SqliteWrites {
            pool: &self.pool,
            _turn: Some(turn),
        }
    }

    async fn migrate(&self) -> StoreResult<()> {
        super::migrator(MIGRATIONS)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Database(format!("migration: {e}")))
    }

    /// The hot path's connections first: the writer commits what is queued through them.
    async fn close(&self) {
        if let Some(hot) = &self.hot {
            hot.writer.close().await;
            hot.readers.close();
        }
        self.pool.close().await;
    }

    async fn decide(&self, id: &str, decision: &Decision, now: i64) -> StoreResult<bool> {
        match &self.hot {
            Some(hot) => hot.writer.decide(id, decision, now).await,
            None => pooled::decide(self, id, decision, now).await,
        }
    }

    async fn redeem(&self, id: &str, now: i64) -> StoreResult<bool> {
        match &self.hot {
            Some(hot) => hot.writer.redeem(id, now).await,
            None => pooled::redeem(self, id, now).await,
        }
    }

    async fn remember_jti(&self, key: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        match &self.hot {
            Some(hot) => hot.writer.remember_jti(key, expires_at, now).await,
            None => pooled::remember_jti(self, key, expires_at, now).await,
        }
    }

    async fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> StoreResult<InsertOutcome> {
        match &self.hot {
            Some(hot) => {
                hot.writer
                    .insert_request(request, pushes, audit, max_pending)
                    .await
            }
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
        match &self.hot {
            Some(hot) => {
                hot.writer
                    .poll_pending(auth_req_id_hash, client_id, now, slow_down_step)
                    .await
            }
            None => {
                pooled::poll_pending(self, auth_req_id_hash, client_id, now, slow_down_step).await
            }
        }
    }

    async fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        match &self.hot {
            Some(hot) => hot.readers.user_by_login_hint(hint),
            None => pooled::user_by_login_hint(self, hint).await,
        }
    }

    async fn request_by_auth_req_id(&self, hash: &str) -> StoreResult<Option<CibaRequest>> {
        match &self.hot {
            Some(hot) => hot.readers.request_by_auth_req_id(hash),
            None => pooled::request_by_auth_req_id(self, hash).await,
        }
    }

    async fn user(&self, id: &str) -> StoreResult<Option<User>> {
        match &self.hot {
            Some(hot) => hot.readers.user(id),
            None => pooled::user(self, id).await,
        }
    }

    async fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        match &self.hot {
            Some(hot) => hot.readers.user_by_subject(subject),
            None => pooled::user_by_subject(self, subject).await,
        }
    }

    async fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        match &self.hot {
            Some(hot) => hot.readers.devices_of_user(user_id),
            None => pooled::devices_of_user(self, user_id).await,
        }
    }
}

/// A write through the pool, holding its turn with the group-commit writer (when there is one).
#[derive(Debug)]
pub struct SqliteWrites<'a> {
    pool: &'a SqlitePool,
    _turn: Option<WriteTurn<'a>>,
}

/// The statement with its values (sqlx copies them as they are bound).
fn bind(query: Query<'_>) -> sqlx::query::Query<'static, Sqlite, SqliteArguments> {
    let mut bound = match query.sql {
        Cow::Borrowed(sql) => sqlx::query(sql),
        Cow::Owned(sql) => sqlx::query(AssertSqlSafe(sql)),
    };
    for value in query.values {
        bound = match value {
            Value::Text(v) => bound.bind(v),
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

impl Exec for &SqlitePool {
    type Row = SqliteRow;

    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64> {
        Ok(bind(query).execute(*self).await?.rows_affected())
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<SqliteRow>> {
        Ok(bind(query).fetch_optional(*self).await?)
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<SqliteRow>> {
        Ok(bind(query).fetch_all(*self).await?)
    }
}

impl Exec for SqliteWrites<'_> {
    type Row = SqliteRow;

    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64> {
        Exec::execute(&mut self.pool, query).await
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<SqliteRow>> {
        Exec::fetch_optional(&mut self.pool, query).await
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<SqliteRow>> {
        Exec::fetch_all(&mut self.pool, query).await
    }
}

impl Writes for SqliteWrites<'_> {
    type Tx = sqlx::Transaction<'static, Sqlite>;

    async fn begin(&mut self) -> StoreResult<Self::Tx> {
        // IMMEDIATE: the write lock is taken at BEGIN, waiting out the busy timeout. A deferred
        // transaction that reads first and writes later fails at once with "database is locked"
        // when another connection (the group-commit writer) committed in between, since its
        // snapshot cannot become a writer; under a loaded test run that happened.
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl Exec for sqlx::Transaction<'static, Sqlite> {
    type Row = SqliteRow;

    async fn execute(&mut self, query: Query<'_>) -> StoreResult<u64> {
        Ok(bind(query).execute(&mut **self).await?.rows_affected())
    }

    async fn fetch_optional(&mut self, query: Query<'_>) -> StoreResult<Option<SqliteRow>> {
        Ok(bind(query).fetch_optional(&mut **self).await?)
    }

    async fn fetch_all(&mut self, query: Query<'_>) -> StoreResult<Vec<SqliteRow>> {
        Ok(bind(query).fetch_all(&mut **self).await?)
    }
}

impl Transaction for sqlx::Transaction<'static, Sqlite> {
    async fn commit(self) -> StoreResult<()> {
        Ok(sqlx::Transaction::commit(self).await?)
    }
}

#[cfg(test)]
mod tests {

    #[tokio::test]
    async fn every_commit_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&url, 2).await.unwrap();
        // 2 = FULL: acknowledged single-use writes survive an OS crash or a power loss.
        let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&store.engine.pool)
            .await
            .unwrap();
        assert_eq!(level, 2);
    }
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        (dir, SqliteStore::open(&url, 4).await.unwrap())
    }

    #[test]
    fn in_memory_databases_are_told_by_their_url() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite:shared?mode=memory&cache=shared",
        ] {
            assert!(in_memory(url), "{url}");
        }
        for url in ["sqlite://data/ciba.db", "sqlite:ciba.db?mode=rwc"] {
            assert!(!in_memory(url), "{url}");
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn database_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, s) = store().await;
        s.ping().await.unwrap();
        for name in ["t.db", "t.db-wal", "t.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{name} is {mode:o}");
        }
    }
}
