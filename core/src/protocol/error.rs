use serde::{Deserialize, Serialize};

/// The error body of every device-API (and OAuth) error: `{"error", "error_description"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// A machine-readable code, one of [`error_codes`] on the device API.
    pub error: String,
    /// A human-readable explanation (never contains CR, LF or TAB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// The error codes of the device API.
pub mod error_codes {
    /// The DPoP proof is missing, malformed, replayed, stale or does not match the request (401).
    pub const INVALID_DPOP_PROOF: &str = "invalid_dpop_proof";
    /// The proof's key belongs to no enrolled device (401).
    pub const UNKNOWN_DEVICE: &str = "unknown_device";
    /// The proof's key belongs to a revoked device (401).
    pub const DEVICE_REVOKED: &str = "device_revoked";
    /// Bad, used or expired enrollment code (400).
    pub const INVALID_ENROLLMENT_CODE: &str = "invalid_enrollment_code";
    /// The key is already enrolled (409).
    pub const DEVICE_ALREADY_ENROLLED: &str = "device_already_enrolled";
    /// The device's key attestation does not satisfy the server's policy (400; protocol v1.1).
    pub const ATTESTATION_FAILED: &str = "attestation_failed";
    /// A decision that does not verify (400).
    pub const INVALID_DECISION: &str = "invalid_decision";
    /// The transaction was already decided (409).
    pub const ALREADY_DECIDED: &str = "already_decided";
    /// The transaction expired (410).
    pub const EXPIRED: &str = "expired";
    /// No such transaction for this user (404).
    pub const NOT_FOUND: &str = "not_found";
    /// The request body is malformed (400).
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// The server failed (500).
    pub const SERVER_ERROR: &str = "server_error";
}

/// Errors in building or reading protocol values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    /// The enrollment URI is not a `ciba-enroll://v1?issuer=…&code=…` URI.
    #[error("invalid enrollment URI: {0}")]
    InvalidEnrollmentUri(String),
    /// The push payload is not a v1 wake-up payload.
    #[error("invalid push payload: {0}")]
    InvalidPushPayload(String),
    /// `authorization_details` could not be canonicalised.
    #[error("authorization_details cannot be canonicalised: {0}")]
    InvalidAuthorizationDetails(String),
}
