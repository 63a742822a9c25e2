//! End-to-end tests: one binary (link once), modules per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_api;
mod attacks;
mod cluster;
mod console;
mod database;
mod device_trust;
mod fapi;
mod flows;
mod hostile;
mod hostile_table;
mod lifecycle;
mod notify;
mod operator;
mod push;
mod restart;
mod rp;
mod tokens;
mod validation;
