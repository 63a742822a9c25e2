//! SQLite point reads on the hot path, run inline.
//!
//! A read by key on an embedded database takes a few microseconds; through sqlx's pool it costs
//! an async acquire and two hand-offs between tokio and a connection thread, several times the
//! read. The reads of every backchannel request (the user named by the hint, their devices) and
//! of every token request that redeems (the request, its user) run here instead, on the calling
//! task's thread, with a connection taken from a small free list (there are never more in use
//! than threads running tasks). In WAL mode readers never wait for
//! the writer, so nothing here blocks for long. Statements, bound values and row mappers are the
//! pool path's (`store/sql`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::Connection;

use super::direct::{bind, connect};
use crate::store::sql::{
    DEVICES_OF_USER, REQUEST_BY_AUTH_REQ_ID, USER_BY_ID, USER_BY_LOGIN_HINT, USER_BY_SUBJECT,
    Value, device_from, request_from, user_from,
};
use crate::store::{CibaRequest, Device, StoreError, StoreResult, User};

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

    /// The one row `sql` finds for `key` (`$1`), mapped.
    fn one<T>(
        &self,
        sql: &str,
        key: &str,
        map: impl FnOnce(&rusqlite::Row<'_>) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(sql)?;
            bind(&mut statement, &[Value::from(key)])?;
            let mut rows = statement.raw_query();
            rows.next()?.map(map).transpose()
        })
    }

    /// [`Store::user_by_login_hint`](crate::store::Store::user_by_login_hint).
    pub fn user_by_login_hint(&self, hint: &str) -> StoreResult<Option<User>> {
        self.one(USER_BY_LOGIN_HINT, hint, |row| user_from(row))
    }

    /// [`Store::request_by_auth_req_id`](crate::store::Store::request_by_auth_req_id).
    pub fn request_by_auth_req_id(&self, hash: &str) -> StoreResult<Option<CibaRequest>> {
        self.one(REQUEST_BY_AUTH_REQ_ID, hash, |row| request_from(row))
    }

    /// [`Store::user`](crate::store::Store::user).
    pub fn user(&self, id: &str) -> StoreResult<Option<User>> {
        self.one(USER_BY_ID, id, |row| user_from(row))
    }

    /// [`Store::user_by_subject`](crate::store::Store::user_by_subject).
    pub fn user_by_subject(&self, subject: &str) -> StoreResult<Option<User>> {
        self.one(USER_BY_SUBJECT, subject, |row| user_from(row))
    }

    /// [`Store::devices_of_user`](crate::store::Store::devices_of_user).
    pub fn devices_of_user(&self, user_id: &str) -> StoreResult<Vec<Device>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(DEVICES_OF_USER)?;
            bind(&mut statement, &[Value::from(user_id)])?;
            let mut rows = statement.raw_query();
            let mut devices = Vec::new();
            while let Some(row) = rows.next()? {
                devices.push(device_from(row)?);
            }
            Ok(devices)
        })
    }
}
