//! What the harness knows, from answers the server actually sent: every request it sent, what
//! became of it, the pings the receiver answered, and the violations found.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Which client sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The poll client: polls the token endpoint.
    Poll,
    /// The ping client: its endpoint is the harness's receiver; it asks for tokens once pinged.
    Ping,
}

/// What the device decides. Fixed per request (by its number), so a decision re-sent after a
/// crash is always the same decision, and the server can only ever have recorded this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Approve.
    Approve,
    /// Deny (`user_declined`, which does not lock the user).
    Deny,
}

impl Action {
    /// Seven in ten requests are approved.
    pub fn of(seq: u64) -> Self {
        if (seq / 2) % 10 < 7 {
            Self::Approve
        } else {
            Self::Deny
        }
    }
}

/// Where the decision of a request stands, as far as the harness can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// No decision sent, or one whose answer was lost and whose request showed pending after the
    /// restart (so it was not committed, and can be sent again).
    None,
    /// Sent, no answer: the server died (or the connection did) with the decision in flight.
    InFlight,
    /// The device got `200` with this decision: the server must keep it, whatever happens.
    Acked {
        /// When the answer arrived.
        at: Instant,
        /// In which server life.
        generation: u64,
    },
    /// Was in flight, and after the restart the request showed this decision: committed, but
    /// its answer was lost in the crash.
    Committed,
}

impl Decision {
    /// The server has (or must have) recorded the decision.
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Acked { .. } | Self::Committed)
    }
}

/// One backchannel request the harness sent.
#[derive(Debug, Clone)]
pub struct Req {
    /// Lane (user) that sent it.
    pub lane: usize,
    /// Which client.
    pub mode: Mode,
    /// What its device decides.
    pub action: Action,
    /// Known once the server answered `200` to the backchannel request.
    pub auth_req_id: Option<String>,
    /// The backchannel request got no answer (the server may or may not have created it).
    pub accept_unknown: bool,
    /// The transaction id, learnt when the device lists it.
    pub txn_id: Option<String>,
    /// Where its decision stands.
    pub decision: Decision,
    /// Token answers with tokens (more than one is a violation).
    pub tokens_ok: u32,
    /// Token requests sent whose answer never came (the server may have redeemed them).
    pub token_unknown: u32,
    /// The token endpoint answered `access_denied`.
    pub denied_seen: bool,
    /// The token endpoint answered `invalid_grant` (already redeemed).
    pub redeemed_seen: bool,
    /// When the last token request was sent.
    pub last_poll: Option<Instant>,
    /// The acknowledged decision was read back after a restart.
    pub verified: bool,
}

impl Req {
    /// Nothing more to ask the token endpoint: tokens, `access_denied` or already redeemed.
    pub fn finished(&self) -> bool {
        self.tokens_ok > 0 || self.denied_seen || self.redeemed_seen
    }
}

/// One ping the receiver answered `204`.
#[derive(Debug, Clone, Copy)]
pub struct Ping {
    /// The server life it came from (the harness's count of starts at the time).
    pub generation: u64,
    /// When it arrived.
    pub at: Instant,
}

/// Counts for the summary and the progress lines.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub backchannel_sent: u64,
    pub accepted: u64,
    pub backchannel_refused: u64,
    pub backchannel_unanswered: u64,
    /// Requests whose backchannel answer was lost but that the device later listed.
    pub orphans_found: u64,
    pub decisions_acked: u64,
    pub decisions_refused: u64,
    pub decisions_unanswered: u64,
    /// Unanswered decisions found committed after the restart.
    pub decisions_committed_unacked: u64,
    /// Unanswered decisions found not committed after the restart (sent again later).
    pub decisions_lost_unacked: u64,
    pub token_requests: u64,
    pub tokens_issued: u64,
    pub token_pending: u64,
    pub token_slow_down: u64,
    pub token_access_denied: u64,
    /// `invalid_grant` after this harness got the tokens.
    pub invalid_grant_after_success: u64,
    /// `invalid_grant` where the only redemption was a token request whose answer was lost.
    pub invalid_grant_after_lost_answer: u64,
    pub token_unanswered: u64,
    pub token_other: u64,
    /// Pings answered `204` (all of them, re-sent ones included).
    pub pings_received: u64,
    /// Pings for an `auth_req_id` the harness never learnt (its backchannel answer was lost).
    pub pings_for_orphans: u64,
    /// Decisions verified after a restart (per kill) and at the end.
    pub decisions_verified: u64,
}

/// The shared record.
#[derive(Debug, Default)]
pub struct Ledger {
    /// By request number (the number is in the binding message: `CR <n>`).
    pub reqs: BTreeMap<u64, Req>,
    /// Per lane, the requests that still need something (a decision, a token answer).
    pub open: Vec<BTreeSet<u64>>,
    /// Request numbers by `auth_req_id`.
    pub by_auth: HashMap<String, u64>,
    /// Every ping the receiver answered, by `auth_req_id`.
    pub pings: HashMap<String, Vec<Ping>>,
    /// The current server life: 1 for the first start, +1 at each restart.
    pub generation: u64,
    /// When each server life ended (index = generation), set at the kill.
    pub killed_at: HashMap<u64, Instant>,
    pub counters: Counters,
    /// Violations by kind.
    pub violations: BTreeMap<&'static str, u64>,
    /// The first few violations in detail.
    pub details: Vec<String>,
}

/// Violations kept in detail (all are counted).
const MAX_DETAILS: usize = 200;

impl Ledger {
    /// Records a violation: counted by kind, printed, and kept in detail (the first 200).
    pub fn violation(&mut self, kind: &'static str, detail: String) {
        *self.violations.entry(kind).or_default() += 1;
        let line = format!(
            "VIOLATION {kind}: {detail} (server life {})",
            self.generation
        );
        eprintln!("{line}");
        if self.details.len() < MAX_DETAILS {
            self.details.push(line);
        }
    }

    /// All violations.
    pub fn violation_count(&self) -> u64 {
        self.violations.values().sum()
    }

    /// Drops a request from its lane's open set once nothing more is asked of it.
    pub fn settle(&mut self, seq: u64) {
        if let Some(r) = self.reqs.get(&seq) {
            let done = r.finished() || (r.auth_req_id.is_none() && r.decision.is_decided());
            if done && let Some(open) = self.open.get_mut(r.lane) {
                open.remove(&seq);
            }
        }
    }

    /// Whether the receiver got a ping for `auth_req_id`.
    pub fn pinged(&self, auth_req_id: &str) -> bool {
        self.pings.contains_key(auth_req_id)
    }

    /// The request numbered by a binding message `CR <n>`.
    pub fn seq_of_binding(message: Option<&str>) -> Option<u64> {
        message?.strip_prefix("CR ")?.parse().ok()
    }
}

/// The ledger behind a mutex, shared by every task.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<Ledger>>);

impl Shared {
    /// Locks it (a poisoned lock is taken over: the data are counters and records).
    pub fn lock(&self) -> MutexGuard<'_, Ledger> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
