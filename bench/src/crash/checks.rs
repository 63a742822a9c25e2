//! What is checked after each restart and at the end of the run.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ciba_core::authenticator::AuthenticatorError;
use ciba_core::protocol::TransactionStatus;
use tokio::task::JoinSet;

use super::ledger::{Action, Decision, Ledger, Mode};
use super::load::{CALL_TIMEOUT, Cycle, Lane, World, record_token_answer};
use crate::setup::oauth_post;

/// A re-sent ping counts as "re-sent after a crash" only if its first `204` came at most this
/// long before the kill that ended the life it was sent in: the server records a delivery right
/// after the answer, so an older one should have been recorded.
pub const RESEND_WINDOW: Duration = Duration::from_secs(5);

fn expected_status(action: Action) -> TransactionStatus {
    match action {
        Action::Approve => TransactionStatus::Approved,
        Action::Deny => TransactionStatus::Denied,
    }
}

/// Reads a transaction through the device API, retrying transport failures a few times.
async fn read_status(lane: &Lane, txn_id: &str) -> Result<TransactionStatus, String> {
    let mut last = String::new();
    for _ in 0..5 {
        let call = lane.user.sdk.transaction(&lane.account_id, txn_id);
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(txn)) => return Ok(txn.view.status),
            Ok(Err(AuthenticatorError::NotFound)) => return Err("not found".into()),
            Ok(Err(e @ AuthenticatorError::Network(_))) => last = e.to_string(),
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => last = "timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

/// The lane's pending list, as request numbers, retrying transport failures a few times.
async fn pending_seqs(lane: &Lane) -> Result<HashSet<u64>, String> {
    let mut last = String::new();
    for _ in 0..5 {
        match tokio::time::timeout(CALL_TIMEOUT, lane.user.sdk.pending()).await {
            Ok(Ok(list)) => {
                return Ok(list
                    .iter()
                    .filter_map(|t| Ledger::seq_of_binding(t.view.binding_message.as_deref()))
                    .collect());
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

/// After a restart (or at the end, `all`): every acknowledged decision of the lane not yet read
/// back (or every one) must read back as it was acknowledged; every decision in doubt is
/// resolved (committed, or not and to be sent again); every accepted, undecided request must be
/// listed pending. Returns how many decisions were read back.
async fn check_lane(world: &World, lane: &Lane, all: bool) -> usize {
    let to_read: Vec<(u64, String, Action, Decision)> = {
        let ledger = world.ledger.lock();
        ledger
            .reqs
            .iter()
            .filter(|(_, r)| r.lane == lane.index)
            .filter(|(_, r)| match r.decision {
                Decision::Acked { .. } => all || !r.verified,
                Decision::Committed => all,
                Decision::InFlight => true,
                Decision::None => false,
            })
            .filter_map(|(seq, r)| Some((*seq, r.txn_id.clone()?, r.action, r.decision)))
            .collect()
    };
    let mut read = 0;
    for (seq, txn_id, action, decision) in to_read {
        let status = read_status(lane, &txn_id).await;
        let mut ledger = world.ledger.lock();
        let expected = expected_status(action);
        match (decision, status) {
            (Decision::Acked { .. } | Decision::Committed, Ok(s)) if s == expected => {
                read += 1;
                if let Some(r) = ledger.reqs.get_mut(&seq) {
                    r.verified = true;
                }
            }
            (Decision::Acked { at, generation }, got) => {
                let before_kill = ledger
                    .killed_at
                    .get(&generation)
                    .map(|k| format!("{} ms", k.saturating_duration_since(at).as_millis()))
                    .unwrap_or_else(|| "(not killed since)".into());
                ledger.violation(
                    "acknowledged decision lost",
                    format!("request {seq} ({txn_id}): {action:?} acknowledged in server life {generation}, {before_kill} before its kill; now reads {got:?}"),
                );
            }
            (Decision::Committed, got) => ledger.violation(
                "committed decision lost",
                format!("request {seq} ({txn_id}): read back {expected:?} after an earlier crash, now {got:?}"),
            ),
            (Decision::InFlight, Ok(s)) if s == expected => {
                ledger.counters.decisions_committed_unacked += 1;
                if let Some(r) = ledger.reqs.get_mut(&seq) {
                    r.decision = Decision::Committed;
                    r.verified = true;
                }
                ledger.settle(seq);
            }
            (Decision::InFlight, Ok(TransactionStatus::Pending)) => {
                ledger.counters.decisions_lost_unacked += 1;
                if let Some(r) = ledger.reqs.get_mut(&seq) {
                    r.decision = Decision::None;
                }
            }
            (Decision::InFlight, got) => ledger.violation(
                "decision in doubt recorded as something else",
                format!("request {seq} ({txn_id}): {action:?} was in flight, now reads {got:?}"),
            ),
            (Decision::None, _) => {}
        }
    }
    // Undecided requests the server accepted must still be waiting for the user.
    match pending_seqs(lane).await {
        Ok(listed) => {
            let mut ledger = world.ledger.lock();
            let missing: Vec<u64> = ledger
                .open
                .get(lane.index)
                .into_iter()
                .flatten()
                .filter(|seq| {
                    ledger
                        .reqs
                        .get(seq)
                        .is_some_and(|r| r.auth_req_id.is_some() && r.decision == Decision::None)
                })
                .filter(|seq| !listed.contains(seq))
                .copied()
                .collect();
            for seq in missing {
                ledger.violation(
                    "accepted request not pending after restart",
                    format!("request {seq}: accepted (200 with an auth_req_id), never decided, not listed"),
                );
            }
        }
        Err(e) => world.ledger.lock().violation(
            "device API unavailable after restart",
            format!("lane {}: {e}", lane.index),
        ),
    }
    read
}

/// The checks of [`check_lane`] for every lane at once; returns the decisions read back.
pub async fn after_restart(world: &Arc<World>, all: bool) -> usize {
    let mut set = JoinSet::new();
    for lane in &world.lanes {
        let (w, l) = (world.clone(), lane.clone());
        set.spawn(async move { check_lane(&w, &l, all).await });
    }
    let read: usize = set.join_all().await.into_iter().sum();
    world.ledger.lock().counters.decisions_verified += read as u64;
    read
}

/// Ping-client requests whose decision the server holds but that were never pinged.
fn unpinged(ledger: &Ledger) -> Vec<u64> {
    ledger
        .reqs
        .iter()
        .filter(|(_, r)| r.mode == Mode::Ping && r.decision.is_decided())
        .filter(|(_, r)| r.auth_req_id.as_deref().is_some_and(|a| !ledger.pinged(a)))
        .map(|(seq, _)| *seq)
        .collect()
}

/// Waits (at most `limit`) until every decided request of the ping client has been pinged and
/// the outbox holds nothing pending: a ping claimed by a killed server waits for its lease (60 s)
/// to expire, and one whose 204 the killed server had not recorded is sent again then, so the
/// re-sends are seen and classified. Returns how long it took, how many decided requests were
/// still not pinged, and how many notifications were still pending (or why it is unknown).
pub async fn drain_pings(
    world: &World,
    database_url: &str,
    limit: Duration,
) -> (Duration, usize, Result<i64, String>) {
    let start = Instant::now();
    let mut last_report = Instant::now();
    loop {
        let missing = unpinged(&world.ledger.lock()).len();
        let pending = super::db::pending_notifications(database_url).await;
        let done = missing == 0 && matches!(pending, Ok(0));
        if done || start.elapsed() >= limit {
            return (start.elapsed(), missing, pending);
        }
        if last_report.elapsed() >= Duration::from_secs(15) {
            println!(
                "  draining: {missing} decided ping requests not yet pinged, outbox pending {pending:?}, after {} s (a killed server's claims expire after 60 s)",
                start.elapsed().as_secs()
            );
            last_report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// One last token request for every request still owed an answer: approved ones must give
/// their tokens now (or have been redeemed by a request whose answer was lost), denied ones
/// `access_denied`, undecided ones stay pending.
pub async fn token_sweep(world: &Arc<World>, cycle: &Arc<Cycle>) {
    let todo: Vec<(u64, String, Mode)> = {
        let ledger = world.ledger.lock();
        ledger
            .reqs
            .iter()
            .filter(|(_, r)| !r.finished())
            .filter_map(|(seq, r)| Some((*seq, r.auth_req_id.clone()?, r.mode)))
            .collect()
    };
    let mut set = JoinSet::new();
    for chunk in todo.chunks(todo.len().div_ceil(4).max(1)) {
        let (w, c, chunk) = (world.clone(), cycle.clone(), chunk.to_vec());
        set.spawn(async move {
            for (seq, auth, mode) in chunk {
                let client = match mode {
                    Mode::Poll => &w.poll_client,
                    Mode::Ping => &w.ping_client,
                };
                let sent_at = Instant::now();
                let form = [
                    ("grant_type", "urn:openid:params:grant-type:ciba"),
                    ("auth_req_id", auth.as_str()),
                ];
                let call = oauth_post(&c.http, client, "/token", &form);
                let answer = match tokio::time::timeout(CALL_TIMEOUT, call).await {
                    Ok(a) => a,
                    Err(_) => Err("timed out".into()),
                };
                record_token_answer(&mut w.ledger.lock(), seq, sent_at, answer);
            }
        });
    }
    set.join_all().await;
    let mut ledger = world.ledger.lock();
    let owed: Vec<u64> = ledger
        .reqs
        .iter()
        .filter(|(_, r)| r.auth_req_id.is_some() && r.decision.is_decided() && !r.finished())
        .map(|(seq, _)| *seq)
        .collect();
    for seq in owed {
        ledger.violation(
            "decided request without a final token answer",
            format!("request {seq}: decided, but the last token request gave neither tokens, access_denied nor invalid_grant"),
        );
    }
}

/// What the pings came to.
#[derive(Debug, Clone, Default)]
pub struct PingReport {
    /// Distinct `auth_req_id`s pinged.
    pub delivered: usize,
    /// Pings received again in a later server life, the first one's 204 being recent enough
    /// before the kill that the server may not have recorded it.
    pub resent_after_crash: usize,
    /// The longest time between a re-sent ping's first 204 and the kill that followed it.
    pub longest_resend_gap: Duration,
    /// Pings for `auth_req_id`s the harness never learnt.
    pub orphans: usize,
    /// Decided ping-client requests never pinged.
    pub unpinged: usize,
}

/// Classifies every ping: more than one in a server life, or one re-sent long after its 204,
/// or a ping for a request never decided, is a violation; so is a decided request that was
/// never pinged (call after [`drain_pings`]).
pub fn analyse_pings(ledger: &mut Ledger) -> PingReport {
    let mut report = PingReport::default();
    let mut found = Vec::new();
    for (auth, pings) in &ledger.pings {
        let mut pings = pings.clone();
        pings.sort_by_key(|p| p.at);
        let seq = ledger.by_auth.get(auth).copied();
        match seq.and_then(|s| ledger.reqs.get(&s)) {
            None => report.orphans += 1,
            Some(r) if !r.decision.is_decided() => found.push((
                "ping for an undecided request",
                format!(
                    "request {}: pinged, but its device reads it pending",
                    seq.unwrap_or_default()
                ),
            )),
            Some(_) => {}
        }
        report.delivered += 1;
        for pair in pings.windows(2) {
            let (first, again) = (pair[0], pair[1]);
            if first.generation == again.generation {
                found.push((
                    "ping sent twice in one server life",
                    format!(
                        "auth_req_id of request {seq:?}: two 204s in server life {}",
                        first.generation
                    ),
                ));
                continue;
            }
            let gap = ledger
                .killed_at
                .get(&first.generation)
                .map(|k| k.saturating_duration_since(first.at))
                .unwrap_or_default();
            report.longest_resend_gap = report.longest_resend_gap.max(gap);
            if gap > RESEND_WINDOW {
                found.push((
                    "ping re-sent long after its 204",
                    format!(
                        "request {seq:?}: first 204 {} ms before the kill of server life {}, sent again in life {}",
                        gap.as_millis(),
                        first.generation,
                        again.generation
                    ),
                ));
            } else {
                report.resent_after_crash += 1;
            }
        }
    }
    let missing = unpinged(ledger);
    report.unpinged = missing.len();
    for seq in missing {
        found.push((
            "decided ping request never pinged",
            format!("request {seq}: decided, not pinged after the drain"),
        ));
    }
    for (kind, detail) in found {
        ledger.violation(kind, detail);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::super::ledger::{Ping, Req};
    use super::*;

    fn ledger() -> Ledger {
        let mut l = Ledger::default();
        for (seq, auth) in [(1, "a"), (2, "b")] {
            l.reqs.insert(
                seq,
                Req {
                    lane: 0,
                    mode: Mode::Ping,
                    action: Action::Approve,
                    auth_req_id: Some(auth.into()),
                    accept_unknown: false,
                    txn_id: None,
                    decision: Decision::Committed,
                    tokens_ok: 0,
                    token_unknown: 0,
                    denied_seen: false,
                    redeemed_seen: false,
                    last_poll: None,
                    verified: false,
                },
            );
            l.by_auth.insert(auth.into(), seq);
        }
        l
    }

    #[test]
    fn pings_are_classified() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let ping = |generation, ms| Ping {
            generation,
            at: at(ms),
        };

        // Re-sent in a later life, its first 204 just before the kill: re-sent after a crash.
        let mut l = ledger();
        l.killed_at.insert(1, at(10));
        l.pings
            .insert("a".into(), vec![ping(1, 5), ping(2, 60_000)]);
        l.pings.insert("b".into(), vec![ping(1, 1)]);
        let report = analyse_pings(&mut l);
        assert_eq!(l.violation_count(), 0, "{:?}", l.details);
        assert_eq!((report.delivered, report.resent_after_crash), (2, 1));

        // Twice in one life; re-sent long after its 204; a decided request never pinged.
        let mut l = ledger();
        l.killed_at.insert(1, at(20_000));
        l.pings
            .insert("a".into(), vec![ping(1, 5), ping(1, 9), ping(2, 60_000)]);
        let report = analyse_pings(&mut l);
        assert_eq!(
            l.violations.get("ping sent twice in one server life"),
            Some(&1)
        );
        assert_eq!(
            l.violations.get("ping re-sent long after its 204"),
            Some(&1)
        );
        assert_eq!(
            l.violations.get("decided ping request never pinged"),
            Some(&1)
        );
        assert_eq!(report.unpinged, 1);

        // A ping for a request its device reads pending.
        let mut l = ledger();
        if let Some(r) = l.reqs.get_mut(&1) {
            r.decision = Decision::None;
        }
        l.pings.insert("a".into(), vec![ping(1, 5)]);
        l.pings.insert("b".into(), vec![ping(1, 5)]);
        analyse_pings(&mut l);
        assert_eq!(l.violations.get("ping for an undecided request"), Some(&1));
    }
}
