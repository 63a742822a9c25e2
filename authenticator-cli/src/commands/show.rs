//! `show <txn>`.

use ciba_core::authenticator::{Authenticator, AuthenticatorError, Transaction};
use ciba_core::clock::Clock;

use crate::display::details;
use crate::error::{CliError, CliResult};

/// Prints everything about one request.
pub async fn run(auth: &Authenticator, txn_id: &str, clock: &dyn Clock) -> CliResult {
    let txn = find(auth, txn_id).await?;
    print!("{}", describe(auth, &txn, clock.now())?);
    Ok(())
}

/// Fetches a request from whichever account has it.
pub async fn find(auth: &Authenticator, txn_id: &str) -> CliResult<Transaction> {
    auth.find_transaction(txn_id).await.map_err(|e| match e {
        AuthenticatorError::NotFound => {
            CliError(format!("no enrolled account has a request {txn_id:?}"))
        }
        other => other.into(),
    })
}

/// The full description of a request, with its account.
pub fn describe(auth: &Authenticator, txn: &Transaction, now: i64) -> CliResult<String> {
    let accounts = auth.accounts()?;
    let account = accounts.iter().find(|a| a.id == txn.account_id);
    Ok(details(txn, account, now))
}
