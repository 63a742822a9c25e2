//! What the shared implementation needs from an engine: run a [`Query`] on the pool, on a write
//! session, or in a transaction. Implemented twice, by SQLite (`store/sqlite`) and PostgreSQL
//! (`store/postgres.rs`).

use std::fmt::Debug;
use std::future::Future;

use super::query::Query;
use super::row::Row;
use super::{devices, replay, requests, users};
use crate::store::{
    CibaRequest, Decision, Device, InsertOutcome, NewAuditEvent, NewWakeup, Outbox, PollOutcome,
    StoreResult, User,
};

/// Runs statements. Errors are already [`StoreError`](crate::store::StoreError)s (a unique
/// violation is a `Conflict`).
pub trait Exec: Send {
    /// The engine's result row.
    type Row: Row + Send + Sync;
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, query: Query<'_>) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Runs a statement; its first row, if any.
    fn fetch_optional(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = StoreResult<Option<Self::Row>>> + Send;
    /// Runs a statement; all its rows.
    fn fetch_all(
        &mut self,
        query: Query<'_>,
    ) -> impl Future<Output = StoreResult<Vec<Self::Row>>> + Send;
}

/// The right to write through the pool, for as long as it is held, and the pool to write
/// through. Writes take one, so that on SQLite they take turns with the group-commit writer.
pub trait Writes: Exec {
    /// A transaction begun in this session.
    type Tx: Transaction<Row = Self::Row>;
    /// Begins a transaction (rolled back when dropped uncommitted).
    fn begin(&mut self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;
}

/// A transaction.
pub trait Transaction: Exec {
    /// Commits it.
    fn commit(self) -> impl Future<Output = StoreResult<()>> + Send;
}

/// A database engine.
pub trait Engine: Debug + Clone + Send + Sync + 'static {
    /// Its result row.
    type Row: Row + Send + Sync;
    /// Reads (and statements that write nothing) through the pool.
    type Pool<'a>: Exec<Row = Self::Row>
    where
        Self: 'a;
    /// A write session (see [`Writes`]).
    type Writes<'a>: Writes<Row = Self::Row>
    where
        Self: 'a;

    /// What a claim of outbox rows locks the rows it takes with, so that instances sharing the
    /// database claim different rows without waiting for each other.
    const CLAIM_LOCK: &'static str;
    /// A statement that serialises, until the end of the transaction, the new requests of one
    /// user (`$1`), so that counting their pending requests and inserting one is atomic across
    /// connections; `None` where writes are serialised anyway (SQLite has one writer).
    const USER_LOCK: Option<&'static str>;
    /// What a read that is about to change the rows it reads locks them with (`FOR UPDATE`);
    /// empty where one writer at a time holds the whole database (SQLite).
    const ROW_LOCK: &'static str;

    /// The pool, for reads.
    fn pool(&self) -> Self::Pool<'_>;
    /// Waits for a write session.
    fn writes(&self) -> impl Future<Output = Self::Writes<'_>> + Send;
    /// Brings the schema up to date.
    fn migrate(&self) -> impl Future<Output = StoreResult<()>> + Send;
    /// Closes every connection of the engine.
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// [`Store::watch_outbox`](crate::store::Store::watch_outbox); by default the engine
    /// announces nothing and this returns at once.
    fn watch_outbox(
        &self,
        changed: &(dyn Fn(Outbox) + Send + Sync),
    ) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = changed;
        std::future::ready(Ok(()))
    }

    // The hot path: the operations every backchannel request and token poll runs. By default
    // they go through the pool like everything else; SQLite serves them its own way when it
    // has its direct connections (see `store/sqlite`), PostgreSQL in batches
    // (`store/postgres/batch.rs`).

    /// [`Store::insert_request`](crate::store::Store::insert_request).
    fn insert_request(
        &self,
        request: &CibaRequest,
        pushes: &[NewWakeup],
        audit: &[NewAuditEvent],
        max_pending: Option<u32>,
    ) -> impl Future<Output = StoreResult<InsertOutcome>> + Send {
        requests::insert(self, request, pushes, audit, max_pending)
    }

    /// [`Store::poll_pending`](crate::store::Store::poll_pending).
    fn poll_pending(
        &self,
        auth_req_id_hash: &str,
        client_id: &str,
        now: i64,
        slow_down_step: i64,
    ) -> impl Future<Output = StoreResult<Option<PollOutcome>>> + Send {
        requests::poll_pending(self, auth_req_id_hash, client_id, now, slow_down_step)
    }

    /// [`Store::decide`](crate::store::Store::decide).
    fn decide(
        &self,
        id: &str,
        decision: &Decision,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        requests::decide(self, id, decision, now)
    }

    /// [`Store::redeem`](crate::store::Store::redeem).
    fn redeem(&self, id: &str, now: i64) -> impl Future<Output = StoreResult<bool>> + Send {
        requests::redeem(self, id, now)
    }

    /// [`Store::remember_jti`](crate::store::Store::remember_jti).
    fn remember_jti(
        &self,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        replay::remember_jti(self, key, expires_at, now)
    }

    /// [`Store::user_by_login_hint`](crate::store::Store::user_by_login_hint).
    fn user_by_login_hint(
        &self,
        hint: &str,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send {
        users::by_login_hint(self, hint)
    }

    /// [`Store::request_by_auth_req_id`](crate::store::Store::request_by_auth_req_id).
    fn request_by_auth_req_id(
        &self,
        auth_req_id_hash: &str,
    ) -> impl Future<Output = StoreResult<Option<CibaRequest>>> + Send {
        requests::by_auth_req_id(self, auth_req_id_hash)
    }

    /// [`Store::user`](crate::store::Store::user).
    fn user(&self, id: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send {
        users::by_id(self, id)
    }

    /// [`Store::user_by_subject`](crate::store::Store::user_by_subject).
    fn user_by_subject(
        &self,
        subject: &str,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send {
        users::by_subject(self, subject)
    }

    /// [`Store::devices_of_user`](crate::store::Store::devices_of_user).
    fn devices_of_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = StoreResult<Vec<Device>>> + Send {
        devices::of_user(self, user_id)
    }
}
