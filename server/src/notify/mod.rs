//! Client notifications (CIBA Core §10.2–10.3): the HTTP client that calls a ping or push-mode
//! client's `backchannel_client_notification_endpoint`, and the rules on which endpoints may be
//! called at all (`endpoint`: SSRF protection).
//!
//! Decisions enqueue a notification in the same transaction that records them; the worker
//! (`delivery::client_notifications`) on every instance claims due notifications with leases that
//! expire, sends them with [`NotificationClient`], and retries network errors, 408/429 and 5xx
//! with backoff until the deadline. 401/403, other 4xx, redirects and refused addresses are final
//! and recorded. The decision endpoint never waits on a client's server. (Waking the user's
//! *devices* is another matter: `push`.)

mod client;
pub mod endpoint;

pub use client::{NotificationClient, SendOutcome};
