//! What the benchmark binaries share: the lean HTTP client ([`client`]) and the setup of users,
//! enrolled devices and clients through the admin API and the real SDK ([`setup`]). The load
//! benchmark `ciba-load` is `src/main.rs`.

pub mod client;
pub mod setup;
