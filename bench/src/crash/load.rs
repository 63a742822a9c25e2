//! The mixed load of one server life. Each lane is one user with one enrolled device (the real
//! SDK) and runs three tasks until the kill:
//! - a requester: backchannel requests for its user, alternately from the poll and the ping
//!   client, at most [`MAX_UNDECIDED`] undecided at once; each carries `CR <n>` as its binding
//!   message, so the device side can tell which request a transaction is;
//! - a decider: lists the device's pending transactions and approves or denies each (the
//!   decision is fixed by the request's number, [`Action::of`]);
//! - a poller: token requests for the poll client's requests (pending ones every two seconds,
//!   decided ones at once) and for the ping client's once they are pinged.
//!
//! Every answer is checked against the ledger as it arrives (tokens twice, tokens for a denied
//! request, `access_denied` for an approved one, an acknowledged decision polled as pending, a
//! redemption nobody was handed the tokens of, an accepted request the server no longer knows).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ciba_core::authenticator::{AuthenticatorError, Transaction};
use ciba_core::protocol::{DecisionStatus, DenyReason};
use serde_json::Value;
use tokio::task::JoinSet;

use super::ledger::{Action, Decision, Ledger, Mode, Req, Shared};
use crate::client::Http;
use crate::setup::{Client, User, oauth_post};

/// Undecided requests per lane at once.
pub const MAX_UNDECIDED: usize = 3;
/// The limit of one HTTP call of the harness.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Pending requests are polled this often (the server's interval is 1 s).
const PENDING_POLL_EVERY: Duration = Duration::from_secs(2);
const CIBA_GRANT: &str = "urn:openid:params:grant-type:ciba";

/// One user and their device.
pub struct Lane {
    pub index: usize,
    pub user: User,
    /// The SDK's local id of the user's account.
    pub account_id: String,
}

/// What every life of the server is driven with.
pub struct World {
    pub ledger: Shared,
    pub lanes: Vec<Arc<Lane>>,
    pub poll_client: Client,
    pub ping_client: Client,
    pub seq: AtomicU64,
}

/// One server life's load: a fresh connection pool (the previous one's connections died with
/// the server) and the stop flag.
pub struct Cycle {
    pub http: Http,
    pub stop: AtomicBool,
}

impl Cycle {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// An error of a call that never reached the server (nothing to be in doubt about).
fn not_sent(error: &str) -> bool {
    error.starts_with("connect ")
}

async fn post(
    cycle: &Cycle,
    client: &Client,
    path: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), String> {
    match tokio::time::timeout(CALL_TIMEOUT, oauth_post(&cycle.http, client, path, form)).await {
        Ok(result) => result,
        Err(_) => Err("timed out".into()),
    }
}

/// Starts the lanes' tasks for one life.
pub fn start(world: &Arc<World>, cycle: &Arc<Cycle>) -> JoinSet<Result<(), String>> {
    let mut set = JoinSet::new();
    for lane in &world.lanes {
        let (w, c, l) = (world.clone(), cycle.clone(), lane.clone());
        set.spawn(async move { requester(&w, &l, &c).await });
        let (w, c, l) = (world.clone(), cycle.clone(), lane.clone());
        set.spawn(async move { decider(&w, &l, &c).await });
        let (w, c, l) = (world.clone(), cycle.clone(), lane.clone());
        set.spawn(async move { poller(&w, &l, &c).await });
    }
    set
}

fn undecided(ledger: &Ledger, lane: usize) -> usize {
    ledger.open.get(lane).map_or(0, |open| {
        open.iter()
            .filter_map(|seq| ledger.reqs.get(seq))
            .filter(|r| r.auth_req_id.is_some() && !r.decision.is_decided())
            .count()
    })
}

async fn requester(world: &World, lane: &Lane, cycle: &Cycle) -> Result<(), String> {
    while !cycle.stopped() {
        if undecided(&world.ledger.lock(), lane.index) >= MAX_UNDECIDED {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let seq = world.seq.fetch_add(1, Ordering::Relaxed);
        let mode = if seq.is_multiple_of(2) {
            Mode::Poll
        } else {
            Mode::Ping
        };
        {
            let mut ledger = world.ledger.lock();
            ledger.reqs.insert(
                seq,
                Req {
                    lane: lane.index,
                    mode,
                    action: Action::of(seq),
                    auth_req_id: None,
                    accept_unknown: true,
                    txn_id: None,
                    decision: Decision::None,
                    tokens_ok: 0,
                    token_unknown: 0,
                    denied_seen: false,
                    redeemed_seen: false,
                    last_poll: None,
                    verified: false,
                },
            );
            if let Some(open) = ledger.open.get_mut(lane.index) {
                open.insert(seq);
            }
            ledger.counters.backchannel_sent += 1;
        }
        let binding = format!("CR {seq}");
        let token = format!("crash-{seq}");
        let mut form = vec![
            ("scope", "openid"),
            ("login_hint", lane.user.username.as_str()),
            ("binding_message", binding.as_str()),
        ];
        let client = match mode {
            Mode::Poll => &world.poll_client,
            Mode::Ping => {
                form.push(("client_notification_token", token.as_str()));
                &world.ping_client
            }
        };
        let answer = post(cycle, client, "/backchannel/authenticate", &form).await;
        let refused = {
            let mut refused = false;
            let mut ledger = world.ledger.lock();
            match answer {
                Ok((200, body)) => {
                    let Some(id) = body.get("auth_req_id").and_then(Value::as_str) else {
                        return Err(format!("backchannel 200 without auth_req_id: {body}"));
                    };
                    if let Some(r) = ledger.reqs.get_mut(&seq) {
                        r.auth_req_id = Some(id.to_owned());
                        r.accept_unknown = false;
                    }
                    ledger.by_auth.insert(id.to_owned(), seq);
                    ledger.counters.accepted += 1;
                }
                Ok((status, body)) => {
                    ledger.reqs.remove(&seq);
                    if let Some(open) = ledger.open.get_mut(lane.index) {
                        open.remove(&seq);
                    }
                    ledger.counters.backchannel_refused += 1;
                    if !cycle.stopped() {
                        eprintln!("backchannel refused: {status} {body}");
                    }
                }
                Err(e) if not_sent(&e) => {
                    // Refused connection: the server is down (killed a moment ago).
                    ledger.reqs.remove(&seq);
                    if let Some(open) = ledger.open.get_mut(lane.index) {
                        open.remove(&seq);
                    }
                    ledger.counters.backchannel_sent -= 1;
                    refused = true;
                }
                Err(_) => ledger.counters.backchannel_unanswered += 1,
            }
            refused
        };
        if refused {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

async fn decide(lane: &Lane, txn: &Transaction, action: Action) -> Result<DecisionStatus, String> {
    let call = async {
        match action {
            Action::Approve => lane.user.sdk.approve(txn, vec!["swk".into()]).await,
            Action::Deny => lane.user.sdk.deny(txn, DenyReason::UserDeclined).await,
        }
    };
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(AuthenticatorError::AlreadyDecided)) => Err("already_decided".into()),
        Ok(Err(AuthenticatorError::Network(e))) => Err(format!("network: {e}")),
        Ok(Err(e)) => Err(format!("refused: {e}")),
        Err(_) => Err("network: timed out".into()),
    }
}

/// Learns the transaction id of a listed request; returns the decision to send, if it is due.
fn claim(ledger: &mut Ledger, lane: usize, seq: u64, txn_id: &str) -> Option<Action> {
    let r = ledger.reqs.get_mut(&seq).filter(|r| r.lane == lane)?;
    let first_sight = r.txn_id.is_none();
    r.txn_id = Some(txn_id.to_owned());
    let orphan = first_sight && r.accept_unknown;
    let action = (r.decision == Decision::None).then_some(r.action);
    if action.is_some() {
        r.decision = Decision::InFlight;
    }
    if orphan {
        ledger.counters.orphans_found += 1;
    }
    action
}

async fn decider(world: &World, lane: &Lane, cycle: &Cycle) -> Result<(), String> {
    while !cycle.stopped() {
        let listed = tokio::time::timeout(CALL_TIMEOUT, lane.user.sdk.pending()).await;
        let Ok(Ok(transactions)) = listed else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut decided = 0;
        for txn in transactions {
            if cycle.stopped() {
                break;
            }
            let Some(seq) = Ledger::seq_of_binding(txn.view.binding_message.as_deref()) else {
                continue;
            };
            let action = claim(&mut world.ledger.lock(), lane.index, seq, &txn.view.id);
            let Some(action) = action else { continue };
            decided += 1;
            let answer = decide(lane, &txn, action).await;
            let mut ledger = world.ledger.lock();
            let generation = ledger.generation;
            match answer {
                Ok(status) => {
                    let expected = match action {
                        Action::Approve => DecisionStatus::Approved,
                        Action::Deny => DecisionStatus::Denied,
                    };
                    if status == expected {
                        if let Some(r) = ledger.reqs.get_mut(&seq) {
                            r.decision = Decision::Acked {
                                at: Instant::now(),
                                generation,
                            };
                        }
                        ledger.counters.decisions_acked += 1;
                        ledger.settle(seq);
                    } else {
                        ledger.violation(
                            "decision answered with another status",
                            format!(
                                "request {seq} ({}): sent {action:?}, answered {status:?}",
                                txn.view.id
                            ),
                        );
                    }
                }
                Err(e) if e == "already_decided" => {
                    // Left in flight: the next restart's check reads what the server holds.
                    ledger.violation(
                        "already_decided for a request never decided",
                        format!("request {seq} ({}) was listed pending, and no decision of it was ever committed or in doubt", txn.view.id),
                    );
                }
                Err(e) if e.starts_with("network") => ledger.counters.decisions_unanswered += 1,
                Err(e) => {
                    if let Some(r) = ledger.reqs.get_mut(&seq) {
                        r.decision = Decision::None;
                    }
                    ledger.counters.decisions_refused += 1;
                    if !cycle.stopped() {
                        eprintln!("decision of request {seq} refused: {e}");
                    }
                }
            }
        }
        if decided == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

/// The requests of a lane due for a token request now.
fn due(ledger: &Ledger, lane: usize, now: Instant) -> Vec<(u64, String, Mode)> {
    let Some(open) = ledger.open.get(lane) else {
        return Vec::new();
    };
    open.iter()
        .filter_map(|seq| Some((*seq, ledger.reqs.get(seq)?)))
        .filter_map(|(seq, r)| {
            let auth = r.auth_req_id.as_ref()?;
            if r.finished() || (r.mode == Mode::Ping && !ledger.pinged(auth)) {
                return None;
            }
            let wait = if r.decision == Decision::None {
                PENDING_POLL_EVERY
            } else {
                Duration::from_millis(50)
            };
            let due = r.last_poll.is_none_or(|t| now.duration_since(t) >= wait);
            due.then(|| (seq, auth.clone(), r.mode))
        })
        .take(8)
        .collect()
}

async fn poller(world: &World, lane: &Lane, cycle: &Cycle) -> Result<(), String> {
    while !cycle.stopped() {
        let todo = due(&world.ledger.lock(), lane.index, Instant::now());
        if todo.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        for (seq, auth, mode) in todo {
            if cycle.stopped() {
                break;
            }
            let client = match mode {
                Mode::Poll => &world.poll_client,
                Mode::Ping => &world.ping_client,
            };
            let sent_at = Instant::now();
            let answer = post(
                cycle,
                client,
                "/token",
                &[("grant_type", CIBA_GRANT), ("auth_req_id", &auth)],
            )
            .await;
            let refused = matches!(&answer, Err(e) if not_sent(e));
            record_token_answer(&mut world.ledger.lock(), seq, sent_at, answer);
            if refused {
                tokio::time::sleep(Duration::from_millis(10)).await;
                break;
            }
        }
    }
    Ok(())
}

/// Checks one token answer against what the harness knows of the request, and records it.
pub fn record_token_answer(
    ledger: &mut Ledger,
    seq: u64,
    sent_at: Instant,
    answer: Result<(u16, Value), String>,
) {
    if matches!(&answer, Err(e) if not_sent(e)) {
        return;
    }
    ledger.counters.token_requests += 1;
    let Some(r) = ledger.reqs.get_mut(&seq) else {
        return;
    };
    r.last_poll = Some(sent_at);
    let (action, decision, tokens_ok, token_unknown) =
        (r.action, r.decision, r.tokens_ok, r.token_unknown);
    let what = format!(
        "request {seq} ({})",
        r.txn_id.as_deref().unwrap_or("txn unknown")
    );
    let (status, body) = match answer {
        Ok(answer) => answer,
        Err(_) => {
            r.token_unknown += 1;
            ledger.counters.token_unanswered += 1;
            return;
        }
    };
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let description = body
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match (status, error) {
        (200, _) if body.get("access_token").is_some() => {
            r.tokens_ok += 1;
            ledger.counters.tokens_issued += 1;
            if tokens_ok > 0 {
                ledger.violation(
                    "tokens issued twice",
                    format!("{what}: a second 200 for one auth_req_id"),
                );
            }
            if action == Action::Deny {
                ledger.violation(
                    "tokens for a denied request",
                    format!("{what}: only ever denied, yet tokens were issued"),
                );
            }
        }
        (_, "invalid_grant") if description.contains("unknown") => {
            ledger.violation(
                "accepted request lost",
                format!(
                    "{what}: the token endpoint no longer knows its auth_req_id ({description})"
                ),
            );
        }
        (_, "invalid_grant") => {
            r.redeemed_seen = true;
            if tokens_ok > 0 {
                ledger.counters.invalid_grant_after_success += 1;
            } else if token_unknown > 0 {
                ledger.counters.invalid_grant_after_lost_answer += 1;
            } else {
                ledger.violation("redeemed without tokens handed out", format!("{what}: invalid_grant ({description}), but no token request of it was ever answered 200 or left unanswered"));
            }
        }
        (_, "access_denied") => {
            r.denied_seen = true;
            ledger.counters.token_access_denied += 1;
            if action == Action::Approve {
                ledger.violation(
                    "access_denied for an approved request",
                    format!("{what}: only ever approved ({description})"),
                );
            }
        }
        (_, "authorization_pending" | "slow_down") => {
            if error == "slow_down" {
                ledger.counters.token_slow_down += 1;
            } else {
                ledger.counters.token_pending += 1;
            }
            if let Decision::Acked { at, .. } = decision
                && at < sent_at
            {
                ledger.violation(
                    "acknowledged decision polled as pending",
                    format!("{what}: {error} for a token request sent after the device's 200"),
                );
            }
        }
        _ => {
            ledger.counters.token_other += 1;
            ledger.violation(
                "unexpected token answer",
                format!("{what}: {status} {body}"),
            );
        }
    }
    ledger.settle(seq);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ledger_with(seq: u64, action: Action, decision: Decision) -> Ledger {
        let mut ledger = Ledger {
            open: vec![Default::default()],
            generation: 1,
            ..Ledger::default()
        };
        ledger.reqs.insert(
            seq,
            Req {
                lane: 0,
                mode: Mode::Poll,
                action,
                auth_req_id: Some("a".into()),
                accept_unknown: false,
                txn_id: Some("txn_1".into()),
                decision,
                tokens_ok: 0,
                token_unknown: 0,
                denied_seen: false,
                redeemed_seen: false,
                last_poll: None,
                verified: false,
            },
        );
        ledger
    }

    fn tokens() -> Result<(u16, Value), String> {
        Ok((200, json!({"access_token": "x", "id_token": "y"})))
    }

    fn refused(error: &str, description: &str) -> Result<(u16, Value), String> {
        Ok((
            400,
            json!({"error": error, "error_description": description}),
        ))
    }

    fn acked() -> Decision {
        Decision::Acked {
            at: Instant::now(),
            generation: 1,
        }
    }

    #[test]
    fn tokens_twice_or_for_a_denial_are_violations() {
        let mut l = ledger_with(1, Action::Approve, acked());
        record_token_answer(&mut l, 1, Instant::now(), tokens());
        assert_eq!(l.violation_count(), 0);
        record_token_answer(&mut l, 1, Instant::now(), tokens());
        assert_eq!(l.violations.get("tokens issued twice"), Some(&1));

        let mut l = ledger_with(2, Action::Deny, acked());
        record_token_answer(&mut l, 2, Instant::now(), tokens());
        assert_eq!(l.violations.get("tokens for a denied request"), Some(&1));
    }

    #[test]
    fn invalid_grant_is_expected_only_after_tokens_or_a_lost_answer() {
        let already = || {
            refused(
                "invalid_grant",
                "the tokens of this request were already issued",
            )
        };
        let mut l = ledger_with(1, Action::Approve, acked());
        record_token_answer(&mut l, 1, Instant::now(), tokens());
        record_token_answer(&mut l, 1, Instant::now(), already());
        assert_eq!(l.violation_count(), 0);
        assert_eq!(l.counters.invalid_grant_after_success, 1);

        let mut l = ledger_with(2, Action::Approve, acked());
        record_token_answer(&mut l, 2, Instant::now(), Err("connection reset".into()));
        record_token_answer(&mut l, 2, Instant::now(), already());
        assert_eq!(l.violation_count(), 0);
        assert_eq!(l.counters.invalid_grant_after_lost_answer, 1);

        // A refused connection never reached the server: it does not excuse a redemption.
        let mut l = ledger_with(3, Action::Approve, acked());
        record_token_answer(
            &mut l,
            3,
            Instant::now(),
            Err("connect 127.0.0.1:1: refused".into()),
        );
        record_token_answer(&mut l, 3, Instant::now(), already());
        assert_eq!(
            l.violations.get("redeemed without tokens handed out"),
            Some(&1)
        );

        let mut l = ledger_with(4, Action::Approve, Decision::None);
        record_token_answer(
            &mut l,
            4,
            Instant::now(),
            refused("invalid_grant", "unknown auth_req_id"),
        );
        assert_eq!(l.violations.get("accepted request lost"), Some(&1));
    }

    #[test]
    fn denial_and_pending_answers_are_checked_against_the_decision() {
        let mut l = ledger_with(1, Action::Approve, acked());
        record_token_answer(
            &mut l,
            1,
            Instant::now(),
            refused("access_denied", "denied"),
        );
        assert_eq!(
            l.violations.get("access_denied for an approved request"),
            Some(&1)
        );

        let mut l = ledger_with(2, Action::Deny, acked());
        record_token_answer(
            &mut l,
            2,
            Instant::now(),
            refused("access_denied", "denied"),
        );
        assert_eq!(l.violation_count(), 0);
        assert!(l.reqs[&2].finished());

        // Pending is fine for a poll sent before the device's 200, not after.
        let sent_before = Instant::now();
        let mut l = ledger_with(3, Action::Approve, acked());
        record_token_answer(&mut l, 3, sent_before, refused("authorization_pending", ""));
        assert_eq!(l.violation_count(), 0);
        std::thread::sleep(Duration::from_millis(2));
        record_token_answer(&mut l, 3, Instant::now(), refused("slow_down", ""));
        assert_eq!(
            l.violations.get("acknowledged decision polled as pending"),
            Some(&1)
        );
    }
}
