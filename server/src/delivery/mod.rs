//! The two outbox workers, one per kind of delivery, each on every instance: client
//! notifications (ping and push modes, to client applications) and device wake-ups (FCM and
//! APNs, to the user's phones). The mechanics they share — leases, backoff, the worker loop — are
//! `outbox`; the transports are `notify` and `push`.

pub mod client_notifications;
pub mod device_wakeups;
