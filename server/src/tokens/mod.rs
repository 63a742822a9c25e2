//! Token issuance: the server's signing keys, JWKS, ID tokens and JWT access tokens (RFC 9068).

mod issue;
mod keys;

pub use issue::{
    IssuedTokens, TokenRequest, issue_tokens, verify_own_access_token, verify_own_id_token,
};
pub use keys::{KeyError, KeyState, SigningKey, SigningKeys};
