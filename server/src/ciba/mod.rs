//! The CIBA request: validation of backchannel authentication requests, the state machine,
//! and the token grant.

mod backchannel;
mod grant;
mod validate;

pub use backchannel::{BackchannelResponse, start_request};
pub use grant::redeem_with_ciba_grant;
pub use validate::{is_scope_token, validate_binding_message, validate_requested_expiry};

/// The CIBA grant type.
pub const CIBA_GRANT_TYPE: &str = "urn:openid:params:grant-type:ciba";
