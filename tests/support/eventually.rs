//! Waiting for what background work (workers, receivers, the database coming back) brings about:
//! one bounded poll instead of a hand-written loop per test.

use std::future::Future;
use std::time::{Duration, Instant};

/// How long [`eventually`] waits, in real time.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `probe` every 10 ms until it returns `Some`, for at most [`PATIENCE`]; panics with
/// `what` (what was expected) otherwise.
pub async fn eventually<T, F, Fut>(what: &str, probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    eventually_within(PATIENCE, what, probe).await
}

/// [`eventually`] with another bound.
pub async fn eventually_within<T, F, Fut>(patience: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + patience;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        if Instant::now() >= deadline {
            panic!("not within {patience:?}: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
