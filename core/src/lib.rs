//! # ciba-core
//!
//! The shared core of the CIBA stack:
//!
//! - [`protocol`]: the wire types of the device protocol (DEVICE-PROTOCOL.md), used by the server
//!   *and* the SDK, and the consent string / consent hash that binds an approval to what the user saw;
//! - [`jose`]: compact JWS assembly through a [`jose::Signer`] (so hardware keys plug in), JWKs and
//!   RFC 7638 thumbprints, DER→r‖s conversion, DPoP proofs;
//! - [`clock`]: time as a parameter, so expiry is tested without sleeping;
//! - `authenticator` (cargo feature `authenticator`, on by default): the authenticator SDK that
//!   bank apps embed.

pub mod clock;
pub mod jose;
pub mod protocol;

#[cfg(feature = "authenticator")]
pub mod authenticator;
