//! Client applications: registration rules and client authentication at the OAuth endpoints.

mod authentication;
pub mod dynamic;
mod mtls;
mod registration;
mod signed_jwt;

pub use authentication::{AuthenticatedClient, ClientCredentials, authenticate_client};
pub use mtls::{certificate_thumbprint, parse_dn};
pub use registration::{
    ClientRegistration, REFRESH_TOKEN_GRANT_TYPE, RegisteredClient, register_client,
};
pub use signed_jwt::{CLOCK_SKEW, JwtRefusal, VerifiedJwt, first_use_of_jti, verify_client_jwt};

use crate::store::{ClientAuthMethod, DeliveryMode};

/// The CIBA grant type, the grant every client is registered for.
pub const CIBA_GRANT_TYPE: &str = "urn:openid:params:grant-type:ciba";

/// `token_endpoint_auth_method`s this server supports.
pub fn auth_methods() -> Vec<&'static str> {
    ClientAuthMethod::ALL.iter().map(|m| m.as_str()).collect()
}

/// `backchannel_token_delivery_mode`s this server supports.
pub fn delivery_modes() -> Vec<&'static str> {
    DeliveryMode::ALL.iter().map(|m| m.as_str()).collect()
}

/// RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`, here at most 128 bytes.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::is_scope_token;

    #[test]
    fn scope_tokens() {
        assert!(is_scope_token("openid"));
        assert!(is_scope_token("payments:write"));
        assert!(!is_scope_token("a\"b"));
        assert!(!is_scope_token("a\\b"));
        assert!(!is_scope_token(""));
    }
}
