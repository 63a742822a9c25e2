//! `ciba-load`: a load benchmark for a running `ciba-server`.
//!
//! It sets up users (each with an authenticator device, the real SDK) and clients through the
//! admin API, then measures, at each requested concurrency:
//! - backchannel authentication requests per second;
//! - token polls per second on pending requests (answered `authorization_pending`);
//! - token polls per second on approved requests (answered with tokens);
//! - end-to-end latency from the device's decision to the client holding tokens, in ping mode
//!   (decision → ping to the client's endpoint → token request).
//!
//! The server must allow loopback notification endpoints (`--dev-local-notifications`) and should
//! run with a short poll interval (`ciba.poll_interval = 1`), so most pending polls are answered
//! `authorization_pending` rather than `slow_down` (both are counted, the latter shown apart).
//! `scripts/bench.sh` starts such a server on SQLite or PostgreSQL and runs this.

mod phases;

use ciba_bench::setup;

use std::time::Duration;

use clap::Parser;

/// Load benchmark for ciba-server.
#[derive(Debug, Parser, Clone)]
#[command(version, about)]
pub struct Args {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub base: String,
    /// Other instances of the same server (one database, same issuer): the measured calls'
    /// connections are spread over the base and these, in turn (plain `http://ip:port` URLs);
    /// the setup and the devices' decisions go to the base.
    #[arg(long, value_delimiter = ',')]
    pub also: Vec<String>,
    /// The server driven: ciba-server, or a peer of `bench/peers/` (its static users and
    /// clients; approvals through its own endpoints).
    #[arg(long, value_enum, default_value = "ciba-server")]
    pub peer: setup::Peer,
    /// The admin API token (ciba-server).
    #[arg(long, env = "CIBA_ADMIN_TOKEN", default_value = "")]
    pub admin_token: String,
    /// Where a peer's approvals go (default: node-oidc-provider's base; Keycloak's channel
    /// receiver at http://127.0.0.1:8998).
    #[arg(long)]
    pub approve_base: Option<String>,
    /// The ping receiver's address (a peer's registered notification endpoint, e.g.
    /// 127.0.0.1:8999); default a free loopback port.
    #[arg(long)]
    pub ping_listen: Option<String>,
    /// Seconds of unmeasured load first (backchannel requests and pending polls at the first
    /// concurrency), for a JIT's warm-up.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Concurrent clients, one run per value.
    #[arg(long, value_delimiter = ',', default_value = "16,256")]
    pub concurrency: Vec<usize>,
    /// Seconds per throughput phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Approved requests redeemed per "ready" phase.
    #[arg(long, default_value_t = 3000)]
    pub ready_requests: usize,
    /// Decisions per latency phase.
    #[arg(long, default_value_t = 2000)]
    pub e2e_requests: usize,
    /// Pending requests to create before the measured phases (ciba-server only), for measuring
    /// a full database (bench/scale.sh); they are not counted in the phases' figures.
    #[arg(long, default_value_t = 0)]
    pub seed: usize,
    /// Users the seeded requests are spread over.
    #[arg(long, default_value_t = 10_000)]
    pub seed_users: usize,
    /// `requested_expiry` of the seeded requests, seconds.
    #[arg(long, default_value_t = 600)]
    pub seed_expiry: u64,
    /// Only these phases (comma-separated: backchannel, poll-pending, poll-ready, decision);
    /// default all.
    #[arg(long, value_delimiter = ',')]
    pub phases: Vec<String>,
    /// A label for the report (e.g. "sqlite").
    #[arg(long, default_value = "")]
    pub label: String,
    /// Also write the results as JSON to this file (an array, one object per phase and
    /// concurrency), for comparing runs.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
}

/// One measured phase.
#[derive(Debug, Clone)]
pub struct Report {
    /// What was measured.
    pub phase: &'static str,
    /// Concurrent clients.
    pub concurrency: usize,
    /// Successful operations.
    pub ok: usize,
    /// Of which answered `slow_down` (pending polls).
    pub slow_down: usize,
    /// Other answers (errors).
    pub other: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Latencies of the successful operations, in microseconds, sorted.
    pub latencies_us: Vec<u64>,
    /// The first `other` answer (status and body), shown on stderr.
    pub first_other: Option<String>,
    /// The decision phase's stages per decision (µs): the decision call (the device's signed
    /// approval, or a peer's approval call), the wait for the ping after it, the token request.
    /// The peers ping before their approval call answers, so their wait is 0 and their decision
    /// call includes the ping.
    pub stages: Vec<[u64; 3]>,
}

/// The `p` quantile of sorted microseconds, in milliseconds (0 when empty).
fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i.min(sorted_us.len() - 1)] as f64 / 1000.0
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }

    /// p50 and p99 (ms) of each stage, when the phase has stages.
    fn stage_percentiles(&self) -> Option<[(f64, f64); 3]> {
        if self.stages.is_empty() {
            return None;
        }
        Some(std::array::from_fn(|i| {
            let mut v: Vec<u64> = self.stages.iter().map(|s| s[i]).collect();
            v.sort_unstable();
            (percentile_ms(&v, 0.5), percentile_ms(&v, 0.99))
        }))
    }

    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn row(&self, label: &str) -> String {
        format!(
            "| {label} | {} | {} | {:.0}/s | {:.2} ms | {:.2} ms | {} ok ({} slow_down), {} other |",
            self.phase,
            self.concurrency,
            self.rate(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.ok,
            self.slow_down,
            self.other
        )
    }

    fn json(&self, label: &str) -> serde_json::Value {
        serde_json::json!({
            "label": label,
            "phase": self.phase,
            "concurrency": self.concurrency,
            "rate_per_s": (self.rate() * 10.0).round() / 10.0,
            "p50_ms": self.percentile(0.5),
            "p99_ms": self.percentile(0.99),
            "ok": self.ok,
            "slow_down": self.slow_down,
            "other": self.other,
            "seconds": self.elapsed.as_secs_f64(),
            "stages_ms": self.stage_percentiles().map(|s| serde_json::json!({
                "decision_call": {"p50": s[0].0, "p99": s[0].1},
                "then_ping": {"p50": s[1].0, "p99": s[1].1},
                "then_tokens": {"p50": s[2].0, "p99": s[2].1},
            })),
        })
    }
}

/// The progress line of a phase (on stderr, so that stdout is the table).
fn progress(label: &str, phase: &str, concurrency: usize, what: &str) {
    eprintln!("[{label}] {phase} at {concurrency} clients: {what}");
}

/// A finished phase: its row on stderr at once (the table on stdout comes at the end).
fn done(label: &str, report: Report) -> Report {
    eprintln!("  {}", report.row(label));
    if let Some(s) = report.stage_percentiles() {
        eprintln!(
            "  stages (p50 / p99): decision call {:.2} / {:.2} ms, then the ping {:.2} / {:.2} ms, then tokens {:.2} / {:.2} ms",
            s[0].0, s[0].1, s[1].0, s[1].1, s[2].0, s[2].1
        );
    }
    if let Some(answer) = &report.first_other {
        eprintln!("  first other answer: {answer}");
    }
    report
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ciba-load: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ciba-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    const PHASES: [&str; 4] = ["backchannel", "poll-pending", "poll-ready", "decision"];
    if let Some(unknown) = args.phases.iter().find(|p| !PHASES.contains(&p.as_str())) {
        return Err(format!(
            "unknown phase {unknown:?}; the phases are {}",
            PHASES.join(", ")
        ));
    }
    let max = args.concurrency.iter().copied().max().unwrap_or(16);
    let env = std::sync::Arc::new(
        setup::Environment::create(
            args.peer,
            &args.base,
            &args.also,
            &args.admin_token,
            args.approve_base.as_deref(),
            args.ping_listen.as_deref(),
            max,
        )
        .await?,
    );
    let label = if args.label.is_empty() {
        // The name the peer has on the command line.
        clap::ValueEnum::to_possible_value(&args.peer)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    } else {
        args.label.clone()
    };
    let label = label.as_str();
    let seconds = Duration::from_secs(args.seconds);
    if args.warmup > 0 {
        let c = args.concurrency.first().copied().unwrap_or(16);
        progress(
            label,
            "warm-up",
            c,
            &format!("{} s, not measured", args.warmup),
        );
        let until = std::time::Instant::now() + Duration::from_secs(args.warmup);
        while std::time::Instant::now() < until {
            let slice = Duration::from_secs(args.warmup.min(10));
            let (_, ids) = phases::backchannel(&env, c, slice).await?;
            phases::poll_pending(&env, c, slice, ids).await?;
        }
    }
    let mut reports = Vec::new();
    if args.seed > 0 {
        if args.peer != setup::Peer::CibaServer {
            return Err("--seed needs ciba-server's admin API".into());
        }
        progress(
            label,
            "seed",
            max,
            &format!(
                "{} pending requests over {} users, expiring in {} s",
                args.seed, args.seed_users, args.seed_expiry
            ),
        );
        let admin = setup::AdminApi {
            http: env.http.clone(),
            base: env.base.clone(),
            token: args.admin_token.clone(),
        };
        let report = phases::seed(
            &env,
            &admin,
            max,
            args.seed,
            args.seed_users,
            args.seed_expiry,
        )
        .await?;
        reports.push(done(label, report));
    }
    let wanted = |phase: &str| args.phases.is_empty() || args.phases.iter().any(|p| p == phase);
    for &c in &args.concurrency {
        let mut pending_ids = Vec::new();
        if wanted("backchannel") || wanted("poll-pending") {
            progress(label, "backchannel", c, &format!("{} s", args.seconds));
            let (report, ids) = phases::backchannel(&env, c, seconds).await?;
            pending_ids = ids;
            reports.push(done(label, report));
        }
        if wanted("poll-pending") {
            progress(label, "poll pending", c, &format!("{} s", args.seconds));
            let report = phases::poll_pending(&env, c, seconds, pending_ids).await?;
            reports.push(done(label, report));
        }
        if wanted("poll-ready") {
            progress(
                label,
                "poll ready",
                c,
                &format!("{} requests", args.ready_requests),
            );
            let report = phases::poll_ready(&env, c, args.ready_requests).await?;
            reports.push(done(label, report));
        }
        if wanted("decision") {
            progress(
                label,
                "decision to tokens",
                c,
                &format!("{} requests", args.e2e_requests),
            );
            let report = phases::decision_to_tokens(&env, c, args.e2e_requests).await?;
            reports.push(done(label, report));
        }
    }
    println!("| server | phase | clients | rate | p50 | p99 | answers |");
    println!("|---|---|---|---|---|---|---|");
    for report in &reports {
        println!("{}", report.row(label));
    }
    if let Some(path) = &args.json {
        let all: Vec<serde_json::Value> = reports.iter().map(|r| r.json(label)).collect();
        let text = serde_json::to_string_pretty(&all).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}
