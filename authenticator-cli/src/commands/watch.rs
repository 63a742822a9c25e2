//! `watch [--interval] [--auto approve|deny] [--once]`.

use std::collections::HashSet;
use std::time::Duration;

use ciba_core::authenticator::{Authenticator, AuthenticatorError, Transaction};
use ciba_core::clock::Clock;
use ciba_core::protocol::DenyReason;

use super::decide::{approve_txn, report};
use crate::cli::AutoDecision;
use crate::display::summary_line;
use crate::error::CliResult;

/// Polls until Ctrl-C (or, with `once`, until the first new request is handled).
pub async fn run(
    auth: &Authenticator,
    clock: &dyn Clock,
    interval: u64,
    auto: Option<AutoDecision>,
    once: bool,
) -> CliResult {
    let mut watcher = Watcher {
        auth,
        clock,
        auto,
        once,
        seen: HashSet::new(),
    };
    let interval = Duration::from_secs(interval);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    eprintln!("Watching for requests (Ctrl-C to stop)…");
    loop {
        let round = async {
            let finished = watcher.round().await?;
            if !finished {
                tokio::time::sleep(interval).await;
            }
            CliResult::Ok(finished)
        };
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            finished = round => if finished? { return Ok(()) },
        }
    }
}

struct Watcher<'a> {
    auth: &'a Authenticator,
    clock: &'a dyn Clock,
    auto: Option<AutoDecision>,
    once: bool,
    /// Requests already printed, so each appears once; pruned to what is still pending.
    seen: HashSet<String>,
}

impl Watcher<'_> {
    /// One poll. `Ok(true)` when `--once` is satisfied.
    async fn round(&mut self) -> CliResult<bool> {
        let pending = match self.auth.pending().await {
            Ok(pending) => pending,
            Err(e) if is_transient(&e) => {
                eprintln!("warning: {e}; retrying");
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        };
        self.seen
            .retain(|id| pending.iter().any(|t| &t.view.id == id));
        // Oldest first, so requests are handled in the order they arrived.
        for txn in pending.iter().rev() {
            if !self.seen.insert(txn.view.id.clone()) {
                continue;
            }
            println!("{}", summary_line(txn, self.clock.now()));
            if let Some(auto) = self.auto {
                match self.decide(txn, auto).await {
                    Ok(()) => {}
                    Err(e) if self.once => return Err(e),
                    Err(e) => eprintln!("error: {}: {e}", txn.view.id),
                }
            }
            if self.once {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn decide(&self, txn: &Transaction, auto: AutoDecision) -> CliResult {
        let status = match auto {
            AutoDecision::Approve => approve_txn(self.auth, txn).await?,
            AutoDecision::Deny => self.auth.deny(txn, DenyReason::UserDeclined).await?,
        };
        report(status);
        Ok(())
    }
}

/// Errors worth waiting out: the server is briefly unreachable or failing.
fn is_transient(e: &AuthenticatorError) -> bool {
    match e {
        AuthenticatorError::Network(_) => true,
        AuthenticatorError::Server { status, .. } => *status >= 500,
        _ => false,
    }
}
