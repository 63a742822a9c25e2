//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// A terminal authenticator for CIBA: approve or deny sign-in and payment requests.
#[derive(Debug, Parser)]
#[command(name = "ciba-authenticator", version, about)]
pub struct Cli {
    /// Where accounts (accounts.json) and keys (keys/) are kept.
    #[arg(
        long,
        global = true,
        env = "CIBA_AUTHENTICATOR_HOME",
        default_value = "./.ciba-authenticator"
    )]
    pub home: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Enroll with a server, using the `ciba-enroll://…` URI the bank gave you.
    Enroll {
        /// The enrollment URI (what the QR code carries).
        uri: String,
        /// A name for this device, as the bank will show it.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the enrolled accounts.
    Accounts {
        /// Also ask each server whether the device is still active (and check the keys).
        #[arg(long)]
        check: bool,
    },
    /// Replace an account's key: a new key is made, the server moves the device to it, the old
    /// key is deleted.
    RotateKey {
        /// The account id (see `accounts`).
        account: String,
    },
    /// Unenroll an account: the server revokes the device, the key and account are deleted here.
    Unenroll {
        /// The account id (see `accounts`).
        account: String,
    },
    /// Send a new push registration to the servers of all accounts.
    PushToken {
        /// The push service.
        #[arg(long, value_enum)]
        provider: PushService,
        /// The device token (required for fcm and apns).
        #[arg(long)]
        token: Option<String>,
        /// The APNs environment.
        #[arg(long)]
        sandbox: bool,
    },
    /// List pending requests of all accounts.
    List,
    /// Show everything about one request.
    Show {
        /// The transaction id (`txn_…`).
        txn: String,
    },
    /// Approve a request.
    Approve {
        /// The transaction id (`txn_…`).
        txn: String,
    },
    /// Deny a request.
    Deny {
        /// The transaction id (`txn_…`).
        txn: String,
        /// Report the request as not recognised (possible fraud) instead of just declining.
        #[arg(long)]
        not_recognized: bool,
    },
    /// Poll for new requests and print each one once; optionally decide them automatically.
    Watch {
        /// Seconds between polls.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
        interval: u64,
        /// Decide every new request automatically (for scripts).
        #[arg(long, value_enum)]
        auto: Option<AutoDecision>,
        /// Exit after the first new request has been handled.
        #[arg(long)]
        once: bool,
    },
    /// Serve the OpenID conformance suite's `automated_ciba_approval_url` on loopback: each
    /// `GET`/`POST /?token=<auth_req_id>&type=allow|deny` approves or denies, as this device,
    /// the newest pending request (for a test user only the suite asks).
    ServeApprovals {
        /// Where to listen (loopback only).
        #[arg(long, default_value = "127.0.0.1:8788")]
        listen: std::net::SocketAddr,
        /// Seconds to wait for a pending request to appear.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=120))]
        wait: u64,
    },
}

/// What `watch --auto` does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoDecision {
    /// Approve it.
    Approve,
    /// Deny it (as "user declined").
    Deny,
}

/// The push services of `push-token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PushService {
    /// Firebase Cloud Messaging.
    Fcm,
    /// Apple Push Notification service.
    Apns,
    /// No push: the device only polls.
    None,
}
