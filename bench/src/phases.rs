//! The measured phases.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::Report;
use ciba_bench::setup::Environment;

/// What one worker measured.
#[derive(Default)]
struct Tally {
    ok: usize,
    slow_down: usize,
    other: usize,
    latencies_us: Vec<u64>,
    ids: Vec<String>,
    /// The first answer counted as `other`, for the report.
    first_other: Option<String>,
    /// Per decision: the decision call, then the ping's arrival, then the token request (µs).
    stages: Vec<[u64; 3]>,
}

impl Tally {
    fn other(&mut self, status: u16, body: &serde_json::Value) {
        self.other += 1;
        if self.first_other.is_none() {
            let mut text = format!("{status} {body}");
            text.truncate(200);
            self.first_other = Some(text);
        }
    }
}

fn merge(
    phase: &'static str,
    concurrency: usize,
    elapsed: Duration,
    tallies: Vec<Tally>,
) -> (Report, Vec<String>) {
    let mut report = Report {
        phase,
        concurrency,
        ok: 0,
        slow_down: 0,
        other: 0,
        elapsed,
        latencies_us: Vec::new(),
        first_other: None,
        stages: Vec::new(),
    };
    let mut ids = Vec::new();
    for t in tallies {
        report.ok += t.ok;
        report.slow_down += t.slow_down;
        report.other += t.other;
        report.first_other = report.first_other.or(t.first_other);
        report.stages.extend(t.stages);
        report.latencies_us.extend(t.latencies_us);
        ids.extend(t.ids);
    }
    report.latencies_us.sort_unstable();
    (report, ids)
}

async fn join(set: JoinSet<Result<Tally, String>>) -> Result<Vec<Tally>, String> {
    let results = set.join_all().await;
    results.into_iter().collect()
}

/// Backchannel authentication requests for `duration`; returns the pending `auth_req_id`s.
pub async fn backchannel(
    env: &Arc<Environment>,
    concurrency: usize,
    duration: Duration,
) -> Result<(Report, Vec<String>), String> {
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = JoinSet::new();
    for w in 0..concurrency {
        let env = env.clone();
        set.spawn(async move {
            let mut tally = Tally::default();
            let mut n = w;
            while Instant::now() < deadline {
                let user = &env.flood_users[n % env.flood_users.len()];
                n += concurrency;
                let t0 = Instant::now();
                let (status, body) = env
                    .backchannel(
                        &env.poll_client,
                        &[
                            ("scope", "openid"),
                            ("login_hint", user),
                            ("binding_message", "LOAD-1"),
                        ],
                    )
                    .await?;
                match body.get("auth_req_id").and_then(|v| v.as_str()) {
                    Some(id) if status == 200 => {
                        tally.ok += 1;
                        tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                        tally.ids.push(id.to_owned());
                    }
                    _ => tally.other(status, &body),
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    Ok(merge(
        "backchannel requests",
        concurrency,
        start.elapsed(),
        tallies,
    ))
}

/// Fills the database before the measured phases: `count` pending requests expiring in
/// `expiry_s` seconds, spread round robin over `users` (created here through the admin API, so
/// that no user of the measured phases has them), sent by `concurrency` workers through the
/// backchannel endpoint like any other request (their audit events and outbox rows included).
/// Prints a progress line every 100 000 requests.
pub async fn seed(
    env: &Arc<Environment>,
    admin: &ciba_bench::setup::AdminApi,
    concurrency: usize,
    count: usize,
    users: usize,
    expiry_s: u64,
) -> Result<Report, String> {
    let run = ciba_core::jose::software::random_b64u(6).map_err(|e| e.to_string())?;
    let mut names = Vec::with_capacity(users);
    for i in 0..users.max(1) {
        let username = format!("seed-{run}-{i}");
        admin
            .post(
                "/admin/v1/users",
                Some(serde_json::json!({"username": username})),
            )
            .await?;
        names.push(username);
    }
    let names = Arc::new(names);
    let next = Arc::new(AtomicUsize::new(0));
    let expiry = Arc::new(expiry_s.to_string());
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let (env, names, next, expiry) = (env.clone(), names.clone(), next.clone(), expiry.clone());
        set.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                if n > 0 && n % 100_000 == 0 {
                    eprintln!(
                        "  seeded {n} requests in {:.0} s",
                        start.elapsed().as_secs_f64()
                    );
                }
                let user = &names[n % names.len()];
                let t0 = Instant::now();
                let (status, body) = env
                    .backchannel(
                        &env.poll_client,
                        &[
                            ("scope", "openid"),
                            ("login_hint", user),
                            ("binding_message", "SEED-1"),
                            ("requested_expiry", expiry.as_str()),
                        ],
                    )
                    .await?;
                if status == 200 && body.get("auth_req_id").is_some() {
                    tally.ok += 1;
                    tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                } else {
                    tally.other(status, &body);
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    Ok(merge(
        "seeded pending requests",
        concurrency,
        start.elapsed(),
        tallies,
    )
    .0)
}

/// Token polls on pending requests (round robin over `ids`) for `duration`.
pub async fn poll_pending(
    env: &Arc<Environment>,
    concurrency: usize,
    duration: Duration,
    ids: Vec<String>,
) -> Result<Report, String> {
    if ids.is_empty() {
        return Err("no pending requests to poll".into());
    }
    let ids = Arc::new(ids);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let (env, ids, next) = (env.clone(), ids.clone(), next.clone());
        set.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline {
                let id = &ids[next.fetch_add(1, Ordering::Relaxed) % ids.len()];
                let t0 = Instant::now();
                let (status, body) = env.token(&env.poll_client, id).await?;
                // Both answers cost the server the same one conditional UPDATE; `slow_down`
                // comes when the round robin returns to a request within its interval.
                match body.get("error").and_then(|v| v.as_str()) {
                    Some("authorization_pending") => {
                        tally.ok += 1;
                        tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                    }
                    Some("slow_down") => {
                        tally.ok += 1;
                        tally.slow_down += 1;
                        tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                    }
                    _ => tally.other(status, &body),
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    Ok(merge(
        "token polls, pending (authorization_pending or slow_down)",
        concurrency,
        start.elapsed(),
        tallies,
    )
    .0)
}

/// Creates `count` requests for the decider users and approves them all; returns the ids.
async fn approved_requests(env: &Arc<Environment>, count: usize) -> Result<Vec<String>, String> {
    let per_user = count.div_ceil(env.deciders.len());
    let mut set = JoinSet::new();
    for user in env.deciders.iter().cloned() {
        let env = env.clone();
        set.spawn(async move {
            let mut tally = Tally::default();
            // In rounds of at most 100: the device lists (and approves) a user's newest 100
            // pending requests.
            while tally.ids.len() < per_user {
                let round = (per_user - tally.ids.len()).min(100);
                for _ in 0..round {
                    let (status, body) = env
                        .backchannel(
                            &env.poll_client,
                            &[("scope", "openid"), ("login_hint", &user.username)],
                        )
                        .await?;
                    match body.get("auth_req_id").and_then(|v| v.as_str()) {
                        Some(id) if status == 200 => tally.ids.push(id.to_owned()),
                        _ => return Err(format!("backchannel: {status} {body}")),
                    }
                }
                let approved = env.approve_all(&user).await?;
                if approved != round {
                    return Err(format!(
                        "{}: {approved} of {round} requests approved",
                        user.username
                    ));
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    // Interleaved by user, so that concurrent redemptions are of different users' requests.
    let lists: Vec<Vec<String>> = tallies.into_iter().map(|t| t.ids).collect();
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    Ok((0..longest)
        .flat_map(|i| lists.iter().filter_map(move |l| l.get(i).cloned()))
        .collect())
}

/// Token polls on approved requests: each one redeems tokens (signs an ID and an access token).
pub async fn poll_ready(
    env: &Arc<Environment>,
    concurrency: usize,
    count: usize,
) -> Result<Report, String> {
    let ids = Arc::new(approved_requests(env, count).await?);
    // A client polls an approved request no sooner than its interval (1 s in the benchmark's
    // configurations) after its last call: Keycloak answers `slow_down` to a first poll that
    // comes sooner after the backchannel request.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut set = JoinSet::new();
    for _ in 0..concurrency {
        let (env, ids, next) = (env.clone(), ids.clone(), next.clone());
        set.spawn(async move {
            let mut tally = Tally::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(id) = ids.get(i) else { break };
                let t0 = Instant::now();
                let (status, body) = env.token(&env.poll_client, id).await?;
                if status == 200 && body.get("id_token").is_some() {
                    tally.ok += 1;
                    tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                } else {
                    tally.other(status, &body);
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    Ok(merge(
        "token polls, ready (tokens issued)",
        concurrency,
        start.elapsed(),
        tallies,
    )
    .0)
}

/// Ping mode, end to end: each worker's device approves a request; the latency runs from the
/// decision being sent to the client holding tokens (decision → ping → token request).
pub async fn decision_to_tokens(
    env: &Arc<Environment>,
    concurrency: usize,
    total: usize,
) -> Result<Report, String> {
    let per_worker = total.div_ceil(concurrency).max(1);
    let start = Instant::now();
    let mut set = JoinSet::new();
    for user in env.deciders.iter().take(concurrency).cloned() {
        let env = env.clone();
        set.spawn(async move {
            let mut tally = Tally::default();
            for _ in 0..per_worker {
                let (status, body) = env
                    .backchannel(
                        &env.ping_client,
                        &[
                            ("scope", "openid"),
                            ("login_hint", &user.username),
                            ("client_notification_token", "load-token"),
                        ],
                    )
                    .await?;
                let Some(id) = body
                    .get("auth_req_id")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                else {
                    return Err(format!("backchannel: {status} {body}"));
                };
                let prepared = env.prepare(&user).await?;
                let (tx, rx) = oneshot::channel();
                env.pings
                    .lock()
                    .map_err(|_| "poisoned")?
                    .insert(id.clone(), tx);
                let t0 = Instant::now();
                env.approve_one(&user, &id, prepared).await?;
                let t1 = Instant::now();
                tokio::time::timeout(Duration::from_secs(30), rx)
                    .await
                    .map_err(|_| "no ping within 30 s")?
                    .map_err(|e| e.to_string())?;
                let t2 = Instant::now();
                let (status, body) = env.token(&env.ping_client, &id).await?;
                if status == 200 && body.get("id_token").is_some() {
                    tally.ok += 1;
                    tally.latencies_us.push(t0.elapsed().as_micros() as u64);
                    let us = |d: Duration| d.as_micros() as u64;
                    tally
                        .stages
                        .push([us(t1 - t0), us(t2 - t1), us(t2.elapsed())]);
                } else {
                    tally.other(status, &body);
                }
            }
            Ok(tally)
        });
    }
    let tallies = join(set).await?;
    Ok(merge(
        "decision → ping → tokens",
        concurrency,
        start.elapsed(),
        tallies,
    )
    .0)
}
