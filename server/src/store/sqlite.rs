//! The embedded default: SQLite in WAL mode, one file on disk.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::group_commit::{AUTOCHECKPOINT_PAGES, GroupCommit, WriteTurn};
use super::sqlite_read::{MMAP_SIZE, Readers};
use super::*;

/// Migrations, embedded in the binary.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../migrations/sqlite/0002_notifications.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../migrations/sqlite/0003_push.sql"),
    ),
    (
        4,
        "poll_fast_path",
        include_str!("../../migrations/sqlite/0004_poll_fast_path.sql"),
    ),
];

/// How long a connection waits for another one's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite implementation of [`Store`]: new requests and pending polls through the group-commit
/// writer, the backchannel's point reads inline, everything else through sqlx's pool.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The hot path's own connections (absent for an in-memory database, which another
    /// connection cannot open).
    direct: Option<Arc<Direct>>,
}

/// The hot path: the group-commit writer and the inline readers.
#[derive(Debug)]
struct Direct {
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
            .synchronous(SqliteSynchronous::Normal)
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
        create_private_file(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.clone())
            .await?;
        let mut store = Self { pool, direct: None };
        store.migrate().await?;
        let path = options.get_filename();
        if on_disk(path) {
            store.direct = Some(Arc::new(Direct {
                writer: GroupCommit::start(path, BUSY_TIMEOUT)?,
                readers: Readers::new(path, BUSY_TIMEOUT),
            }));
        }
        Ok(store)
    }

    fn readers(&self) -> Option<&Readers> {
        self.direct.as_deref().map(|d| &d.readers)
    }

    fn group_commit(&self) -> Option<&GroupCommit> {
        self.direct.as_deref().map(|d| &d.writer)
    }

    /// Writes through the pool wait for their turn with the writer (first come, first served)
    /// instead of polling SQLite's lock in its busy handler.
    async fn write_turn(&self) -> Option<WriteTurn<'_>> {
        match self.group_commit() {
            Some(writer) => Some(writer.turn().await),
            None => None,
        }
    }

    /// Closes the hot path's connections (before the pool's).
    async fn close_direct(&self) {
        if let Some(direct) = &self.direct {
            direct.writer.close().await;
            direct.readers.close();
        }
    }
}

/// Whether `path` names a file (not an in-memory database).
fn on_disk(path: &Path) -> bool {
    !path.as_os_str().is_empty() && path.to_str() != Some(":memory:")
}

/// The database holds the token signing keys: create it readable by its owner only (SQLite
/// gives the `-wal` and `-shm` files the same mode).
fn create_private_file(path: &Path) -> StoreResult<()> {
    if !on_disk(path) || path.exists() {
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

super::sql::sql_store!(SqliteStore, SqliteRow, "");

#[cfg(test)]
mod tests {
    use super::super::tests::request;
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        (dir, SqliteStore::open(&url, 4).await.unwrap())
    }

    #[tokio::test]
    async fn jti_is_remembered_until_it_expires() {
        let (_d, s) = store().await;
        assert!(s.remember_jti("k", 100, 0).await.unwrap());
        assert!(!s.remember_jti("k", 150, 50).await.unwrap());
        assert!(
            s.remember_jti("k", 300, 100).await.unwrap(),
            "expired entries are taken over"
        );
        assert_eq!(s.sweep(400, 0).await.unwrap().jtis, 1);
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

    fn audit(n: usize) -> NewAuditEvent {
        NewAuditEvent {
            at: 100,
            kind: "ciba_request",
            user_id: Some("u".into()),
            client_id: Some("c".into()),
            device_id: None,
            request_id: Some(format!("txn_{n}")),
            detail: serde_json::json!({"n": n}),
        }
    }

    #[tokio::test]
    async fn a_failing_write_fails_alone_in_its_group_commit() {
        let (_d, s) = store().await;
        s.insert_request(&request(0, "taken"), &[], &[audit(0)])
            .await
            .unwrap();
        let s = Arc::new(s);
        // Concurrent writes share batches; every tenth reuses a taken auth_req_id hash.
        let mut writes = tokio::task::JoinSet::new();
        for n in 1..=200 {
            let s = s.clone();
            writes.spawn(async move {
                let hash = if n % 10 == 0 {
                    "taken".to_owned()
                } else {
                    format!("h{n}")
                };
                let push = NewWakeup {
                    device_id: "d".into(),
                    provider: PushProvider::Fcm,
                    deadline: 400,
                };
                (
                    n,
                    s.insert_request(&request(n, &hash), &[push], &[audit(n)])
                        .await,
                )
            });
        }
        let mut conflicts = 0;
        while let Some(joined) = writes.join_next().await {
            let (n, result) = joined.unwrap();
            let stored = s.request(&format!("txn_{n}")).await.unwrap();
            if n % 10 == 0 {
                assert!(
                    matches!(result, Err(StoreError::Conflict(_))),
                    "{n}: {result:?}"
                );
                assert!(stored.is_none(), "{n} was stored");
                conflicts += 1;
            } else {
                result.unwrap();
                assert_eq!(stored.unwrap().auth_req_id_hash, format!("h{n}"));
                assert_eq!(
                    s.wakeups_of_request(&format!("txn_{n}"))
                        .await
                        .unwrap()
                        .len(),
                    1
                );
            }
        }
        assert_eq!(conflicts, 20);
        // The failed requests left no audit rows or pushes behind: all or nothing per request.
        let events = s.audit_events(None, None, 1000).await.unwrap();
        assert_eq!(events.len(), 181);
        assert!(s.wakeups_of_request("txn_10").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn pending_polls_through_the_writer_share_slow_down() {
        let (_d, s) = store().await;
        s.insert_request(&request(1, "h1"), &[], &[]).await.unwrap();
        assert_eq!(
            s.poll_pending("h1", "c", 110, 5).await.unwrap(),
            Some(PollOutcome::Allowed)
        );
        assert_eq!(
            s.poll_pending("h1", "c", 112, 5).await.unwrap(),
            Some(PollOutcome::TooFast)
        );
        // Too fast raises the interval by the step each time: 5 → 10 (at 112) → 15 (at 119).
        assert_eq!(
            s.poll_pending("h1", "c", 119, 5).await.unwrap(),
            Some(PollOutcome::TooFast)
        );
        assert_eq!(s.request("txn_1").await.unwrap().unwrap().interval, 15);
        assert_eq!(
            s.poll_pending("h1", "c", 135, 5).await.unwrap(),
            Some(PollOutcome::Allowed)
        );
        assert_eq!(s.poll_pending("h1", "other", 140, 5).await.unwrap(), None);
        assert_eq!(
            s.poll_pending("h1", "c", 400, 5).await.unwrap(),
            None,
            "expired"
        );
        assert_eq!(s.poll_pending("nope", "c", 140, 5).await.unwrap(), None);
    }

    #[tokio::test]
    async fn close_commits_what_was_queued_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let s = Arc::new(SqliteStore::open(&url, 2).await.unwrap());
        let mut writes = tokio::task::JoinSet::new();
        for n in 0..50 {
            let s = s.clone();
            writes.spawn(async move {
                (
                    n,
                    s.insert_request(&request(n, &format!("h{n}")), &[], &[])
                        .await,
                )
            });
        }
        tokio::task::yield_now().await;
        s.close().await;
        let late = s.insert_request(&request(99, "h99"), &[], &[]).await;
        assert!(matches!(late, Err(StoreError::Database(_))), "{late:?}");
        // Reads are refused too, as the pool's are: the store's connections are closed.
        assert!(s.user_by_login_hint("alice").await.is_err());
        let mut acknowledged = Vec::new();
        while let Some(joined) = writes.join_next().await {
            let (n, result) = joined.unwrap();
            if result.is_ok() {
                acknowledged.push(n);
            }
        }
        drop(s);
        // The writes queued before the close were all committed, and are on disk.
        assert_eq!(acknowledged.len(), 50);
        let reopened = SqliteStore::open(&url, 2).await.unwrap();
        for n in acknowledged {
            assert!(
                reopened
                    .request(&format!("txn_{n}"))
                    .await
                    .unwrap()
                    .is_some(),
                "{n}"
            );
        }
        assert!(reopened.request("txn_99").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn migrations_run_once_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let a = SqliteStore::open(&url, 2).await.unwrap();
        a.insert_signing_key(&SigningKeyRecord {
            kid: "k".into(),
            alg: "ES256".into(),
            private_der: vec![1, 2],
            created_at: 1,
        })
        .await
        .unwrap();
        a.close().await;
        let b = SqliteStore::open(&url, 2).await.unwrap();
        assert_eq!(b.signing_keys().await.unwrap().len(), 1);
    }
}
