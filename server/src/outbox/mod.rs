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

/// Runs `round` until the task is dropped: again at once after a round that did work, otherwise
/// after `interval` or as soon as `wake` is notified (a new row was committed on this instance).
pub async fn run<F, Fut>(interval: Duration, wake: &tokio::sync::Notify, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = usize>,
{
    loop {
        if round().await == 0 {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
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
