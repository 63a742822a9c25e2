//! The device wake-up worker: claims due wake-ups with leases that expire (a crashed worker's
//! wake-ups are taken over), sends them concurrently through FCM or APNs, and records what became
//! of each.

use std::time::{Duration, Instant};

use ciba_core::protocol::PushPayload;
use serde_json::json;

use crate::ciba::{RequestState, WakeupDue};
use crate::outbox::{LEASE_SECS, backoff};
use crate::push::{AUTH_COOLDOWN_SECS, FailureReason, PushError};
use crate::state::AppState;
use crate::store::{DeviceStatus, NewAuditEvent, PushProvider, WakeupEntry, WakeupFinal};

/// Wake-ups claimed per round, and the most in flight at once.
const BATCH: usize = 128;

/// Works the wake-up outbox until the task is dropped: a committed request wakes it, and it
/// sends while earlier wake-ups are still in flight.
pub async fn run_worker(state: AppState) {
    let interval = Duration::from_millis(state.settings.push.worker_interval_ms.max(10));
    let worker = crate::outbox::Worker {
        interval,
        batch: BATCH,
        max_in_flight: BATCH * 2,
        sweep: || std::future::ready(()),
        claim: |room| claim(&state, room),
        deliver: |(entry, now)| deliver(state.clone(), entry, now),
    };
    crate::outbox::run(&state.push.wake, worker).await;
}

/// One round at the clock's current time: claim due wake-ups and send them. Returns how many
/// were attempted.
pub async fn work_once(state: &AppState) -> usize {
    let entries = claim(state, BATCH).await;
    crate::outbox::deliver_all(entries, |(entry, now)| deliver(state.clone(), entry, now)).await
}

/// Claims up to `room` due wake-ups, each with the time it was claimed at.
async fn claim(state: &AppState, room: usize) -> Vec<(WakeupEntry, i64)> {
    let now = state.now();
    let limit = i64::try_from(room.min(BATCH)).unwrap_or(1);
    match state
        .store
        .claim_wakeups(now, now + LEASE_SECS, limit)
        .await
    {
        Ok(entries) => entries.into_iter().map(|e| (e, now)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not claim pushes; will retry");
            Vec::new()
        }
    }
}

/// Why a claimed wake-up is not sent at all.
fn nothing_to_send(entry: &WakeupEntry, now: i64) -> Option<(WakeupFinal, &'static str)> {
    let Some((status, expires_at)) = entry.request else {
        return Some((WakeupFinal::Skipped, "the request no longer exists"));
    };
    match RequestState::of(status, expires_at, now).wakeup() {
        WakeupDue::Decided => {
            return Some((WakeupFinal::Skipped, "the request was decided or withdrawn"));
        }
        WakeupDue::Expired => return Some((WakeupFinal::Abandoned, "the request expired")),
        WakeupDue::Send if now >= entry.deadline => {
            return Some((WakeupFinal::Abandoned, "the request expired"));
        }
        WakeupDue::Send => {}
    }
    let Some(target) = &entry.target else {
        return Some((WakeupFinal::Skipped, "the device was deleted"));
    };
    if target.status != DeviceStatus::Active {
        return Some((WakeupFinal::Skipped, "the device was revoked"));
    }
    if target.token.is_none() || target.provider == PushProvider::None {
        return Some((WakeupFinal::Skipped, "the device has no push token"));
    }
    if target.token_invalid {
        return Some((WakeupFinal::Skipped, "the device's push token is invalid"));
    }
    None
}

async fn deliver(state: AppState, entry: WakeupEntry, now: i64) {
    if let Some((outcome, why)) = nothing_to_send(&entry, now) {
        return finish(&state, &entry, outcome, why).await;
    }
    let (Some(target), Some((_, expires_at))) = (&entry.target, entry.request) else {
        return;
    };
    let token = target.token.clone().unwrap_or_default();
    let payload = PushPayload::new(&state.issuer, &entry.request_id);
    let started = Instant::now();
    // The device's provider now (it may have re-registered since the push was enqueued).
    let provider = target.provider;
    let result = match (provider, &state.push.fcm, &state.push.apns) {
        (PushProvider::Fcm, Some(fcm), _) => fcm.send(&token, &payload, expires_at).await,
        (PushProvider::Apns, _, Some(apns)) => {
            apns.send(&token, target.environment.as_str(), &payload, expires_at)
                .await
        }
        _ => return not_configured(&state, &entry).await,
    };
    state.push.observe(provider.as_str(), &result);
    let error = match result {
        Ok(()) => {
            state.metrics.push_sent(provider, started.elapsed());
            if let Err(e) = state
                .store
                .finish_wakeup(entry.id, WakeupFinal::Sent, state.now(), None)
                .await
            {
                tracing::error!(error = %e, id = entry.id, "push sent, but could not record it; it may be sent again");
            }
            tracing::info!(txn = %entry.request_id, device = %entry.device_id, provider = provider.as_str(), attempts = entry.attempts, "push sent");
            return;
        }
        Err(error) => error,
    };
    state.metrics.push_failed(provider, error.reason());
    match &error {
        PushError::DeadToken { .. } => {
            match state
                .store
                .invalidate_push_token(&entry.device_id, &token, state.now())
                .await
            {
                Ok(true) => {
                    tracing::warn!(device = %entry.device_id, provider = provider.as_str(), "{error}; the device polls until it registers a new token");
                    audit(
                        &state,
                        &entry,
                        "push_token_invalidated",
                        json!({"provider": provider.as_str(), "error": error.to_string()}),
                    )
                    .await;
                }
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, device = %entry.device_id, "could not mark a push token invalid")
                }
            }
            finish(&state, &entry, WakeupFinal::Failed, &error.to_string()).await;
        }
        e if e.is_transient() => reschedule(&state, &entry, now, provider, expires_at, e).await,
        e => {
            audit(
                &state,
                &entry,
                "push_failed",
                json!({"provider": provider.as_str(), "error": e.to_string()}),
            )
            .await;
            finish(&state, &entry, WakeupFinal::Failed, &e.to_string()).await;
        }
    }
}

async fn not_configured(state: &AppState, entry: &WakeupEntry) {
    state.metrics.push_skipped(entry.provider);
    finish(
        state,
        entry,
        WakeupFinal::Skipped,
        "the device's push provider is not configured",
    )
    .await;
}

/// Tries again after the provider's `Retry-After`, or exponential backoff with jitter (at
/// least the credentials cool-down after an auth failure), unless the request expires first.
///
/// Waits count from when the attempt started (`attempt_at`): the clock may move while the
/// provider answers, and the next attempt must not slide with it.
async fn reschedule(
    state: &AppState,
    entry: &WakeupEntry,
    attempt_at: i64,
    provider: PushProvider,
    expires_at: i64,
    error: &PushError,
) {
    let now = attempt_at;
    let mut wait = error
        .retry_after()
        .unwrap_or_else(|| backoff(entry.attempts))
        .max(1);
    if matches!(error, PushError::Auth(_)) {
        wait = wait.max(AUTH_COOLDOWN_SECS);
    }
    let next = now + wait;
    if next >= expires_at.min(entry.deadline) {
        state
            .metrics
            .push_failed(provider, FailureReason::Abandoned);
        audit(
            state,
            entry,
            "push_abandoned",
            json!({"provider": provider.as_str(), "attempts": entry.attempts, "error": error.to_string()}),
        )
        .await;
        return finish(state, entry, WakeupFinal::Abandoned, &error.to_string()).await;
    }
    tracing::warn!(txn = %entry.request_id, device = %entry.device_id, provider = provider.as_str(), attempts = entry.attempts, next_in = wait, "push failed, will retry: {error}");
    if let Err(e) = state
        .store
        .retry_wakeup(entry.id, next, &error.to_string())
        .await
    {
        tracing::error!(error = %e, id = entry.id, "could not reschedule a push; its lease will expire");
    }
}

async fn finish(state: &AppState, entry: &WakeupEntry, outcome: WakeupFinal, why: &str) {
    if outcome != WakeupFinal::Sent {
        tracing::debug!(txn = %entry.request_id, device = %entry.device_id, outcome = outcome.as_str(), "push not sent: {why}");
    }
    if let Err(e) = state
        .store
        .finish_wakeup(entry.id, outcome, state.now(), Some(why))
        .await
    {
        tracing::error!(error = %e, id = entry.id, "could not record the end of a push");
    }
}

async fn audit(
    state: &AppState,
    entry: &WakeupEntry,
    kind: &'static str,
    detail: serde_json::Value,
) {
    state
        .audit(NewAuditEvent {
            at: state.now(),
            kind,
            user_id: entry.user_id.clone(),
            client_id: None,
            device_id: Some(entry.device_id.clone()),
            request_id: Some(entry.request_id.clone()),
            detail,
        })
        .await;
}
