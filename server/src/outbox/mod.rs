//! What the two outboxes share — client notifications (ping and push modes, `delivery::
//! client_notifications`) and device wake-ups (FCM and APNs, `delivery::device_wakeups`): rows
//! committed with the change that caused them, claimed by a worker on any instance under a lease
//! that expires (a crashed worker's rows are taken over), retried with backoff until a deadline.
//! Here: the lease, the backoff, the worker loop, and how a failed HTTP call is described.

use std::future::Future;
use std::time::Duration;

/// How long a claimed row stays leased to one worker (seconds).
pub const LEASE_SECS: i64 = 60;
/// Longest pause between two attempts (seconds).
pub const MAX_BACKOFF_SECS: i64 = 300;

/// Exponential backoff with jitter: about 1, 2, 4, … seconds, at most five minutes, each
/// stretched by a random 0–50 % so that retries of many rows do not march in step.
pub fn backoff(attempts: i64) -> i64 {
    let base = 1i64 << attempts.clamp(1, 10).saturating_sub(1);
    let mut byte = [0u8; 1];
    let jitter = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => i64::from(byte[0]) * base / 512,
        Err(_) => 0,
    };
    (base + jitter).clamp(1, MAX_BACKOFF_SECS)
}

/// How a worker loop gets its work: `sweep` runs once per `interval` (work that only a scan
/// finds), `claim` takes up to the given number (at most `batch`) of due rows, `deliver` sends
/// one and records its outcome.
pub struct Worker<S, C, D> {
    /// Longest wait between two claims when nothing wakes the loop.
    pub interval: Duration,
    /// Most rows asked for in one claim.
    pub batch: usize,
    /// Most rows in flight at once.
    pub max_in_flight: usize,
    /// Scan-only work, once per interval.
    pub sweep: S,
    /// Claims up to the given number of due rows.
    pub claim: C,
    /// Sends one claimed row.
    pub deliver: D,
}

/// Works an outbox until the task is dropped. The loop does not wait for a claimed batch to be
/// sent before claiming again: a row committed while others are in flight (`wake` is notified on
/// this instance, or through the database's announcements from any instance) is claimed and
/// sent at once, up to `max_in_flight` rows; at capacity the next claim waits until half a
/// `batch` has room. Without a wake-up it claims again after `interval` (retries whose time
/// came, rows whose announcement was missed).
pub async fn run<T, S, SF, C, CF, D, DF>(wake: &tokio::sync::Notify, worker: Worker<S, C, D>)
where
    S: FnMut() -> SF,
    SF: Future<Output = ()>,
    C: FnMut(usize) -> CF,
    CF: Future<Output = Vec<T>>,
    D: Fn(T) -> DF,
    DF: Future<Output = ()> + Send + 'static,
{
    let Worker {
        interval,
        batch,
        max_in_flight,
        mut sweep,
        mut claim,
        deliver,
    } = worker;
    let max_in_flight = max_in_flight.max(1);
    let batch = batch.clamp(1, max_in_flight);
    // At capacity, claim again only once half a batch has room: one claim per finished delivery
    // would cost a write per row while a backlog drains.
    let low_water = batch.div_ceil(2);
    let mut running = tokio::task::JoinSet::new();
    let mut next_sweep = tokio::time::Instant::now();
    loop {
        while running.try_join_next().is_some() {}
        if tokio::time::Instant::now() >= next_sweep {
            sweep().await;
            next_sweep = tokio::time::Instant::now() + interval;
        }
        let room = max_in_flight.saturating_sub(running.len());
        if room >= low_water {
            let ask = room.min(batch);
            let entries = claim(ask).await;
            let full = entries.len() >= ask;
            for entry in entries {
                running.spawn(deliver(entry));
            }
            if full {
                // More rows may be due: claim again once there is room.
                continue;
            }
        }
        // Short of room, a wake-up is not lost: the claim made once deliveries end finds the row.
        let starved = max_in_flight.saturating_sub(running.len()) < low_water;
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep_until(next_sweep) => {}
            Some(_) = running.join_next(), if starved => {}
        }
    }
}

/// Sends every claimed row at once (each `deliver` future records its own outcome) and waits
/// for all of them; returns how many there were.
pub async fn deliver_all<T, F, Fut>(entries: Vec<T>, deliver: F) -> usize
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let count = entries.len();
    let mut running = tokio::task::JoinSet::new();
    for entry in entries {
        running.spawn(deliver(entry));
    }
    while running.join_next().await.is_some() {}
    count
}

/// What went wrong with an outgoing request that got no answer.
pub fn describe_transport_error(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("the request {kind}: {error}")
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempts in 1..=20 {
            let b = backoff(attempts);
            let base = 1i64 << (attempts.min(10) - 1);
            assert!(
                b >= base.min(300) && b <= (base * 3 / 2).clamp(1, 300),
                "{attempts}: {b}"
            );
        }
    }
}
