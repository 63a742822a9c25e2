//! The hot path's own rusqlite connections: how they are opened, and how a statement's values
//! are bound — by `$N` number, as sqlx binds them, from the same [`Value`]s the pool path binds.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, Statement};

use crate::store::sql::Value;
use crate::store::{StoreError, StoreResult};

/// How much of the database file each connection maps into memory: none. A connection that
/// maps the file unmaps all of it whenever it starts reading after another connection's commit
/// (SQLite cannot tell which mapped pages changed), and the group-commit writer commits
/// thousands of times a second: every pool read paid a `munmap` of up to 256 MiB, its TLB
/// shootdown on the other core and the page faults of mapping it again (the kernel's share of
/// the server's CPU was 61 % while redeeming, with 256 MiB mapped). Reads copy pages from the
/// kernel's page cache instead (redemptions +25–40 % at 16 and 256 clients, alternating runs).
pub const MMAP_SIZE: i64 = 0;

/// The page cache of every connection but the writer's, in KiB (negative: SQLite's unit for a
/// size rather than pages). Small: a connection empties its cache whenever it starts reading
/// after another connection's commit, which the writer makes thousands of times a second.
pub const READER_CACHE_KIB: i64 = -256;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => Self::Conflict(e.to_string()),
            _ => Self::Database(e.to_string()),
        }
    }
}

/// Opens a rusqlite connection to the (already migrated) database file the way every direct
/// connection is set up: no per-connection mutex (one thread uses it at a time), the store's
/// busy timeout, the file not mapped, a small page cache (the writer sets its own), a small
/// statement cache.
pub fn connect(path: &Path, read_only: bool, busy_timeout: Duration) -> StoreResult<Connection> {
    let access = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    };
    let conn = Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy_timeout)?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// Borrowed, as rusqlite's own `&str` and `i64` are: binding copies nothing.
impl ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::OptText(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Value::OptText(None) | Value::OptInt(None) | Value::OptBool(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
            Value::Int(v) | Value::OptInt(Some(v)) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Bool(v) | Value::OptBool(Some(v)) => {
                ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*v)))
            }
            Value::Bytes(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

/// Binds `values` to a statement's `$N` placeholders by number (SQLite numbers a `$N` by where
/// it first appears, not by `N`). Every value must have its placeholder and the reverse.
pub fn bind(statement: &mut Statement<'_>, values: &[Value<'_>]) -> rusqlite::Result<()> {
    let count = statement.parameter_count();
    if count != values.len() {
        return Err(rusqlite::Error::InvalidParameterCount(values.len(), count));
    }
    for index in 1..=count {
        let value = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| values.get(n.checked_sub(1)?));
        match value {
            Some(value) => statement.raw_bind_parameter(index, value)?,
            None => {
                let name = statement.parameter_name(index).unwrap_or("?").to_owned();
                return Err(rusqlite::Error::InvalidParameterName(name));
            }
        }
    }
    Ok(())
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub fn execute_values(conn: &Connection, sql: &str, values: &[Value<'_>]) -> StoreResult<usize> {
    let mut statement = conn.prepare_cached(sql)?;
    bind(&mut statement, values)?;
    Ok(statement.raw_execute()?)
}
