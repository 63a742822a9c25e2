//! Client applications: registration rules and client authentication at the OAuth endpoints.

mod authentication;
mod cache;
mod registration;

pub use authentication::authenticate_client;
pub use cache::ClientCache;
pub use registration::{ClientRegistration, RegisteredClient, register_client};

/// `token_endpoint_auth_method`s this server supports.
pub const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post"];

/// `backchannel_token_delivery_mode`s this server supports.
pub const DELIVERY_MODES: &[&str] = &["poll", "ping", "push"];
