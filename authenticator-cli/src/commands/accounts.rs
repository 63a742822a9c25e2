//! `accounts [--check]`.

use ciba_core::authenticator::{AccountState, Authenticator};

use crate::display::{attestation_line, clean};
use crate::error::CliResult;

/// Lists the enrolled accounts; with `check`, also where each stands.
pub async fn run(auth: &Authenticator, check: bool) -> CliResult {
    let accounts = auth.accounts()?;
    if accounts.is_empty() {
        println!("No accounts. Enroll with: ciba-authenticator enroll '<ciba-enroll://…>'");
    }
    for a in accounts {
        let state = if check {
            match auth.account_status(&a.id).await {
                Ok(AccountState::Active) => "  [active]".to_owned(),
                Ok(AccountState::Revoked) => "  [revoked by the bank: enroll again]".to_owned(),
                Ok(AccountState::NeedsReenrollment) => "  [key missing: enroll again]".to_owned(),
                Err(e) => format!("  [unknown: {}]", clean(&e.to_string())),
            }
        } else {
            String::new()
        };
        println!(
            "{}  {}  subject {}  device {}  at {}  attestation {}{state}",
            clean(&a.id),
            clean(&a.account_label),
            clean(&a.subject),
            clean(&a.device_id),
            clean(&a.issuer),
            attestation_line(a.attestation.as_ref())
        );
    }
    Ok(())
}
