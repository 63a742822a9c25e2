//! `ciba-crash`: a crash-safety harness. It starts `ciba-server` as a child process on one
//! database, drives a mixed load through it, kills it with SIGKILL at a random moment, starts it
//! again on the same database and port, checks that nothing the server had acknowledged was
//! lost or doubled, and goes on, N times; then it drains, sweeps and checks the database.
//! `scripts/crash.sh` runs it on SQLite and PostgreSQL; `bench/CRASH.md` says what it checks.

pub mod checks;
pub mod db;
pub mod ledger;
pub mod load;
pub mod receiver;
pub mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ciba_core::authenticator::AuthenticatorConfig;
use serde_json::json;

use crate::client::Http;
use crate::setup::AdminApi;
use ledger::{Counters, Shared};
use load::{Cycle, Lane, World};
use server::{Server, ServerSpec};

/// Crash-safety harness for ciba-server.
#[derive(Debug, Clone, clap::Parser)]
#[command(version, about)]
pub struct Options {
    /// A label for the report (e.g. "sqlite").
    #[arg(long)]
    pub engine: String,
    /// The ciba-server binary.
    #[arg(long)]
    pub server_bin: PathBuf,
    /// The database (sqlite://… or postgres://…); one for the whole run.
    #[arg(long)]
    pub database_url: String,
    /// Where the configuration and the server's log go.
    #[arg(long)]
    pub work_dir: PathBuf,
    /// How many times the server is killed.
    #[arg(long, default_value_t = 100)]
    pub kills: usize,
    /// Shortest load before a kill (milliseconds).
    #[arg(long, default_value_t = 200)]
    pub min_load_ms: u64,
    /// Longest load before a kill (milliseconds).
    #[arg(long, default_value_t = 1500)]
    pub max_load_ms: u64,
    /// Users, each with one device and three tasks.
    #[arg(long, default_value_t = 4)]
    pub lanes: usize,
    /// How long a (re)started server may take to answer /readyz (seconds).
    #[arg(long, default_value_t = 30)]
    pub ready_timeout_secs: u64,
    /// How long the end waits for the last pings (seconds; a killed server's claimed
    /// notifications are taken over after their 60-second lease).
    #[arg(long, default_value_t = 150)]
    pub drain_secs: u64,
    /// The whole run stops killing after this many seconds, and says so.
    #[arg(long, default_value_t = 2400)]
    pub max_secs: u64,
    /// Seed of the kill moments (random by default).
    #[arg(long)]
    pub seed: Option<u64>,
    /// RUST_LOG of the server.
    #[arg(long, default_value = "warn")]
    pub server_log: String,
    /// SELF-TEST of the harness, SQLite only: after each kill, delete the database's write-ahead
    /// log (`-wal`, `-shm`), throwing away commits not yet checkpointed into the main file. The
    /// harness must then report lost decisions (and exit non-zero).
    #[arg(long)]
    pub self_test_drop_wal: bool,
}

/// The self-test's sabotage: deletes the write-ahead log of a SQLite database.
fn drop_wal(database_url: &str) -> Result<(), String> {
    let Some(path) = database_url.strip_prefix("sqlite://") else {
        return Err("--self-test-drop-wal needs a sqlite:// database".into());
    };
    for suffix in ["-wal", "-shm"] {
        match std::fs::remove_file(format!("{path}{suffix}")) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{path}{suffix}: {e}")),
        }
    }
    Ok(())
}

/// splitmix64: the kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high.saturating_sub(low) + 1)
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

fn free_port() -> Result<u16, String> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(socket.local_addr().map_err(|e| e.to_string())?.port())
}

fn config_toml(work_dir: &std::path::Path) -> String {
    format!(
        r#"# Written by ciba-crash.
log_format = "text"
database_max_connections = 16
data_dir = "{data}"
[ciba]
poll_interval = 1
# No request may expire during the run: an acknowledged approval must stay redeemable.
default_expiry = 7200
max_expiry = 7200
# A few users make all the requests: the push-bombing limits would refuse them.
max_pending_requests_per_user = 0
client_requests_per_second = 0
[notifications]
# The ping receiver is the harness, on loopback.
allow_plain_http = true
allow_private_networks = true
worker_interval_ms = 200
"#,
        data = work_dir.join("data").display()
    )
}

/// The percentile `p` of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs the harness; `Ok(true)` when no violation was found.
pub async fn run(options: Options) -> Result<bool, String> {
    let started = Instant::now();
    std::fs::create_dir_all(options.work_dir.join("data")).map_err(|e| e.to_string())?;
    let config = options.work_dir.join("crash.toml");
    std::fs::write(&config, config_toml(&options.work_dir)).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    let base = format!("http://{listen}");
    let admin_token = format!(
        "crash-admin-{}",
        ciba_core::jose::software::random_b64u(16).map_err(|e| e.to_string())?
    );
    let seed = options.seed.unwrap_or_else(random_seed);
    let mut rng = Rng(seed);
    let log = options.work_dir.join("server.log");
    if options.self_test_drop_wal {
        println!(
            "[{}] SELF-TEST: the write-ahead log is deleted after every kill; violations are expected",
            options.engine
        );
    }
    println!(
        "[{}] {} kills, load {}–{} ms before each, {} lanes, seed {seed}; server log {}",
        options.engine,
        options.kills,
        options.min_load_ms,
        options.max_load_ms,
        options.lanes,
        log.display()
    );

    let ledger = Shared::default();
    ledger.lock().generation = 1;
    ledger.lock().open = vec![Default::default(); options.lanes];
    let ready_timeout = Duration::from_secs(options.ready_timeout_secs);
    let mut server = Server::new(ServerSpec {
        bin: options.server_bin.clone(),
        config,
        listen: listen.clone(),
        database_url: options.database_url.clone(),
        admin_token: admin_token.clone(),
        log,
        rust_log: options.server_log.clone(),
    })?;
    let first_start = server.wait_ready(ready_timeout).await?;

    let receiver = receiver::start(ledger.clone()).await?;
    let api = AdminApi {
        http: reqwest::Client::builder()
            .timeout(load::CALL_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?,
        base: base.clone(),
        token: admin_token,
    };
    let poll_client = api
        .client(json!({"name": "Crash Poll", "backchannel_token_delivery_mode": "poll"}))
        .await?;
    let ping_client = api
        .client(json!({"name": "Crash Ping", "backchannel_token_delivery_mode": "ping",
                       "backchannel_client_notification_endpoint": format!("http://{receiver}/ping")}))
        .await?;
    let run_id = ciba_core::jose::software::random_b64u(6).map_err(|e| e.to_string())?;
    let sdk_config = AuthenticatorConfig {
        timeout: load::CALL_TIMEOUT,
        ..AuthenticatorConfig::default()
    };
    let mut lanes = Vec::new();
    for index in 0..options.lanes {
        let username = format!("crash-{run_id}-{index}");
        let user = api
            .enrolled_user(
                &username,
                &format!("crash device {index}"),
                sdk_config.clone(),
            )
            .await?;
        let account_id = user
            .sdk
            .accounts()
            .map_err(|e| e.to_string())?
            .first()
            .map(|a| a.id.clone())
            .ok_or("enrolled, but the SDK has no account")?;
        lanes.push(Arc::new(Lane {
            index,
            user,
            account_id,
        }));
    }
    let world = Arc::new(World {
        ledger: ledger.clone(),
        lanes,
        poll_client,
        ping_client,
        seq: AtomicU64::new(0),
    });
    let new_cycle = || -> Result<Arc<Cycle>, String> {
        Ok(Arc::new(Cycle {
            http: Http::for_base(&base).ok_or("the base is not http://ip:port")?,
            stop: AtomicBool::new(false),
        }))
    };

    let mut restarts: Vec<Duration> = Vec::new();
    let mut kills = 0;
    let mut stopped_early = None;
    let mut previous = Counters::default();
    for k in 1..=options.kills {
        if started.elapsed() > Duration::from_secs(options.max_secs) {
            stopped_early = Some(format!(
                "stopped after {} of {} kills: the run's {} s budget was spent",
                k - 1,
                options.kills,
                options.max_secs
            ));
            break;
        }
        let cycle = new_cycle()?;
        let tasks = load::start(&world, &cycle);
        let load_ms = rng.between(options.min_load_ms, options.max_load_ms);
        tokio::time::sleep(Duration::from_millis(load_ms)).await;

        // The kill, with the load in flight.
        {
            let mut l = ledger.lock();
            let g = l.generation;
            l.killed_at.insert(g, Instant::now());
        }
        server.kill()?;
        cycle.stop.store(true, Ordering::Relaxed);
        let mut tasks = tasks;
        match tokio::time::timeout(Duration::from_secs(20), async {
            let mut results = Vec::new();
            while let Some(r) = tasks.join_next().await {
                results.push(r);
            }
            results
        })
        .await
        {
            Ok(results) => {
                for r in results {
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(format!("load task: {e}")),
                        Err(e) => return Err(format!("load task: {e}")),
                    }
                }
            }
            Err(_) => {
                tasks.abort_all();
                return Err("the load tasks did not stop within 20 s of the kill".into());
            }
        }
        kills += 1;

        if options.self_test_drop_wal {
            drop_wal(&options.database_url)?;
        }
        ledger.lock().generation += 1;
        server.restart()?;
        let restart = match server.wait_ready(ready_timeout).await {
            Ok(d) => d,
            Err(e) => {
                ledger
                    .lock()
                    .violation("server did not start after a kill", e.clone());
                stopped_early = Some(format!("stopped at kill {k}: {e}"));
                break;
            }
        };
        restarts.push(restart);
        let read = checks::after_restart(&world, false).await;

        let l = ledger.lock();
        let c = &l.counters;
        println!(
            "[{}] kill {k}/{} after {load_ms} ms of load: +{} accepted, +{} decisions acknowledged, +{} tokens, +{} pings; in doubt: {} requests, {} decisions, {} token answers; restart {:.0} ms; {read} decisions read back; violations {}",
            options.engine,
            options.kills,
            c.accepted - previous.accepted,
            c.decisions_acked - previous.decisions_acked,
            c.tokens_issued - previous.tokens_issued,
            c.pings_received - previous.pings_received,
            c.backchannel_unanswered - previous.backchannel_unanswered,
            c.decisions_unanswered - previous.decisions_unanswered,
            c.token_unanswered - previous.token_unanswered,
            restart.as_secs_f64() * 1000.0,
            l.violation_count()
        );
        previous = c.clone();
    }

    // The end: the server runs on (no load) until every decided ping-client request is pinged,
    // every decision is read back, every request owed a token answer gets one.
    println!("[{}] final checks", options.engine);
    let (drain, missing, outbox_pending) = checks::drain_pings(
        &world,
        &options.database_url,
        Duration::from_secs(options.drain_secs),
    )
    .await;
    let read_all = checks::after_restart(&world, true).await;
    let cycle = new_cycle()?;
    checks::token_sweep(&world, &cycle).await;
    let pings = checks::analyse_pings(&mut ledger.lock());
    server.kill()?;
    let db = db::read(&options.database_url)
        .await
        .map(|data| db::check(data, &mut ledger.lock()));

    let l = ledger.lock();
    let c = &l.counters;
    let mut sorted = restarts.clone();
    sorted.sort();
    let violations = l.violation_count();
    let wall = started.elapsed();
    println!();
    println!("## {} — {} kills", options.engine, kills);
    if let Some(why) = &stopped_early {
        println!("**{why}**");
    }
    println!();
    println!(
        "| engine | kills | requests accepted | decisions acknowledged | tokens issued | pings delivered | violations | restart p50 | restart p99 | wall time |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {kills} | {} | {} | {} | {} | **{violations}** | {:.0} ms | {:.0} ms | {:.0} s |",
        options.engine,
        c.accepted,
        c.decisions_acked,
        c.tokens_issued,
        pings.delivered,
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        wall.as_secs_f64()
    );
    println!();
    println!("Answers lost in the crashes (expected, not violations):");
    println!(
        "- backchannel requests unanswered: {} ({} of them were created all the same: the device listed them)",
        c.backchannel_unanswered, c.orphans_found
    );
    println!(
        "- decisions unanswered: {} (read back after the restart: {} committed, {} not committed and sent again)",
        c.decisions_unanswered, c.decisions_committed_unacked, c.decisions_lost_unacked
    );
    println!(
        "- token requests unanswered: {}; invalid_grant where that lost answer had redeemed the request: {}",
        c.token_unanswered, c.invalid_grant_after_lost_answer
    );
    println!(
        "- pings re-sent after a crash: {} (first 204 at most {} ms before the kill; the server had not recorded it); pings for requests whose acceptance answer was lost: {}",
        pings.resent_after_crash,
        pings.longest_resend_gap.as_millis(),
        pings.orphans
    );
    println!();
    println!(
        "Also: {} backchannel requests sent ({} refused), {} token requests ({} authorization_pending, {} slow_down, {} access_denied, {} invalid_grant after the tokens, {} other), {} pings received in all, {} decisions refused; decisions read back after the restarts: {} (at the end: {read_all}); drained in {:.1} s ({missing} decided ping requests not pinged, outbox pending at the end of the drain: {}); first start {:.0} ms.",
        c.backchannel_sent,
        c.backchannel_refused,
        c.token_requests,
        c.token_pending,
        c.token_slow_down,
        c.token_access_denied,
        c.invalid_grant_after_success,
        c.token_other,
        c.pings_received,
        c.decisions_refused,
        c.decisions_verified,
        drain.as_secs_f64(),
        match &outbox_pending {
            Ok(n) => n.to_string(),
            Err(e) => format!("unknown ({e})"),
        },
        first_start.as_secs_f64() * 1000.0
    );
    match &db {
        Ok(db) => {
            let list = |v: &[(String, usize)]| {
                v.iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            println!(
                "Database after the last kill: integrity_check {}; requests: {}; outbox: {}.",
                db.integrity.as_deref().unwrap_or("n/a (PostgreSQL)"),
                list(&db.requests_by_status),
                list(&db.outbox_by_status)
            );
        }
        Err(e) => println!("Database check failed: {e}"),
    }
    println!();
    if violations > 0 {
        println!("Violations:");
        for (kind, n) in &l.violations {
            println!("- {kind}: {n}");
        }
        for d in &l.details {
            println!("  {d}");
        }
    }
    Ok(violations == 0 && db.is_ok() && stopped_early.is_none())
}
