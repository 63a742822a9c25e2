//! `approve <txn>` and `deny <txn> [--not-recognized]`.

use ciba_core::authenticator::{Authenticator, Transaction};
use ciba_core::clock::Clock;
use ciba_core::protocol::{DecisionStatus, DenyReason, TransactionStatus};

use super::show::{describe, find};
use crate::error::{CliError, CliResult};

/// The RFC 8176 method of a software-held key: all this authenticator can claim.
pub const SOFTWARE_KEY_AMR: &str = "swk";

/// Shows the request, then approves it.
pub async fn approve(auth: &Authenticator, txn_id: &str, clock: &dyn Clock) -> CliResult {
    let txn = find(auth, txn_id).await?;
    print!("{}", describe(auth, &txn, clock.now())?);
    ensure_pending(&txn)?;
    println!("Approving…");
    report(approve_txn(auth, &txn).await?);
    Ok(())
}

/// Shows the request, then denies it.
pub async fn deny(
    auth: &Authenticator,
    txn_id: &str,
    not_recognized: bool,
    clock: &dyn Clock,
) -> CliResult {
    let txn = find(auth, txn_id).await?;
    print!("{}", describe(auth, &txn, clock.now())?);
    ensure_pending(&txn)?;
    let reason = if not_recognized {
        println!("Denying and reporting it as not recognised…");
        DenyReason::NotRecognized
    } else {
        println!("Denying…");
        DenyReason::UserDeclined
    };
    report(auth.deny(&txn, reason).await?);
    Ok(())
}

/// Says plainly that a request was already decided, instead of attempting a decision.
fn ensure_pending(txn: &Transaction) -> CliResult {
    let already = match txn.view.status {
        TransactionStatus::Pending => return Ok(()),
        TransactionStatus::Approved => "approved",
        TransactionStatus::Denied => "denied",
        TransactionStatus::Expired => "expired",
        TransactionStatus::Cancelled => "cancelled",
    };
    Err(CliError(format!("the request is already {already}")))
}

/// Approves with the software-key `amr`, refusing requests that need a user code (which this
/// authenticator cannot send).
pub async fn approve_txn(auth: &Authenticator, txn: &Transaction) -> CliResult<DecisionStatus> {
    if txn.view.user_code_required {
        return Err(CliError(
            "this request requires a user code, which the terminal authenticator cannot send"
                .to_owned(),
        ));
    }
    Ok(auth.approve(txn, vec![SOFTWARE_KEY_AMR.to_owned()]).await?)
}

/// Prints the server's verdict.
pub fn report(status: DecisionStatus) {
    match status {
        DecisionStatus::Approved => println!("Approved."),
        DecisionStatus::Denied => println!("Denied."),
    }
}
