//! Compact JWS (RFC 7515) assembly, JWKs and thumbprints (RFC 7517, RFC 7638), DPoP proofs (RFC 9449).
//!
//! Signing goes through the [`Signer`] trait so that keys held in a phone's secure hardware plug in:
//! a hardware signer cannot be handed to a JWT library, so the JWS is assembled here. This module
//! does no cryptography of its own except SHA-256; the software signer (on `ring`) lives in
//! [`software`] behind the `authenticator` feature, and the server verifies with its own provider.

mod der;
mod jwk;
mod jws;
#[cfg(feature = "authenticator")]
pub mod software;

pub use der::der_to_raw_ecdsa;
pub use jwk::Jwk;
pub use jws::{
    CompactJws, DpopClaims, JwsHeader, b64u_decode, b64u_encode, dpop_proof, sign_compact,
};

/// Errors of JOSE operations.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum JoseError {
    /// The input is not a compact JWS, or a part does not decode.
    #[error("malformed JWS: {0}")]
    Malformed(String),
    /// A JWK lacks a member or has a wrong one.
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    /// A DER ECDSA signature could not be converted.
    #[error("invalid DER signature: {0}")]
    InvalidDerSignature(String),
    /// The signer failed (the platform key store refused, the key is gone, …).
    #[error("signing failed: {0}")]
    Signing(String),
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// JSON (de)serialisation failed.
    #[error("JSON: {0}")]
    Json(String),
}

/// Something that signs JWS signing inputs with one key.
///
/// On a phone this is backed by the Secure Enclave or Android Keystore; [`software::SoftwareSigner`]
/// is the `ring` implementation for tests, the terminal authenticator and emulators.
pub trait Signer: Send + Sync {
    /// The JWS `alg` (`"ES256"`).
    fn alg(&self) -> &str;
    /// The public key as a JWK (no private members).
    fn public_jwk(&self) -> Jwk;
    /// Signs `signing_input` and returns the JWS signature bytes (for ES256: the 64-byte r‖s).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError>;
}
