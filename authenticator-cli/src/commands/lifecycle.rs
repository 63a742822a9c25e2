//! `rotate-key`, `unenroll`, `push-token`.

use ciba_core::authenticator::Authenticator;
use ciba_core::protocol::{PushEnvironment, PushProvider, PushRegistration};

use crate::cli::PushService;
use crate::display::clean;
use crate::error::{CliError, CliResult};

/// Moves an account to a new key.
pub async fn rotate_key(auth: &Authenticator, account_id: &str) -> CliResult {
    let account = auth.rotate_key(account_id).await?;
    println!(
        "Key rotated for {} (device {}).",
        clean(&account.account_label),
        clean(&account.device_id)
    );
    Ok(())
}

/// Unenrolls an account.
pub async fn unenroll(auth: &Authenticator, account_id: &str) -> CliResult {
    auth.unenroll(account_id).await?;
    println!("Unenrolled; the account and its key are deleted.");
    Ok(())
}

/// Sends a new push registration for every account; fails if any account failed.
pub async fn push_token(
    auth: &Authenticator,
    service: PushService,
    token: Option<String>,
    sandbox: bool,
) -> CliResult {
    let push = PushRegistration {
        provider: match service {
            PushService::Fcm => PushProvider::Fcm,
            PushService::Apns => PushProvider::Apns,
            PushService::None => PushProvider::None,
        },
        token,
        environment: if sandbox {
            PushEnvironment::Sandbox
        } else {
            PushEnvironment::Production
        },
    };
    let updates = auth.update_push_token(push).await?;
    let mut failed = 0;
    for update in &updates {
        match &update.error {
            None => println!("{}  updated", clean(&update.account_id)),
            Some(e) => {
                failed += 1;
                println!(
                    "{}  failed: {}",
                    clean(&update.account_id),
                    clean(&CliError::from(e.clone()).0)
                );
            }
        }
    }
    if failed > 0 {
        return Err(CliError(format!(
            "{failed} of {} accounts were not updated",
            updates.len()
        )));
    }
    Ok(())
}
