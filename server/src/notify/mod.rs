//! Ping and push delivery to client notification endpoints (CIBA Core §10.2–10.3).
//!
//! Decisions enqueue a notification in the same transaction that records them; a worker on every
//! instance claims due notifications with leases that expire (a crashed worker's work is taken
//! over), sends them, and retries network errors, 408/429 and 5xx with exponential backoff and
//! jitter until the deadline. 401/403, other 4xx, redirects and refused addresses are final and
//! recorded. The decision endpoint never waits on a client's server.

mod client;
pub mod endpoint;

pub use client::{NotificationClient, SendOutcome};

use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::state::AppState;
use crate::store::{
    ClientNotificationEntry, NewAuditEvent, NotificationFinal, NotificationKind, RequestStatus,
};

/// How long a claimed notification stays leased to one worker (seconds).
const LEASE_SECS: i64 = 60;
/// Longest pause between two attempts (seconds).
const MAX_BACKOFF_SECS: i64 = 300;
/// Notifications claimed per round.
const BATCH: i64 = 32;

/// Works the outbox until the task is dropped.
pub async fn run_worker(state: AppState) {
    let interval = Duration::from_millis(state.settings.notifications.worker_interval_ms.max(10));
    loop {
        let worked = work_once(&state).await;
        if worked == 0 {
            tokio::select! {
                () = state.notify_wake.notified() => {}
                () = tokio::time::sleep(interval) => {}
            }
        }
    }
}

/// One round: enqueue expiry pushes, claim due notifications, deliver them. Returns how many were
/// attempted.
pub async fn work_once(state: &AppState) -> usize {
    let now = state.now();
    let window = state.settings.notifications.retry_window;
    if let Err(e) = state
        .store
        .enqueue_push_mode_expiries(now, now + window)
        .await
    {
        tracing::warn!(error = %e, "could not enqueue expiry notifications; will retry");
    }
    let entries = match state
        .store
        .claim_client_notifications(now, now + LEASE_SECS, BATCH)
        .await
    {
        Ok(entries) => entries,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim notifications; will retry");
            return 0;
        }
    };
    let count = entries.len();
    let mut running = JoinSet::new();
    for entry in entries {
        running.spawn(deliver(state.clone(), entry));
    }
    while running.join_next().await.is_some() {}
    count
}

struct Prepared {
    endpoint: String,
    bearer: String,
    body: Value,
    decided_at: Option<i64>,
}

async fn deliver(state: AppState, entry: ClientNotificationEntry) {
    let now = state.now();
    let prepared = match prepare(&state, &entry).await {
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

/// Exponential backoff with jitter: about 1, 2, 4, … seconds, at most five minutes, each
/// stretched by a random 0–50 % so that retries of many notifications do not march in step.
pub(crate) fn backoff(attempts: i64) -> i64 {
    let base = 1i64 << attempts.clamp(1, 10).saturating_sub(1);
    let mut byte = [0u8; 1];
    let jitter = match aws_lc_rs::rand::fill(&mut byte) {
        Ok(()) => i64::from(byte[0]) * base / 512,
        Err(_) => 0,
    };
    (base + jitter).clamp(1, MAX_BACKOFF_SECS)
}

enum Problem {
    /// Nothing to send any more (client or request gone, endpoint not registered).
    Final(String),
    /// The database failed; try again.
    Transient(String),
}

async fn prepare(state: &AppState, entry: &ClientNotificationEntry) -> Result<Prepared, Problem> {
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

    let body = if entry.kind == NotificationKind::Ping {
        json!({ "auth_req_id": auth_req_id })
    } else if let Some(payload) = &entry.payload {
        serde_json::from_str(payload)
            .map_err(|e| Problem::Final(format!("stored payload unreadable: {e}")))?
    } else {
        let error = |code: &str, description: &str| json!({"auth_req_id": auth_req_id, "error": code, "error_description": description});
        let now = state.now();
        let body = match request.status {
            RequestStatus::Approved => {
                let user = state
                    .store
                    .user(&request.user_id)
                    .await
                    .map_err(transient)?;
                match user.filter(|u| u.is_active()) {
                    None => error(
                        "access_denied",
                        "the user cannot be authenticated at the moment",
                    ),
                    Some(user) => {
                        let tokens = crate::ciba::mint_tokens(
                            state,
                            &request,
                            &user,
                            Some(&auth_req_id),
                            now,
                        )
                        .await
                        .map_err(|e| Problem::Transient(e.description))?;
                        let mut body = serde_json::to_value(&tokens)
                            .map_err(|e| Problem::Final(e.to_string()))?;
                        body["auth_req_id"] = json!(auth_req_id);
                        let text = body.to_string();
                        // Tokens are minted once: the body is stored with the redemption.
                        if state
                            .store
                            .store_push_mode_tokens(entry.id, &request.id, &text, now)
                            .await
                            .map_err(transient)?
                        {
                            return Ok(Prepared {
                                endpoint,
                                bearer,
                                body,
                                decided_at: request.decided_at,
                            });
                        }
                        error("transaction_failed", "the request was withdrawn")
                    }
                }
            }
            RequestStatus::Denied => error("access_denied", "the user denied the request"),
            RequestStatus::Pending => error(
                "expired_token",
                "the request expired before the user decided",
            ),
            RequestStatus::Redeemed | RequestStatus::Cancelled => {
                error("transaction_failed", "the request was withdrawn")
            }
        };
        state
            .store
            .store_push_mode_payload(entry.id, &body.to_string())
            .await
            .map_err(transient)?;
        body
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
