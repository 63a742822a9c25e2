//! `list`.

use ciba_core::authenticator::Authenticator;

use crate::display::summary_line;
use crate::error::CliResult;

/// Prints one line per pending request, newest first.
pub async fn run(auth: &Authenticator, now: i64) -> CliResult {
    let pending = auth.pending().await?;
    if pending.is_empty() {
        println!("No pending requests.");
    }
    for txn in &pending {
        println!("{}", summary_line(txn, now));
    }
    Ok(())
}
