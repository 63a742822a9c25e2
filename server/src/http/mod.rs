//! HTTP: routes, extractors for the three kinds of caller, request reading and error rendering.
//! No business rules here; the only module besides `lib.rs` and `main.rs` that knows axum.

mod admin;
pub mod body;
pub mod error;
pub mod extractors;
mod routes;

pub use routes::app;
