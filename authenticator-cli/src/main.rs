//! `ciba-authenticator`: the authenticator SDK driven from a terminal. It enrolls with a server,
//! lists and shows what waits for the user, and approves or denies — the same calls a phone app
//! makes, without a phone.

mod cli;
mod commands;
mod display;
mod error;
mod home;

use std::process::ExitCode;

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
