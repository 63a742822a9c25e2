//! The tests every store passes, whatever its engine (the pattern of matrix-rust-sdk's
//! `crypto/store/integration_tests.rs`): each test is an async function over a fresh store, and
//! [`suite!`] runs it on
//! - `sqlite_file`: a SQLite file, whose hot operations go through the group-commit writer and
//!   the inline readers;
//! - `sqlite_memory`: `sqlite::memory:`, which has no direct connections, so everything goes
//!   through the pool;
//! - `postgres`: a fresh database on the server `CIBA_TEST_POSTGRES_URL` names (skipped, with a
//!   note, when it is unset).
//!
//! The round trips read back every field of a record, so a value bound to the wrong column, or
//! a mapper reading the wrong one, fails on the path that does it.

use std::future::Future;
use std::sync::Arc;

use super::*;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    SqliteFile,
    SqliteMemory,
    Postgres,
}

/// A fresh store, and how to open it again.
struct Fresh {
    store: Arc<dyn Store>,
    kind: Kind,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

const POSTGRES_URL: &str = "CIBA_TEST_POSTGRES_URL";

impl Fresh {
    /// `None` when the engine is not available here (PostgreSQL without a server).
    async fn new(kind: Kind) -> Option<Self> {
        match kind {
            Kind::SqliteFile => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                let store = SqliteStore::open(&url, 4).await.unwrap();
                Some(Self {
                    store: Arc::new(store),
                    kind,
                    url,
                    _dir: Some(dir),
                })
            }
            Kind::SqliteMemory => {
                let url = "sqlite::memory:".to_owned();
                let store = SqliteStore::open(&url, 4).await.unwrap();
                Some(Self {
                    store: Arc::new(store),
                    kind,
                    url,
                    _dir: None,
                })
            }
            Kind::Postgres => {
                let Ok(base) = std::env::var(POSTGRES_URL) else {
                    println!("skipped: set {POSTGRES_URL} to run the store suite on PostgreSQL");
                    return None;
                };
                let url = fresh_postgres_database(&base).await;
                let store = PgStore::connect_lazy(&url, 4).unwrap();
                store.migrate().await.unwrap();
                Some(Self {
                    store: Arc::new(store),
                    kind,
                    url,
                    _dir: None,
                })
            }
        }
    }

    /// Closes the store and opens its database again. An in-memory database does not outlive
    /// its store: there the store is migrated again instead.
    async fn reopen(&self) -> Arc<dyn Store> {
        match self.kind {
            Kind::SqliteMemory => {
                self.store.migrate().await.unwrap();
                self.store.clone()
            }
            Kind::SqliteFile => {
                self.store.close().await;
                Arc::new(SqliteStore::open(&self.url, 4).await.unwrap())
            }
            Kind::Postgres => {
                self.store.close().await;
                let store = PgStore::connect_lazy(&self.url, 4).unwrap();
                store.migrate().await.unwrap();
                Arc::new(store)
            }
        }
    }
}

/// `CREATE DATABASE ciba_test_<random>` on the server `base` names; the new database's URL.
async fn fresh_postgres_database(base: &str) -> String {
    use sqlx::Connection;
    let name = format!(
        "ciba_test_{}",
        crate::crypto::random_b64u(12)
            .unwrap()
            .to_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .expect("CIBA_TEST_POSTGRES_URL answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut url = url::Url::parse(base).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn run<F, Fut>(kind: Kind, test: F)
where
    F: FnOnce(Fresh) -> Fut,
    Fut: Future<Output = ()>,
{
    if let Some(fresh) = Fresh::new(kind).await {
        test(fresh).await;
    }
}

/// Runs each listed test on every store.
macro_rules! suite {
    ($($test:ident),+ $(,)?) => {
        suite!(@on sqlite_file, SqliteFile, $($test),+);
        suite!(@on sqlite_memory, SqliteMemory, $($test),+);
        suite!(@on postgres, Postgres, $($test),+);
    };
    (@on $module:ident, $kind:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $test() {
                    super::run(super::Kind::$kind, super::$test).await;
                }
            )+
        }
    };
}

suite!(
    jti_is_remembered_until_it_expires,
    migrations_run_once_across_reopen,
    pending_polls_share_slow_down,
    request_round_trips_with_its_wakeups_and_audit_trail,
    request_decisions_and_outbox_claims_round_trip,
    users_round_trip,
    clients_round_trip,
    devices_round_trip,
    a_login_hint_names_at_most_one_user,
    the_pending_limit_per_user_holds_under_concurrency,
    locking_a_user_cancels_and_notifies_their_requests,
    refresh_tokens_rotate_once_and_reuse_revokes_the_family,
    initial_access_tokens_are_used_up_and_clients_updated,
    console_sessions_expire_and_end,
    committed_outbox_rows_are_announced_to_every_instance,
    audit_pruning_deletes_only_events_past_the_horizon,
    a_failing_write_fails_alone_in_its_batch,
    close_commits_what_was_queued_and_refuses_the_rest,
    concurrent_polls_of_one_request_count_each_other,
    a_request_is_redeemed_once_under_concurrency,
);

/// An approval by device `d`, with no notification or audit trail.
fn plain_approval() -> Decision {
    Decision {
        approved: true,
        device_id: "d".into(),
        amr: vec!["hwk".into()],
        deny_reason: None,
        notification: None,
        audit: Vec::new(),
    }
}

fn numbered_audit(n: usize) -> NewAuditEvent {
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

/// Concurrent writes share batches (SQLite's group commit, PostgreSQL's batches); every tenth
/// reuses a taken auth_req_id hash and must fail alone, leaving nothing behind.
async fn a_failing_write_fails_alone_in_its_batch(s: Fresh) {
    let s = s.store;
    s.insert_request(&tests::request(0, "taken"), &[], &[numbered_audit(0)], None)
        .await
        .unwrap();
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
            let request = tests::request(n, &hash);
            (
                n,
                s.insert_request(&request, &[push], &[numbered_audit(n)], None)
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
            assert_eq!(result.unwrap(), InsertOutcome::Inserted);
            assert_eq!(stored.unwrap().auth_req_id_hash, format!("h{n}"));
            let wakeups = s.wakeups_of_request(&format!("txn_{n}")).await.unwrap();
            assert_eq!(wakeups.len(), 1, "{n}");
        }
    }
    assert_eq!(conflicts, 20);
    // The failed requests left no audit rows or pushes behind: all or nothing per request.
    let events = s.audit_events(&AuditFilter::default(), 1000).await.unwrap();
    assert_eq!(events.len(), 181);
    assert!(s.wakeups_of_request("txn_10").await.unwrap().is_empty());
}

/// Closing the store commits the writes queued before it; later ones are refused.
async fn close_commits_what_was_queued_and_refuses_the_rest(s: Fresh) {
    if s.kind == Kind::SqliteMemory {
        // Nothing outlives an in-memory store's close.
        return;
    }
    let store = s.store.clone();
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..50 {
        let store = store.clone();
        writes.spawn(async move {
            let request = tests::request(n, &format!("h{n}"));
            (n, store.insert_request(&request, &[], &[], None).await)
        });
    }
    tokio::task::yield_now().await;
    let reopened = s.reopen().await;
    let late = store
        .insert_request(&tests::request(99, "h99"), &[], &[], None)
        .await;
    assert!(matches!(late, Err(StoreError::Database(_))), "{late:?}");
    // Reads are refused too, as the pool's are: the store's connections are closed.
    assert!(store.user_by_login_hint("alice").await.is_err());
    let mut acknowledged = Vec::new();
    while let Some(joined) = writes.join_next().await {
        let (n, result) = joined.unwrap();
        if result.is_ok() {
            acknowledged.push(n);
        }
    }
    // The writes queued before the close were all committed.
    assert_eq!(acknowledged.len(), 50);
    for n in acknowledged {
        let stored = reopened.request(&format!("txn_{n}")).await.unwrap();
        assert!(stored.is_some(), "{n}");
    }
    assert!(reopened.request("txn_99").await.unwrap().is_none());
}

/// Polls of one request at one moment, all at once (they share a batch, or follow each other
/// in rounds): the first is allowed, every other one is too fast and raises the interval, as
/// one after the other would.
async fn concurrent_polls_of_one_request_count_each_other(s: Fresh) {
    let s = s.store;
    for n in 1..=3 {
        s.insert_request(&tests::request(n, &format!("h{n}")), &[], &[], None)
            .await
            .unwrap();
    }
    let mut polls = tokio::task::JoinSet::new();
    for i in 0..60 {
        let s = s.clone();
        // 40 polls of h1, 20 of h2; none of h3.
        let hash = if i % 3 == 2 { "h2" } else { "h1" };
        polls.spawn(async move { (hash, s.poll_pending(hash, "c", 110, 5).await.unwrap()) });
    }
    let mut allowed = std::collections::HashMap::new();
    let mut too_fast = std::collections::HashMap::new();
    while let Some(joined) = polls.join_next().await {
        let (hash, outcome) = joined.unwrap();
        match outcome {
            Some(PollOutcome::Allowed) => *allowed.entry(hash).or_insert(0) += 1,
            Some(PollOutcome::TooFast) => *too_fast.entry(hash).or_insert(0) += 1,
            None => panic!("{hash} was pending"),
        }
    }
    assert_eq!((allowed["h1"], too_fast["h1"]), (1, 39));
    assert_eq!((allowed["h2"], too_fast["h2"]), (1, 19));
    // The base interval is 5: each too-fast poll added the step.
    assert_eq!(
        s.request("txn_1").await.unwrap().unwrap().interval,
        5 + 39 * 5
    );
    assert_eq!(
        s.request("txn_2").await.unwrap().unwrap().interval,
        5 + 19 * 5
    );
    let untouched = s.request("txn_3").await.unwrap().unwrap();
    assert_eq!((untouched.interval, untouched.last_polled_at), (5, None));
}

/// Many redemptions of one approved request at once, among others: each request is redeemed
/// exactly once, and a pending one not at all.
async fn a_request_is_redeemed_once_under_concurrency(s: Fresh) {
    let s = s.store;
    let approval = plain_approval();
    for n in 1..=4 {
        s.insert_request(&tests::request(n, &format!("h{n}")), &[], &[], None)
            .await
            .unwrap();
        if n != 4 {
            assert!(s.decide(&format!("txn_{n}"), &approval, 105).await.unwrap());
        }
    }
    let mut redemptions = tokio::task::JoinSet::new();
    for i in 0..80 {
        let s = s.clone();
        let id = format!("txn_{}", i % 4 + 1);
        redemptions.spawn(async move { (s.redeem(&id, 120).await.unwrap(), id) });
    }
    let mut won = std::collections::HashMap::new();
    while let Some(joined) = redemptions.join_next().await {
        let (redeemed, id) = joined.unwrap();
        if redeemed {
            *won.entry(id).or_insert(0) += 1;
        }
    }
    let expected: std::collections::HashMap<String, i32> =
        (1..=3).map(|n| (format!("txn_{n}"), 1)).collect();
    assert_eq!(won, expected);
    let redeemed = s.request("txn_1").await.unwrap().unwrap();
    assert_eq!(
        (redeemed.status, redeemed.redeemed_at),
        (RequestStatus::Redeemed, Some(120))
    );
    assert_eq!(
        s.request("txn_4").await.unwrap().unwrap().status,
        RequestStatus::Pending
    );
}

/// The next outbox a watch reported (at most 10 s away: a missing announcement fails).
async fn next_announced(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outbox>) -> Outbox {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("an outbox announcement within 10 s")
        .expect("the watch is running")
}

/// An instance hears of an outbox row the moment another instance sharing the database commits
/// it (PostgreSQL's announcements), and of nothing rolled back; closing the store ends the
/// watch. SQLite has nothing to listen to: the watch returns at once.
async fn committed_outbox_rows_are_announced_to_every_instance(s: Fresh) {
    use sqlx::Connection;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = s.store.clone();
    let watch = tokio::spawn(async move {
        let changed = move |outbox: Outbox| {
            let _ = tx.send(outbox);
        };
        watcher.watch_outbox(&changed).await
    });
    let ten_seconds = std::time::Duration::from_secs(10);
    if s.kind != Kind::Postgres {
        let ended = tokio::time::timeout(ten_seconds, watch).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
        return;
    }
    // Listening: both outboxes are reported once (what was committed before went unheard).
    let first = [next_announced(&mut rx).await, next_announced(&mut rx).await];
    assert!(first.contains(&Outbox::ClientNotifications), "{first:?}");
    assert!(first.contains(&Outbox::DeviceWakeups), "{first:?}");

    // Another instance commits a request with a wake-up.
    let other = PgStore::connect_lazy(&s.url, 2).unwrap();
    let wakeup = NewWakeup {
        device_id: "dev-a".into(),
        provider: PushProvider::Fcm,
        deadline: i64::MAX,
    };
    other
        .insert_request(&tests::request(1, "h1"), &[wakeup], &[], None)
        .await
        .unwrap();
    assert_eq!(next_announced(&mut rx).await, Outbox::DeviceWakeups);

    // A wake-up rolled back is announced to nobody: the next announcement is the notification
    // committed after it.
    let mut conn = sqlx::PgConnection::connect(&s.url).await.unwrap();
    let mut rolled_back = conn.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO push_outbox (request_id, device_id, provider, created_at, next_attempt_at, \
         deadline) VALUES ('txn_rolled_back', 'dev-a', 'fcm', 0, 0, 0)",
    )
    .execute(&mut *rolled_back)
    .await
    .unwrap();
    rolled_back.rollback().await.unwrap();
    sqlx::query(
        "INSERT INTO notification_outbox (request_id, client_id, kind, created_at, \
         next_attempt_at, deadline) VALUES ('txn_1', 'c', 'ping', 0, 0, 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(next_announced(&mut rx).await, Outbox::ClientNotifications);
    conn.close().await.unwrap();
    other.close().await;

    // Closing the store ends the watch (and frees its connection, or the close would wait).
    tokio::time::timeout(ten_seconds, s.store.close())
        .await
        .expect("the store closes while watched");
    let ended = tokio::time::timeout(ten_seconds, watch).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
}

async fn console_sessions_expire_and_end(s: Fresh) {
    let s = s.store;
    let session = ConsoleSession {
        id_hash: "h1".into(),
        created_at: 100,
        expires_at: 1000,
        idle_until: 400,
    };
    s.insert_console_session(&session).await.unwrap();
    assert_eq!(
        s.console_session("h1").await.unwrap(),
        Some(session.clone())
    );
    assert_eq!(s.console_session("h2").await.unwrap(), None);
    // Moved on while live, never past the absolute expiry; not once idle or ended.
    assert!(s.touch_console_session("h1", 300, 700).await.unwrap());
    assert_eq!(
        s.console_session("h1").await.unwrap().unwrap().idle_until,
        700
    );
    assert!(s.touch_console_session("h1", 600, 5000).await.unwrap());
    assert_eq!(
        s.console_session("h1").await.unwrap().unwrap().idle_until,
        1000
    );
    assert!(!s.touch_console_session("h1", 1000, 1300).await.unwrap());
    assert!(!s.touch_console_session("h2", 300, 700).await.unwrap());
    // The sweep forgets ended sessions, not live ones.
    let live = ConsoleSession {
        id_hash: "h3".into(),
        created_at: 900,
        expires_at: 5000,
        idle_until: 2000,
    };
    s.insert_console_session(&live).await.unwrap();
    let stats = s.sweep(1000, 0).await.unwrap();
    assert_eq!(stats.console_sessions, 1);
    assert_eq!(s.console_session("h1").await.unwrap(), None);
    assert!(s.delete_console_session("h3").await.unwrap());
    assert!(!s.delete_console_session("h3").await.unwrap());
}

async fn audit_pruning_deletes_only_events_past_the_horizon(s: Fresh) {
    let s = s.store;
    let event = |at: i64| NewAuditEvent {
        at,
        kind: "ciba_request",
        user_id: Some("u1".into()),
        client_id: None,
        device_id: None,
        request_id: None,
        detail: serde_json::json!({"n": at}),
    };
    // More than one batch (1000) before the horizon, a few at and after it.
    for at in 0..2_500 {
        s.append_audit(&event(at)).await.unwrap();
    }
    for at in [2_500, 2_501, 9_000] {
        s.append_audit(&event(at)).await.unwrap();
    }
    assert_eq!(s.prune_audit(2_500).await.unwrap(), 2_500);
    let left = s.audit_events(&AuditFilter::default(), 100).await.unwrap();
    let mut times: Vec<i64> = left.iter().map(|e| e.at).collect();
    times.sort_unstable();
    assert_eq!(times, vec![2_500, 2_501, 9_000]);
    // Nothing more to prune at the same horizon.
    assert_eq!(s.prune_audit(2_500).await.unwrap(), 0);
}

async fn initial_access_tokens_are_used_up_and_clients_updated(s: Fresh) {
    let s = s.store;
    let client = |id: &str| Client {
        id: id.into(),
        name: "Dyn".into(),
        logo_uri: None,
        delivery_mode: DeliveryMode::Poll,
        notification_endpoint: None,
        auth_method: ClientAuthMethod::ClientSecretBasic,
        secret_hash: Some("h".into()),
        scope: vec!["openid".into()],
        user_code_parameter: false,
        request_signing_alg: None,
        jwks: None,
        jwks_uri: None,
        fapi: false,
        tls_client_auth: None,
        refresh_token_grant: true,
        id_token_signed_response_alg: None,
        registration_token_hash: Some("rat".into()),
        created_at: 5,
    };
    s.insert_initial_access_token("iat", 0, 100, Some(1))
        .await
        .unwrap();
    s.insert_initial_access_token("any", 0, 100, None)
        .await
        .unwrap();
    assert!(s.initial_access_token_valid("iat", 10).await.unwrap());
    assert!(
        !s.initial_access_token_valid("iat", 100).await.unwrap(),
        "expired"
    );
    assert!(!s.initial_access_token_valid("nope", 10).await.unwrap());
    assert!(
        s.insert_client_with_initial_access_token("iat", 10, &client("d1"))
            .await
            .unwrap()
    );
    assert!(
        !s.insert_client_with_initial_access_token("iat", 11, &client("d2"))
            .await
            .unwrap(),
        "used up"
    );
    assert_eq!(
        s.client("d2").await.unwrap(),
        None,
        "nothing stored without a token"
    );
    for n in 0..3 {
        let id = format!("u{n}");
        assert!(
            s.insert_client_with_initial_access_token("any", 12, &client(&id))
                .await
                .unwrap()
        );
    }
    assert!(
        !s.insert_client_with_initial_access_token("any", 100, &client("late"))
            .await
            .unwrap()
    );

    let mut changed = client("d1");
    changed.name = "Dyn 2".into();
    changed.delivery_mode = DeliveryMode::Ping;
    changed.notification_endpoint = Some("https://c.example/cb".into());
    changed.refresh_token_grant = false;
    changed.id_token_signed_response_alg = Some("RS256".into());
    changed.tls_client_auth = Some(TlsClientName::SanDns("c.example".into()));
    assert!(s.update_client(&changed).await.unwrap());
    assert_eq!(s.client("d1").await.unwrap(), Some(changed));
    assert!(!s.update_client(&client("absent")).await.unwrap());
}

fn refresh_token(n: u32, family: &str, now: i64) -> RefreshToken {
    RefreshToken {
        token_hash: format!("rt-{n}"),
        family_id: family.into(),
        client_id: "c".into(),
        user_id: "u".into(),
        scope: vec!["openid".into(), "profile".into()],
        amr: vec!["hwk".into(), "user".into()],
        acr: Some("urn:bank:acr:high".into()),
        auth_time: 90,
        certificate_thumbprint: n.is_multiple_of(2).then(|| format!("x5t-{n}")),
        created_at: now,
        expires_at: now + 100,
        family_expires_at: 1000,
        used_at: None,
        revoked_at: None,
        access_jti: format!("at-{n}"),
        access_expires_at: now + 60,
    }
}

async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family(s: Fresh) {
    let s = s.store;
    // Issued with a redemption: stored only when the redemption wins.
    s.insert_request(&tests::request(1, "h1"), &[], &[], None)
        .await
        .unwrap();
    let first = refresh_token(1, "fam", 100);
    assert!(
        !s.redeem_with_refresh_token("txn_1", 100, &first)
            .await
            .unwrap(),
        "a pending request is not redeemed"
    );
    assert_eq!(s.refresh_token("rt-1").await.unwrap(), None);
    let approval = plain_approval();
    assert!(s.decide("txn_1", &approval, 100).await.unwrap());
    assert!(
        s.redeem_with_refresh_token("txn_1", 101, &first)
            .await
            .unwrap()
    );
    assert_eq!(s.refresh_token("rt-1").await.unwrap(), Some(first.clone()));

    // One rotation wins; the second use of the same token is a reuse.
    let second = refresh_token(2, "fam", 110);
    assert_eq!(
        s.rotate_refresh_token("rt-1", 110, &second).await.unwrap(),
        RotateOutcome::Rotated
    );
    assert_eq!(
        s.refresh_token("rt-1").await.unwrap().unwrap().used_at,
        Some(110)
    );
    assert_eq!(s.refresh_token("rt-2").await.unwrap(), Some(second.clone()));
    assert!(!s.access_token_revoked("at-2", 111).await.unwrap());
    let third = refresh_token(3, "fam", 120);
    assert_eq!(
        s.rotate_refresh_token("rt-1", 120, &third).await.unwrap(),
        RotateOutcome::ReuseDetected
    );
    assert_eq!(
        s.refresh_token("rt-3").await.unwrap(),
        None,
        "nothing issued on reuse"
    );
    let revoked = s.refresh_token("rt-2").await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(120));
    assert!(
        s.access_token_revoked("at-2", 121).await.unwrap(),
        "the family's live access token is revoked"
    );
    assert!(
        !s.access_token_revoked("at-2", 170).await.unwrap(),
        "until it would have expired"
    );
    assert_eq!(
        s.rotate_refresh_token("rt-2", 121, &third).await.unwrap(),
        RotateOutcome::Refused,
        "a revoked family's newest token is refused"
    );

    // Another family is untouched; expiry refuses; revocation is idempotent.
    let other = refresh_token(4, "other", 100);
    s.insert_request(&tests::request(5, "h5"), &[], &[], None)
        .await
        .unwrap();
    assert!(s.decide("txn_5", &approval, 100).await.unwrap());
    assert!(
        s.redeem_with_refresh_token("txn_5", 100, &other)
            .await
            .unwrap()
    );
    assert!(
        s.refresh_token("rt-4")
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(
        s.rotate_refresh_token("rt-4", 200, &refresh_token(6, "other", 200))
            .await
            .unwrap(),
        RotateOutcome::Refused,
        "expired at 200"
    );
    assert_eq!(s.revoke_refresh_family("other", 210).await.unwrap(), 1);
    assert_eq!(s.revoke_refresh_family("other", 211).await.unwrap(), 0);
    s.revoke_access_token("at-9", 300, 210).await.unwrap();
    s.revoke_access_token("at-9", 300, 211).await.unwrap();
    assert!(s.access_token_revoked("at-9", 299).await.unwrap());

    // The sweep forgets expired tokens.
    let swept = s.sweep(250, 0).await.unwrap();
    assert_eq!(swept.refresh_tokens, 3, "rt-1, rt-2, rt-4 expired by 250");
    assert_eq!(s.refresh_token("rt-2").await.unwrap(), None);
}

async fn jti_is_remembered_until_it_expires(s: Fresh) {
    let s = s.store;
    assert!(s.remember_jti("k", 100, 0).await.unwrap());
    assert!(!s.remember_jti("k", 150, 50).await.unwrap());
    assert!(
        s.remember_jti("k", 300, 100).await.unwrap(),
        "expired entries are taken over"
    );
    assert_eq!(s.sweep(400, 0).await.unwrap().jtis, 1);
}

async fn migrations_run_once_across_reopen(s: Fresh) {
    let key = SigningKeyRecord {
        kid: "k".into(),
        alg: "ES256".into(),
        private_der: vec![1, 2, 0, 255],
        created_at: 1,
        activates_at: 7,
    };
    s.store.insert_signing_key(&key).await.unwrap();
    let reopened = s.reopen().await;
    assert_eq!(reopened.signing_keys().await.unwrap(), vec![key]);
}

async fn pending_polls_share_slow_down(s: Fresh) {
    let s = s.store;
    s.insert_request(&tests::request(1, "h1"), &[], &[], None)
        .await
        .unwrap();
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

/// A new request with every column the insert writes set to a distinctive value.
fn distinctive_request(n: usize) -> CibaRequest {
    CibaRequest {
        id: format!("txn_rt_{n}"),
        auth_req_id_hash: format!("hash-Ω-{n}"),
        client_id: format!("client-rt-{n}"),
        user_id: format!("usr-rt-{n}"),
        scope: vec!["openid".into(), "profile".into(), "payments:write".into()],
        acr_values: vec!["urn:acr:strong".into(), "mfa".into()],
        binding_message: Some(format!("Pay €12.{n} to Bäckerei ✓")),
        authorization_details: Some(
            r#"[{"type":"payment_initiation","amount":"12.34","creditor":"Bäckerei"}]"#.into(),
        ),
        challenge: format!("challenge-rt-{n}"),
        status: RequestStatus::Pending,
        created_at: 1_700_000_101,
        expires_at: 1_700_000_701,
        interval: 7,
        // Not columns of a new request: the lifecycle sets them (see the decision test).
        last_polled_at: None,
        decided_at: None,
        decided_by: None,
        amr: Vec::new(),
        deny_reason: None,
        redeemed_at: None,
        notification_token: Some(format!("bearer-notify-{n}")),
        notify_auth_req_id: Some(format!("auth-req-id-{n}")),
    }
}

fn audit_trail(r: &CibaRequest) -> Vec<NewAuditEvent> {
    vec![
        NewAuditEvent {
            at: r.created_at,
            kind: "ciba_request",
            user_id: Some(r.user_id.clone()),
            client_id: Some(r.client_id.clone()),
            device_id: Some("dev-audit".into()),
            request_id: Some(r.id.clone()),
            detail: serde_json::json!({"scope": r.scope, "nested": {"list": [1, 2.5, null]}, "text": "é✓"}),
        },
        NewAuditEvent {
            at: r.created_at + 1,
            kind: "push_enqueued",
            user_id: Some(r.user_id.clone()),
            client_id: None,
            device_id: None,
            request_id: Some(r.id.clone()),
            detail: serde_json::json!({"devices": 2}),
        },
    ]
}

async fn request_round_trips_with_its_wakeups_and_audit_trail(s: Fresh) {
    let s = s.store;
    let request = distinctive_request(1);
    let pushes = [
        NewWakeup {
            device_id: "dev-a".into(),
            provider: PushProvider::Fcm,
            deadline: request.expires_at,
        },
        NewWakeup {
            device_id: "dev-b".into(),
            provider: PushProvider::Apns,
            deadline: request.expires_at - 1,
        },
    ];
    let audit = audit_trail(&request);
    s.insert_request(&request, &pushes, &audit, None)
        .await
        .unwrap();

    assert_eq!(s.request(&request.id).await.unwrap(), Some(request.clone()));
    assert_eq!(
        s.request_by_auth_req_id(&request.auth_req_id_hash)
            .await
            .unwrap(),
        Some(request.clone())
    );
    assert_eq!(
        s.pending_requests_of_user(&request.user_id, request.created_at)
            .await
            .unwrap(),
        vec![request.clone()]
    );

    let deliveries: Vec<WakeupDelivery> = pushes
        .iter()
        .map(|p| WakeupDelivery {
            device_id: p.device_id.clone(),
            provider: p.provider.as_str().to_owned(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: request.created_at,
            last_error: None,
            created_at: request.created_at,
            sent_at: None,
        })
        .collect();
    assert_eq!(s.wakeups_of_request(&request.id).await.unwrap(), deliveries);

    let events = s
        .audit_events(
            &AuditFilter {
                user_id: Some(request.user_id.clone()),
                ..AuditFilter::default()
            },
            100,
        )
        .await
        .unwrap();
    let expected: Vec<AuditEvent> = audit
        .iter()
        .zip(&events)
        .map(|(e, got)| AuditEvent {
            id: got.id,
            at: e.at,
            kind: e.kind.to_owned(),
            user_id: e.user_id.clone(),
            client_id: e.client_id.clone(),
            device_id: e.device_id.clone(),
            request_id: e.request_id.clone(),
            detail: e.detail.clone(),
        })
        .collect();
    assert_eq!(events, expected);
    assert!(events[0].id < events[1].id);
    assert_eq!(
        s.audit_events(
            &AuditFilter {
                since: Some(request.created_at + 1),
                ..AuditFilter::default()
            },
            100,
        )
        .await
        .unwrap(),
        expected[1..]
    );

    // The claim reads the wake-ups back with their request (their devices are unknown here).
    let lease = request.created_at + 30;
    let claimed = s
        .claim_wakeups(request.created_at, lease, 10)
        .await
        .unwrap();
    let entries: Vec<WakeupEntry> = pushes
        .iter()
        .zip(&claimed)
        .map(|(p, got)| WakeupEntry {
            id: got.id,
            request_id: request.id.clone(),
            device_id: p.device_id.clone(),
            provider: p.provider,
            attempts: 1,
            created_at: request.created_at,
            deadline: p.deadline,
            target: None,
            request: Some((RequestStatus::Pending, request.expires_at)),
            user_id: Some(request.user_id.clone()),
        })
        .collect();
    assert_eq!(claimed, entries);
    assert!(
        s.claim_wakeups(request.created_at, lease, 10)
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
}

async fn request_decisions_and_outbox_claims_round_trip(s: Fresh) {
    let s = s.store;
    // Approved, polled and redeemed: every lifecycle column set.
    let approved = distinctive_request(2);
    s.insert_request(&approved, &[], &[], None).await.unwrap();
    let polled_at = approved.created_at + 9;
    assert_eq!(
        s.poll_pending(
            &approved.auth_req_id_hash,
            &approved.client_id,
            polled_at,
            3
        )
        .await
        .unwrap(),
        Some(PollOutcome::Allowed)
    );
    let decided_at = approved.created_at + 20;
    let decision_event = |request: &CibaRequest, device: &str, action: &str| NewAuditEvent {
        at: decided_at,
        kind: "decision",
        user_id: Some(request.user_id.clone()),
        client_id: Some(request.client_id.clone()),
        device_id: Some(device.into()),
        request_id: Some(request.id.clone()),
        detail: serde_json::json!({"action": action}),
    };
    let approval = Decision {
        approved: true,
        device_id: "dev-decider".into(),
        amr: vec!["face".into(), "hwk".into()],
        deny_reason: None,
        notification: None,
        audit: vec![decision_event(&approved, "dev-decider", "approve")],
    };
    assert!(s.decide(&approved.id, &approval, decided_at).await.unwrap());
    let redeemed_at = approved.created_at + 25;
    assert!(s.redeem(&approved.id, redeemed_at).await.unwrap());
    let expected = CibaRequest {
        status: RequestStatus::Redeemed,
        last_polled_at: Some(polled_at),
        decided_at: Some(decided_at),
        decided_by: Some("dev-decider".into()),
        amr: vec!["face".into(), "hwk".into()],
        redeemed_at: Some(redeemed_at),
        ..approved.clone()
    };
    assert_eq!(
        s.request(&approved.id).await.unwrap(),
        Some(expected.clone())
    );
    assert_eq!(
        s.request_by_auth_req_id(&approved.auth_req_id_hash)
            .await
            .unwrap(),
        Some(expected)
    );

    // Denied with a reason, and a ping enqueued with the decision.
    let denied = distinctive_request(3);
    s.insert_request(&denied, &[], &[], None).await.unwrap();
    let denial = Decision {
        approved: false,
        device_id: "dev-denier".into(),
        amr: vec!["pin".into()],
        deny_reason: Some("not me ✗".into()),
        notification: Some(NewClientNotification {
            client_id: denied.client_id.clone(),
            kind: NotificationKind::Ping,
            deadline: denied.expires_at + 60,
        }),
        audit: vec![decision_event(&denied, "dev-denier", "deny")],
    };
    assert!(s.decide(&denied.id, &denial, decided_at).await.unwrap());
    let mut losing = approval.clone();
    losing.audit = vec![decision_event(&denied, "dev-decider", "approve")];
    assert!(
        !s.decide(&denied.id, &losing, decided_at).await.unwrap(),
        "decided once"
    );
    // Each decision's audit trail committed with it; the losing one's with nothing.
    for (request, device, action) in [
        (&approved, "dev-decider", "approve"),
        (&denied, "dev-denier", "deny"),
    ] {
        let events = s.audit_events_of_request(&request.id).await.unwrap();
        let decisions: Vec<_> = events.iter().filter(|e| e.kind == "decision").collect();
        assert_eq!(decisions.len(), 1, "{events:?}");
        assert_eq!(decisions[0].device_id.as_deref(), Some(device));
        assert_eq!(decisions[0].detail["action"], action);
        assert_eq!(decisions[0].at, decided_at);
    }
    let expected = CibaRequest {
        status: RequestStatus::Denied,
        decided_at: Some(decided_at),
        decided_by: Some("dev-denier".into()),
        amr: vec!["pin".into()],
        deny_reason: Some("not me ✗".into()),
        ..denied.clone()
    };
    assert_eq!(s.request(&denied.id).await.unwrap(), Some(expected));

    let claimed = s
        .claim_client_notifications(decided_at, decided_at + 30, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "{claimed:?}");
    assert_eq!(
        claimed[0],
        ClientNotificationEntry {
            id: claimed[0].id,
            request_id: denied.id.clone(),
            client_id: denied.client_id.clone(),
            kind: NotificationKind::Ping,
            payload: None,
            attempts: 1,
            created_at: decided_at,
            deadline: denied.expires_at + 60,
        }
    );
    s.finish_client_notification(
        claimed[0].id,
        NotificationFinal::Delivered,
        decided_at + 1,
        None,
    )
    .await
    .unwrap();
    // A delivered notification no longer needs the auth_req_id in clear.
    let after = s.request(&denied.id).await.unwrap().unwrap();
    assert_eq!(after.notify_auth_req_id, None);
}

async fn users_round_trip(s: Fresh) {
    let s = s.store;
    for (n, status) in UserStatus::ALL.iter().enumerate() {
        let user = User {
            id: format!("usr_{n}"),
            subject: format!("sub-{n}"),
            username: format!("name-{n}"),
            email: Some(format!("u{n}@example.test")),
            phone: Some(format!("+4670000000{n}")),
            display_name: Some(format!("Ünïcode Ñame {n}")),
            status: *status,
            created_at: 1_700_000_000 + n as i64,
        };
        s.insert_user(&user).await.unwrap();
        let found = Some(user.clone());
        assert_eq!(s.user(&user.id).await.unwrap(), found);
        assert_eq!(s.user_by_subject(&user.subject).await.unwrap(), found);
        for hint in [
            &user.subject,
            &user.username,
            user.email.as_ref().unwrap(),
            user.phone.as_ref().unwrap(),
        ] {
            assert_eq!(s.user_by_login_hint(hint).await.unwrap(), found, "{hint}");
        }
        for other in UserStatus::ALL {
            assert!(s.set_user_status(&user.id, *other).await.unwrap());
            assert_eq!(
                s.user(&user.id).await.unwrap(),
                Some(User {
                    status: *other,
                    ..user.clone()
                })
            );
        }
    }
    assert_eq!(s.user_by_login_hint("nobody").await.unwrap(), None);
}

async fn clients_round_trip(s: Fresh) {
    let s = s.store;
    let mut n = 0;
    for mode in DeliveryMode::ALL {
        for method in ClientAuthMethod::ALL {
            n += 1;
            let client = Client {
                id: format!("client-{n}"),
                name: format!("Bänk {n}"),
                logo_uri: Some(format!("https://bank.example/logo-{n}.png")),
                delivery_mode: *mode,
                notification_endpoint: Some(format!("https://bank.example/notify/{n}")),
                auth_method: *method,
                secret_hash: Some(format!("secret-hash-{n}")),
                scope: vec!["openid".into(), "accounts".into(), format!("extra:{n}")],
                user_code_parameter: n % 2 == 1,
                request_signing_alg: Some("ES256".into()),
                jwks: Some(format!(r#"{{"keys":[{{"kid":"k{n}"}}]}}"#)),
                jwks_uri: Some(format!("https://bank.example/jwks/{n}")),
                fapi: n % 2 == 0,
                tls_client_auth: (n % 3 == 0).then(|| {
                    crate::store::TlsClientName::SubjectDn(format!("CN=client-{n},O=Bänk"))
                }),
                refresh_token_grant: n % 2 == 1,
                id_token_signed_response_alg: (n % 2 == 0).then(|| "PS256".into()),
                registration_token_hash: (n % 3 == 1).then(|| "rat-hash".into()),
                created_at: 1_700_000_000 + n,
            };
            s.insert_client(&client).await.unwrap();
            assert_eq!(s.client(&client.id).await.unwrap(), Some(client));
        }
    }
}

async fn devices_round_trip(s: Fresh) {
    let s = s.store;
    let user = User {
        id: "usr_dev".into(),
        subject: "sub-dev".into(),
        username: "device-owner".into(),
        email: None,
        phone: None,
        display_name: None,
        status: UserStatus::Active,
        created_at: 1,
    };
    s.insert_user(&user).await.unwrap();
    let kinds = [
        (
            Platform::Android,
            PushProvider::Fcm,
            PushEnvironment::Production,
        ),
        (Platform::Ios, PushProvider::Apns, PushEnvironment::Sandbox),
        (
            Platform::Other,
            PushProvider::None,
            PushEnvironment::Production,
        ),
    ];
    let mut enrolled = Vec::new();
    for (n, (platform, provider, environment)) in kinds.into_iter().enumerate() {
        let n = n as i64;
        let enrollment = Enrollment {
            id: format!("enr_{n}"),
            user_id: user.id.clone(),
            code_hash: format!("code-{n}"),
            created_at: 10 + n,
            expires_at: 1000,
        };
        s.insert_enrollment(&enrollment).await.unwrap();
        let device = Device {
            id: format!("dev_{n}"),
            user_id: user.id.clone(),
            jkt: format!("jkt-{n}"),
            public_jwk: format!(r#"{{"kty":"EC","x":"{n}"}}"#),
            status: DeviceStatus::Active,
            push_provider: provider,
            push_token: Some(format!("push-token-{n}")),
            push_environment: environment,
            push_token_invalid_at: None,
            display_name: format!("Phöne {n}"),
            platform,
            model: Some(format!("Model {n}")),
            os_version: Some(format!("OS {n}.1")),
            app_version: Some(format!("App {n}.2")),
            sdk_version: Some(format!("SDK {n}.3")),
            enrolled_at: 100 + n,
            revoked_at: None,
            last_seen_at: Some(100 + n),
            attestation: (n % 2 == 0).then(|| format!(r#"{{"status":"verified","n":{n}}}"#)),
            approval_jwk: (n % 3 == 0).then(|| format!(r#"{{"kty":"EC","y":"{n}"}}"#)),
            approval_attestation: (n % 3 == 0).then(|| r#"{"status":"none"}"#.to_owned()),
        };
        assert_eq!(
            s.enroll_device(&enrollment.code_hash, 50, &device)
                .await
                .unwrap(),
            EnrollOutcome::Enrolled {
                user_id: user.id.clone()
            }
        );
        assert_eq!(s.device(&device.id).await.unwrap(), Some(device.clone()));
        assert_eq!(
            s.device_by_jkt(&device.jkt).await.unwrap(),
            Some(device.clone())
        );
        enrolled.push(device);
    }
    enrolled.reverse();
    assert_eq!(s.devices_of_user(&user.id).await.unwrap(), enrolled);

    // Every push registration reads back, then a dead token, then the revocation.
    let mut device = enrolled.pop().unwrap();
    for provider in [PushProvider::Apns, PushProvider::None, PushProvider::Fcm] {
        for environment in [PushEnvironment::Sandbox, PushEnvironment::Production] {
            let token = format!("{}-{}", provider.as_str(), environment.as_str());
            assert!(
                s.update_push(&device.id, provider, Some(&token), environment)
                    .await
                    .unwrap()
            );
            device = Device {
                push_provider: provider,
                push_token: Some(token),
                push_environment: environment,
                ..device
            };
            assert_eq!(s.device(&device.id).await.unwrap(), Some(device.clone()));
        }
    }
    // A new key drops what was attested about the old one.
    let attested = enrolled
        .iter()
        .find(|d| d.attestation.is_some())
        .unwrap()
        .clone();
    assert!(
        s.rotate_device_key(&attested.id, &attested.jkt, "jkt-new", "{}")
            .await
            .unwrap()
    );
    assert_eq!(
        s.device(&attested.id).await.unwrap().unwrap().attestation,
        None
    );

    let token = device.push_token.clone().unwrap();
    assert!(
        s.invalidate_push_token(&device.id, &token, 300)
            .await
            .unwrap()
    );
    assert!(s.revoke_device(&device.id, 400).await.unwrap());
    let revoked = Device {
        status: DeviceStatus::Revoked,
        push_token_invalid_at: Some(300),
        revoked_at: Some(400),
        ..device
    };
    assert_eq!(s.device(&revoked.id).await.unwrap(), Some(revoked.clone()));
    assert_eq!(
        s.devices_of_user(&user.id).await.unwrap().last(),
        Some(&revoked)
    );
}

fn plain_user(id: &str, username: &str, email: Option<&str>, phone: Option<&str>) -> User {
    User {
        id: id.into(),
        subject: format!("sub-{id}"),
        username: username.into(),
        email: email.map(str::to_owned),
        phone: phone.map(str::to_owned),
        display_name: None,
        status: UserStatus::Active,
        created_at: 1,
    }
}

async fn a_login_hint_names_at_most_one_user(s: Fresh) {
    let s = s.store;
    let alice = plain_user("usr_a", "alice", Some("alice@bank.example"), Some("+3312"));
    s.insert_user(&alice).await.unwrap();
    // Another user whose username is alice's email (or phone, or subject) is refused whole.
    for (username, email) in [
        ("alice@bank.example", None),
        ("mallory", Some("alice")),
        ("+3312", None),
        ("sub-usr_a", None),
    ] {
        let mallory = plain_user("usr_m", username, email, None);
        assert!(
            matches!(s.insert_user(&mallory).await, Err(StoreError::Conflict(_))),
            "{username} {email:?}"
        );
        assert_eq!(s.user("usr_m").await.unwrap(), None, "nothing of it stored");
    }
    for hint in ["alice", "alice@bank.example", "+3312", "sub-usr_a"] {
        assert_eq!(
            s.user_by_login_hint(hint).await.unwrap().map(|u| u.id),
            Some("usr_a".to_owned()),
            "{hint}"
        );
    }
    // A user may use one value twice (the email as the username).
    let bob = plain_user("usr_b", "bob@bank.example", Some("bob@bank.example"), None);
    s.insert_user(&bob).await.unwrap();
    assert_eq!(
        s.user_by_login_hint("bob@bank.example")
            .await
            .unwrap()
            .map(|u| u.id),
        Some("usr_b".to_owned())
    );
    // Deleting a user frees their identifiers.
    assert!(s.delete_user("usr_b").await.unwrap());
    assert_eq!(
        s.user_by_login_hint("bob@bank.example").await.unwrap(),
        None
    );
}

async fn the_pending_limit_per_user_holds_under_concurrency(s: Fresh) {
    let s = s.store;
    // An expired request does not count.
    let mut expired = tests::request(0, "h0");
    expired.expires_at = 50;
    assert_eq!(
        s.insert_request(&expired, &[], &[], Some(5)).await.unwrap(),
        InsertOutcome::Inserted
    );
    let mut burst = tokio::task::JoinSet::new();
    for n in 1..=40 {
        let s = s.clone();
        burst.spawn(async move {
            let audit = NewAuditEvent {
                at: 100,
                kind: "ciba_request",
                user_id: Some("u".into()),
                client_id: Some("c".into()),
                device_id: None,
                request_id: Some(format!("txn_{n}")),
                detail: serde_json::json!({}),
            };
            let request = tests::request(n, &format!("h{n}"));
            (
                n,
                s.insert_request(&request, &[], &[audit], Some(5))
                    .await
                    .unwrap(),
            )
        });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = burst.join_next().await {
        outcomes.push(joined.unwrap());
    }
    let mut inserted = Vec::new();
    for (n, outcome) in outcomes {
        let stored = s.request(&format!("txn_{n}")).await.unwrap();
        match outcome {
            InsertOutcome::Inserted => {
                assert!(stored.is_some());
                inserted.push(n);
            }
            InsertOutcome::UserAtLimit => assert!(stored.is_none(), "{n} was stored"),
        }
    }
    assert_eq!(inserted.len(), 5, "{inserted:?}");
    assert_eq!(s.pending_requests_of_user("u", 100).await.unwrap().len(), 5);
    // Refused requests left no audit rows either.
    assert_eq!(
        s.audit_events(&AuditFilter::default(), 100)
            .await
            .unwrap()
            .len(),
        5
    );
}

async fn locking_a_user_cancels_and_notifies_their_requests(s: Fresh) {
    let s = s.store;
    s.insert_user(&plain_user("u", "carol", None, None))
        .await
        .unwrap();
    for (id, mode) in [("c", DeliveryMode::Ping), ("poll", DeliveryMode::Poll)] {
        s.insert_client(&Client {
            id: id.into(),
            name: id.into(),
            logo_uri: None,
            delivery_mode: mode,
            notification_endpoint: None,
            auth_method: ClientAuthMethod::ClientSecretBasic,
            secret_hash: None,
            scope: vec!["openid".into()],
            user_code_parameter: false,
            request_signing_alg: None,
            jwks: None,
            jwks_uri: None,
            fapi: false,
            tls_client_auth: None,
            refresh_token_grant: false,
            id_token_signed_response_alg: None,
            registration_token_hash: None,
            created_at: 1,
        })
        .await
        .unwrap();
    }
    // A pending and an approved request of the ping client, a pending one of the poll client.
    s.insert_request(&tests::request(1, "h1"), &[], &[], None)
        .await
        .unwrap();
    s.insert_request(&tests::request(2, "h2"), &[], &[], None)
        .await
        .unwrap();
    let decision = Decision {
        approved: true,
        device_id: "d".into(),
        amr: vec!["swk".into()],
        deny_reason: None,
        notification: None,
        audit: Vec::new(),
    };
    assert!(s.decide("txn_2", &decision, 110).await.unwrap());
    let mut polled = tests::request(3, "h3");
    polled.client_id = "poll".into();
    s.insert_request(&polled, &[], &[], None).await.unwrap();

    assert_eq!(s.lock_user("u", 120, 600).await.unwrap(), Some(3));
    for n in 1..=3 {
        let r = s.request(&format!("txn_{n}")).await.unwrap().unwrap();
        assert_eq!(r.status, RequestStatus::Cancelled, "txn_{n}");
    }
    assert_eq!(
        s.user("u").await.unwrap().unwrap().status,
        UserStatus::Locked
    );
    // The ping client is told about both of its requests; the poll client polls.
    let mut told: Vec<String> = s
        .claim_client_notifications(120, 180, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| {
            assert_eq!(n.kind, NotificationKind::Ping);
            assert_eq!(n.deadline, 600);
            n.request_id
        })
        .collect();
    told.sort();
    assert_eq!(told, ["txn_1", "txn_2"]);
    // A later decision is refused.
    assert!(!s.decide("txn_1", &decision, 130).await.unwrap());
    assert_eq!(s.lock_user("nobody", 120, 600).await.unwrap(), None);
}
