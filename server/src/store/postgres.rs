//! PostgreSQL: one shared database for several server instances.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};

use super::*;

/// Migrations, embedded in the binary.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "notifications",
        include_str!("../../migrations/postgres/0002_notifications.sql"),
    ),
    (
        3,
        "push",
        include_str!("../../migrations/postgres/0003_push.sql"),
    ),
    (
        4,
        "poll_fast_path",
        include_str!("../../migrations/postgres/0004_poll_fast_path.sql"),
    ),
];

/// PostgreSQL implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// A pool that connects on first use: the server starts (and reports not ready) while the
    /// database is unreachable, and recovers when it returns.
    pub fn connect_lazy(url: &str, max_connections: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    /// PostgreSQL commits each request on its own pooled connection: it has many writers.
    fn group_commit(&self) -> Option<&super::group_commit::GroupCommit> {
        None
    }

    /// Reads go through the pool.
    fn readers(&self) -> Option<&super::sqlite_read::Readers> {
        None
    }

    /// Nothing beyond the pool to close.
    #[allow(clippy::unused_async)] // the same signature as SQLite's, which waits
    async fn close_direct(&self) {}

    /// PostgreSQL's own locks order concurrent writers.
    #[allow(clippy::unused_async)] // the same signature as SQLite's, which waits
    async fn write_turn(&self) -> Option<super::group_commit::WriteTurn<'_>> {
        None
    }
}

super::sql::sql_store!(PgStore, PgRow, "FOR UPDATE SKIP LOCKED");
