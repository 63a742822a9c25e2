//! SQLite point reads on the hot path, run inline.
//!
//! A read by key on an embedded database takes a few microseconds; through sqlx's pool it costs
//! an async acquire and two hand-offs between tokio and a connection thread, several times the
//! read. The reads of every backchannel request (the user named by the hint, their devices) run
//! here instead, on the calling task's thread, with a connection taken from a small free list
//! (there are never more in use than threads running tasks). In WAL mode readers never wait for
//! the writer, so nothing here blocks for long. Statements and row mappings are the ones the sqlx
//! implementation uses.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags, RowIndex, named_params};

use super::sql::{DEVICES_OF_USER, USER_BY_LOGIN_HINT, USER_BY_SUBJECT};
use super::*;

/// Reads through rusqlite rows with the `try_get` the shared mappers call.
trait TryGet {
    fn try_get<T: FromSql, I: RowIndex>(&self, index: I) -> rusqlite::Result<T>;
}

impl TryGet for rusqlite::Row<'_> {
    fn try_get<T: FromSql, I: RowIndex>(&self, index: I) -> rusqlite::Result<T> {
        self.get(index)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Self::Conflict(e.to_string()),
            _ => Self::Database(e.to_string()),
        }
    }
}

#[allow(dead_code)] // the mappers the inline reads do not need (yet)
mod mappers {
    use super::TryGet;
    use crate::store::*;
    super::super::sql::row_mappers!(rusqlite::Row<'_>);
}

/// How much of the database file each connection maps into memory (reads without copies).
pub(super) const MMAP_SIZE: i64 = 256 * 1024 * 1024;

/// Opens a rusqlite connection to the (already migrated) database file the way every direct
/// connection is set up: no per-connection mutex (one thread uses it at a time), the store's
/// busy timeout, the file mapped, a small statement cache.
pub(super) fn connect(
    path: &Path,
    read_only: bool,
    busy_timeout: Duration,
) -> StoreResult<Connection> {
    let access = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// Read-only connections for inline reads.
#[derive(Debug)]
pub struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl Readers {
    /// Readers of the (already migrated) database at `path`; connections open on first use.
    pub fn new(path: &Path, busy_timeout: Duration) -> Self {
        Self {
            path: path.to_owned(),
            busy_timeout,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// Closes the idle connections; reads from now on are refused, as the pool's are.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.idle().clear();
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // The list holds no invariant a panic elsewhere could break.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `read` on an idle connection (or a new one), then returns the connection.
    fn read<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Database("the store is closed".into()));
        }
        let taken = self.idle().pop();
        let conn = match taken {
            Some(conn) => conn,
            None => connect(&self.path, true, self.busy_timeout)?,
        };
        let result = read(&conn);
        // A connection that failed is dropped rather than reused, and so is one that finished
        // after the store closed.
        if result.is_ok() && !self.closed.load(Ordering::SeqCst) {
            self.idle().push(conn);
        }
        result
    }

    /// [`Store::user_by_login_hint`].
    pub fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(USER_BY_LOGIN_HINT)?;
            let mut rows = statement.query(named_params! { "$1": hint })?;
            rows.next()?.map(mappers::user_from).transpose()
        })
    }

    /// [`Store::user_by_subject`].
    pub fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(USER_BY_SUBJECT)?;
            let mut rows = statement.query(named_params! { "$1": subject })?;
            rows.next()?.map(mappers::user_from).transpose()
        })
    }

    /// [`Store::devices_of_user`].
    pub fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(DEVICES_OF_USER)?;
            let mut rows = statement.query(named_params! { "$1": user_id })?;
            let mut devices = Vec::new();
            while let Some(row) = rows.next()? {
                devices.push(mappers::device_from(row)?);
            }
            Ok(devices)
        })
    }
}
