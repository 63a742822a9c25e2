//! HTTP: routes, request reading and error rendering. No business rules here.

pub mod body;
pub mod error;
mod routes;

pub use routes::app;
