//! The console's overview (`GET /admin/v1/overview`): requests per minute by outcome over the
//! last hour, from the database (every instance's requests); push and client-notification
//! delivery counters, the same numbers `/metrics` exposes (this instance's, since it started);
//! and the latest failed deliveries, from the database.

use serde::Serialize;
use serde_json::Value;

use super::Admin;
use crate::error::Result;
use crate::state::AppState;
use crate::store::{DeliveryError, RequestCount};

/// Minutes of request history in an overview.
pub const WINDOW_MINUTES: i64 = 60;

/// Requests created in one minute, by what became of them.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MinuteOutcomes {
    /// Start of the minute (Unix seconds).
    pub minute: i64,
    /// Approved (tokens issued or not yet).
    pub approved: i64,
    /// Denied by the user.
    pub denied: i64,
    /// Expired before a decision.
    pub expired: i64,
    /// Still waiting for the user.
    pub pending: i64,
    /// Withdrawn by the server (user locked or removed, client removed, an operator).
    pub cancelled: i64,
}

/// The overview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// When it was computed.
    pub at: i64,
    /// One entry per minute of the last [`WINDOW_MINUTES`], oldest first (empty minutes too).
    pub requests_per_minute: Vec<MinuteOutcomes>,
    /// Pushes by provider and client notifications by kind (this instance's counters).
    pub delivery: Value,
    /// The latest failed deliveries, newest first.
    pub recent_errors: Vec<DeliveryError>,
}

/// The start of the overview's first minute: [`WINDOW_MINUTES`] of them end with the one holding
/// `now`.
fn window_start(now: i64) -> i64 {
    now - now.rem_euclid(60) - (WINDOW_MINUTES - 1) * 60
}

/// Buckets stored request counts into minutes (all [`WINDOW_MINUTES`] of them, ending with the
/// one holding `now`).
pub fn per_minute(counts: &[RequestCount], now: i64) -> Vec<MinuteOutcomes> {
    let first = window_start(now);
    let mut minutes: Vec<MinuteOutcomes> = (0..WINDOW_MINUTES)
        .map(|i| MinuteOutcomes {
            minute: first + i * 60,
            ..MinuteOutcomes::default()
        })
        .collect();
    for c in counts {
        let Ok(i) = usize::try_from((c.minute - first) / 60) else {
            continue;
        };
        let Some(m) = minutes.get_mut(i) else {
            continue;
        };
        let slot = match (c.status.as_str(), c.expired) {
            ("approved" | "redeemed", _) => &mut m.approved,
            ("denied", _) => &mut m.denied,
            ("cancelled", _) => &mut m.cancelled,
            ("pending", true) => &mut m.expired,
            ("pending", false) => &mut m.pending,
            _ => continue,
        };
        *slot += c.count;
    }
    minutes
}

/// `GET /admin/v1/overview`.
pub async fn overview(state: &AppState, _: &Admin) -> Result<Overview> {
    let now = state.now();
    let counts = state.store.request_counts(window_start(now), now).await?;
    Ok(Overview {
        at: now,
        requests_per_minute: per_minute(&counts, now),
        delivery: state.metrics.delivery_snapshot(),
        recent_errors: state.store.recent_delivery_errors(10).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(minute: i64, status: &str, expired: bool, count: i64) -> RequestCount {
        RequestCount {
            minute,
            status: status.into(),
            expired,
            count,
        }
    }

    #[test]
    fn counts_land_in_their_minute_and_outcome() {
        let now = 1_000_000_030; // 30 s into a minute
        let last = 1_000_000_020;
        let m = per_minute(
            &[
                count(last, "pending", false, 2),
                count(last, "redeemed", false, 3),
                count(last, "approved", true, 1),
                count(last - 60, "pending", true, 4),
                count(last - 60, "denied", true, 5),
                count(last - 120, "cancelled", false, 6),
                count(last - 3600, "pending", false, 99), // outside the hour
            ],
            now,
        );
        assert_eq!(m.len(), 60);
        assert_eq!(m[59].minute, last);
        assert_eq!((m[59].pending, m[59].approved), (2, 4));
        assert_eq!((m[58].expired, m[58].denied), (4, 5));
        assert_eq!(m[57].cancelled, 6);
        let total: i64 = m
            .iter()
            .map(|x| x.approved + x.denied + x.expired + x.pending + x.cancelled)
            .sum();
        assert_eq!(total, 21);
    }
}
