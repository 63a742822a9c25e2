//! `accounts`.

use ciba_core::authenticator::Authenticator;

use crate::display::clean;
use crate::error::CliResult;

/// Lists the enrolled accounts.
pub fn run(auth: &Authenticator) -> CliResult {
    let accounts = auth.accounts()?;
    if accounts.is_empty() {
        println!("No accounts. Enroll with: ciba-authenticator enroll '<ciba-enroll://…>'");
    }
    for a in accounts {
        println!(
            "{}  {}  subject {}  device {}  at {}",
            clean(&a.id),
            clean(&a.account_label),
            clean(&a.subject),
            clean(&a.device_id),
            clean(&a.issuer)
        );
    }
    Ok(())
}
