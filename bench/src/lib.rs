//! What the benchmark binaries share: the lean HTTP client ([`client`]), the setup of users,
//! enrolled devices and clients through the admin API and the real SDK ([`setup`]), and the
//! crash-safety harness `ciba-crash` ([`crash`]). The load benchmark `ciba-load` is
//! `src/main.rs`.

pub mod client;
pub mod crash;
pub mod setup;
