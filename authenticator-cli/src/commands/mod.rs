//! One module per subcommand.

mod accounts;
mod approvals;
mod decide;
mod enroll;
mod lifecycle;
mod list;
mod show;
mod watch;

use crate::cli::{Cli, Command};
use crate::error::CliResult;
use crate::home;

/// Runs the chosen subcommand.
pub async fn run(cli: Cli) -> CliResult {
    let (authenticator, clock) = home::open(&cli.home)?;
    match cli.command {
        Command::Enroll { uri, name } => enroll::run(&authenticator, &uri, name).await,
        Command::Accounts { check } => accounts::run(&authenticator, check).await,
        Command::RotateKey { account } => lifecycle::rotate_key(&authenticator, &account).await,
        Command::Unenroll { account } => lifecycle::unenroll(&authenticator, &account).await,
        Command::PushToken {
            provider,
            token,
            sandbox,
        } => lifecycle::push_token(&authenticator, provider, token, sandbox).await,
        Command::List => list::run(&authenticator, clock.now()).await,
        Command::Show { txn } => show::run(&authenticator, &txn, clock.as_ref()).await,
        Command::Approve { txn } => decide::approve(&authenticator, &txn, clock.as_ref()).await,
        Command::Deny {
            txn,
            not_recognized,
        } => decide::deny(&authenticator, &txn, not_recognized, clock.as_ref()).await,
        Command::Watch {
            interval,
            auto,
            once,
        } => watch::run(&authenticator, clock.as_ref(), interval, auto, once).await,
        Command::ServeApprovals { listen, wait } => {
            approvals::run(&authenticator, listen, wait).await
        }
    }
}
