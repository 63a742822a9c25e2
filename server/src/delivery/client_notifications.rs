//! The client-notification worker: claims due notifications from the outbox, builds each body
//! (a ping's `auth_req_id`, or what `ciba::push_mode_body` says a push-mode client gets), sends it
//! with the SSRF-guarded client, and records the outcome: delivered, retried with backoff, or
//! failed and abandoned for good.

use std::time::Duration;

use serde_json::{Value, json};

use crate::notify::SendOutcome;
use crate::outbox::{LEASE_SECS, backoff};
use crate::state::AppState;
use crate::store::{ClientNotificationEntry, NewAuditEvent, NotificationFinal, NotificationKind};

/// Notifications claimed per round, and the most in flight at once.
const BATCH: usize = 32;

/// Works the client-notification outbox until the task is dropped: a committed decision wakes
/// it, and it sends while earlier notifications are still in flight.
pub async fn run_worker(state: AppState) {
    let interval = Duration::from_millis(state.settings.notifications.worker_interval_ms.max(10));
    let worker = crate::outbox::Worker {
        interval,
        batch: BATCH,
        max_in_flight: BATCH * 4,
        sweep: || enqueue_expiries(&state),
        claim: |room| claim(&state, room),
        deliver: |(entry, now)| deliver(state.clone(), entry, now),
    };
    crate::outbox::run(&state.notify_wake, worker).await;
}

/// One round at the clock's current time: enqueue the push-mode notifications of requests that
/// expired undecided, claim due notifications, deliver them. Returns how many were attempted.
pub async fn work_once(state: &AppState) -> usize {
    enqueue_expiries(state).await;
    let entries = claim(state, BATCH).await;
    crate::outbox::deliver_all(entries, |(entry, now)| deliver(state.clone(), entry, now)).await
}

/// How far before the previous scan's time the next scan for expired requests starts: a request
/// committed late (a slow transaction, another instance's clock a little behind) is still
/// found. Requests the previous scan already notified are not notified again.
const EXPIRY_SCAN_OVERLAP: i64 = 30;

/// Where a scan for expired push-mode requests at `now` starts (exclusive), after the previous
/// successful scan at `previous` (`i64::MIN` if none): a little before the previous scan, or,
/// for the first scan of this process, `retry_window` before now — a request that expired while
/// no instance was scanning is still told, within the window its notification would have been
/// retried in anyway. Bounded so that a scan walks what expired since the last one, not every
/// expired row the sweep keeps.
fn expiry_scan_start(previous: i64, now: i64, retry_window: i64) -> i64 {
    if previous == i64::MIN {
        now.saturating_sub(retry_window)
    } else {
        previous.min(now).saturating_sub(EXPIRY_SCAN_OVERLAP)
    }
}

/// Enqueues the `expired_token` pushes of push-mode requests that expired undecided: a scan,
/// not a wake-up, so the worker runs it once per interval, over what expired since its last
/// scan ([`expiry_scan_start`]).
async fn enqueue_expiries(state: &AppState) {
    use std::sync::atomic::Ordering;
    let now = state.now();
    let window = state.settings.notifications.retry_window;
    let since = expiry_scan_start(state.expiry_scan_mark.load(Ordering::Relaxed), now, window);
    match state
        .store
        .enqueue_push_mode_expiries(since, now, now + window)
        .await
    {
        Ok(_) => state.expiry_scan_mark.store(now, Ordering::Relaxed),
        Err(e) => tracing::warn!(error = %e, "could not enqueue expiry notifications; will retry"),
    }
}

/// Claims up to `room` due notifications, each with the time it was claimed at.
async fn claim(state: &AppState, room: usize) -> Vec<(ClientNotificationEntry, i64)> {
    let now = state.now();
    let limit = i64::try_from(room.min(BATCH)).unwrap_or(1);
    match state
        .store
        .claim_client_notifications(now, now + LEASE_SECS, limit)
        .await
    {
        Ok(entries) => entries.into_iter().map(|e| (e, now)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not claim notifications; will retry");
            Vec::new()
        }
    }
}

struct Prepared {
    endpoint: String,
    bearer: String,
    body: Value,
    decided_at: Option<i64>,
}

async fn deliver(state: AppState, entry: ClientNotificationEntry, now: i64) {
    let prepared = match prepare(&state, &entry, now).await {
        Ok(p) => p,
        Err(Problem::Final(why)) => {
            return finish(&state, &entry, NotificationFinal::Failed, &why).await;
        }
        Err(Problem::Transient(why)) => return reschedule(&state, &entry, now, &why).await,
    };
    if now > entry.deadline {
        return finish(
            &state,
            &entry,
            NotificationFinal::Abandoned,
            "the delivery deadline passed",
        )
        .await;
    }
    match state
        .notifier
        .send(&prepared.endpoint, &prepared.bearer, &prepared.body)
        .await
    {
        SendOutcome::Delivered => {
            if let Err(e) = state
                .store
                .finish_client_notification(
                    entry.id,
                    NotificationFinal::Delivered,
                    state.now(),
                    None,
                )
                .await
            {
                tracing::error!(error = %e, id = entry.id, "delivered, but could not record it; it may be sent again");
            }
            state
                .metrics
                .notification_delivered(entry.kind, prepared.decided_at.map(|d| state.now() - d));
            tracing::info!(txn = %entry.request_id, kind = %entry.kind, attempts = entry.attempts, "notification delivered");
        }
        SendOutcome::Retry(why) => reschedule(&state, &entry, now, &why).await,
        SendOutcome::Refused(why) => finish(&state, &entry, NotificationFinal::Failed, &why).await,
    }
}

/// Schedules the next attempt, counting the backoff from when this attempt started (`attempt_at`),
/// not from when it ended.
async fn reschedule(state: &AppState, entry: &ClientNotificationEntry, attempt_at: i64, why: &str) {
    let now = attempt_at;
    if now >= entry.deadline {
        return finish(state, entry, NotificationFinal::Abandoned, why).await;
    }
    let next = (now + backoff(entry.attempts)).min(entry.deadline);
    state.metrics.notification_retried(entry.kind);
    tracing::warn!(txn = %entry.request_id, kind = %entry.kind, attempts = entry.attempts, next_in = next - now, "notification failed, will retry: {why}");
    if let Err(e) = state
        .store
        .retry_client_notification(entry.id, next, why)
        .await
    {
        tracing::error!(error = %e, id = entry.id, "could not reschedule a notification; its lease will expire");
    }
}

async fn finish(
    state: &AppState,
    entry: &ClientNotificationEntry,
    outcome: NotificationFinal,
    why: &str,
) {
    state.metrics.notification_failed(entry.kind, outcome);
    tracing::warn!(txn = %entry.request_id, kind = %entry.kind, outcome = outcome.as_str(), "notification not delivered: {why}");
    if let Err(e) = state
        .store
        .finish_client_notification(entry.id, outcome, state.now(), Some(why))
        .await
    {
        tracing::error!(error = %e, id = entry.id, "could not record a notification failure");
    }
    let user_id = state
        .store
        .request(&entry.request_id)
        .await
        .ok()
        .flatten()
        .map(|r| r.user_id);
    state
        .audit(NewAuditEvent {
            at: state.now(),
            kind: if outcome == NotificationFinal::Abandoned {
                "notification_abandoned"
            } else {
                "notification_failed"
            },
            user_id,
            client_id: Some(entry.client_id.clone()),
            device_id: None,
            request_id: Some(entry.request_id.clone()),
            detail: json!({"kind": entry.kind.as_str(), "attempts": entry.attempts, "error": why}),
        })
        .await;
}

enum Problem {
    /// Nothing to send any more (client or request gone, endpoint not registered).
    Final(String),
    /// The database failed; try again.
    Transient(String),
}

async fn prepare(
    state: &AppState,
    entry: &ClientNotificationEntry,
    now: i64,
) -> Result<Prepared, Problem> {
    let transient = |e: crate::store::StoreError| Problem::Transient(e.to_string());
    let request = state
        .store
        .request(&entry.request_id)
        .await
        .map_err(transient)?;
    let request = request.ok_or_else(|| Problem::Final("the request no longer exists".into()))?;
    let client = state
        .store
        .client(&entry.client_id)
        .await
        .map_err(transient)?;
    let client = client.ok_or_else(|| Problem::Final("the client was deleted".into()))?;
    let endpoint = client
        .notification_endpoint
        .clone()
        .ok_or_else(|| Problem::Final("no notification endpoint".into()))?;
    let bearer = request
        .notification_token
        .clone()
        .ok_or_else(|| Problem::Final("no client_notification_token".into()))?;
    let auth_req_id = request
        .notify_auth_req_id
        .clone()
        .ok_or_else(|| Problem::Final("no auth_req_id kept".into()))?;

    let body = match (entry.kind, &entry.payload) {
        (NotificationKind::Ping, _) => json!({ "auth_req_id": auth_req_id }),
        // Minted or decided on an earlier attempt: every retry sends the same body.
        (NotificationKind::Push, Some(payload)) => serde_json::from_str(payload)
            .map_err(|e| Problem::Final(format!("stored payload unreadable: {e}")))?,
        (NotificationKind::Push, None) => {
            crate::ciba::push_mode_body(state, entry, &request, &auth_req_id, now)
                .await
                .map_err(|e| Problem::Transient(e.description().to_owned()))?
        }
    };
    Ok(Prepared {
        endpoint,
        bearer,
        body,
        decided_at: request.decided_at,
    })
}

#[cfg(test)]
mod tests {
    use super::{EXPIRY_SCAN_OVERLAP, expiry_scan_start};

    #[test]
    fn the_expiry_scan_starts_a_window_back_then_just_before_the_last_scan() {
        assert_eq!(expiry_scan_start(i64::MIN, 10_000, 600), 9_400);
        assert_eq!(
            expiry_scan_start(9_999, 10_000, 600),
            9_999 - EXPIRY_SCAN_OVERLAP
        );
        // A long gap since the last scan is covered whole, however long.
        assert_eq!(
            expiry_scan_start(1_000, 10_000, 600),
            1_000 - EXPIRY_SCAN_OVERLAP
        );
        // A clock that went back never moves the start past now.
        assert_eq!(
            expiry_scan_start(20_000, 10_000, 600),
            10_000 - EXPIRY_SCAN_OVERLAP
        );
        assert_eq!(expiry_scan_start(i64::MIN, i64::MIN + 5, 600), i64::MIN);
    }
}
