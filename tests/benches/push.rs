//! Push throughput: 10 000 pushes through the server's real APNs and FCM clients (TLS, HTTP/2,
//! cached provider and access tokens) to the local mocks, each provider alone, then both at
//! once. Reports pushes/s and latency percentiles. Run in release mode:
//!
//! ```sh
//! cargo bench -p ciba-e2e --bench push
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ciba_core::clock::{SharedClock, SystemClock};
use ciba_core::protocol::PushPayload;
use ciba_e2e::mock_push::{
    APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC, ApnsKey, MockApns, MockFcm, TestCa,
};
use ciba_server::config::{ApnsSettings, PushSettings};
use ciba_server::push::{ApnsClient, FcmClient};

const PUSHES: usize = 10_000;
/// Sends in flight at once (the push worker sends a claimed batch of 128 concurrently; several
/// instances or batches overlap).
const IN_FLIGHT: usize = 256;

struct Report {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i]
    }

    fn print(&self, name: &str, connections: &str) {
        let n = self.latencies.len();
        println!(
            "{name:<12} {n} pushes in {:.2} s = {:>6.0} pushes/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {connections}",
            self.elapsed.as_secs_f64(),
            n as f64 / self.elapsed.as_secs_f64(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
            self.latencies[n - 1].as_secs_f64() * 1e3,
        );
    }
}

/// Sends `n` pushes with `IN_FLIGHT` concurrent senders; every send must succeed.
async fn run<F, Fut>(n: usize, send: F) -> Report
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), ciba_server::push::PushError>> + Send,
{
    let send = Arc::new(send);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..IN_FLIGHT {
        let (send, next) = (send.clone(), next.clone());
        senders.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return latencies;
                }
                let t = Instant::now();
                send(i).await.unwrap();
                latencies.push(t.elapsed());
            }
        });
    }
    let mut latencies = Vec::with_capacity(n);
    while let Some(done) = senders.join_next().await {
        latencies.extend(done.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Report { elapsed, latencies }
}

fn payload(i: usize) -> PushPayload {
    PushPayload::new("https://ciba.bank.example", format!("txn_bench{i:016}"))
}

#[tokio::main]
async fn main() {
    let ca = TestCa::new("CIBA push test CA");
    let dir = tempfile::tempdir().unwrap();
    let fcm = MockFcm::start(Some(&ca)).await;
    let apns = MockApns::start(&ca).await;
    fcm.messages.record.store(false, Ordering::Relaxed);
    apns.log.record.store(false, Ordering::Relaxed);
    let key = ApnsKey::generate();
    let settings = PushSettings {
        extra_root_certificates: vec![ca.write(dir.path(), "push-test-ca.pem")],
        ..PushSettings::default()
    };
    let clock: SharedClock = Arc::new(SystemClock);
    let fcm_client =
        Arc::new(FcmClient::new(&fcm.settings(dir.path()), &settings, clock.clone()).unwrap());
    let apns_client = Arc::new(
        ApnsClient::new(
            &ApnsSettings {
                team_id: APNS_TEAM_ID.into(),
                key_id: APNS_KEY_ID.into(),
                key_file: key.write(dir.path()),
                topic: APNS_TOPIC.into(),
                production_base_url: apns.base_url.clone(),
                sandbox_base_url: apns.base_url.clone(),
            },
            &settings,
            clock,
        )
        .unwrap(),
    );
    let expires_at = ciba_core::clock::Clock::now(&SystemClock) + 300;
    let apns_send = {
        let c = apns_client.clone();
        move |i: usize| {
            let c = c.clone();
            async move {
                c.send(&format!("{i:064x}"), "production", &payload(i), expires_at)
                    .await
            }
        }
    };
    let fcm_send = {
        let c = fcm_client.clone();
        move |i: usize| {
            let c = c.clone();
            async move {
                c.send(&format!("fcm-registration-{i}"), &payload(i), expires_at)
                    .await
            }
        }
    };

    println!(
        "push benchmark: {PUSHES} pushes per run, {IN_FLIGHT} in flight, {} CPU cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Warm-up: TLS handshakes, the OAuth token, the provider token.
    run(200, apns_send.clone()).await;
    run(200, fcm_send.clone()).await;

    let connections = |log: &ciba_e2e::mock_push::MockLog| {
        format!("{} connection(s)", log.connections.load(Ordering::Relaxed))
    };
    run(PUSHES, apns_send.clone())
        .await
        .print("apns", &connections(&apns.log));
    run(PUSHES, fcm_send.clone())
        .await
        .print("fcm", &connections(&fcm.messages));
    let both = run(PUSHES, move |i| {
        let (a, f) = (apns_send.clone(), fcm_send.clone());
        async move { if i % 2 == 0 { a(i).await } else { f(i).await } }
    })
    .await;
    both.print("apns+fcm", "half each");
    assert_eq!(
        fcm.tokens.count.load(Ordering::Relaxed),
        1,
        "one access token for every send"
    );
}
