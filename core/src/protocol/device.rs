use serde::{Deserialize, Serialize};

use super::PushRegistration;

/// Whether a device may still act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeviceStatus {
    /// Enrolled and usable.
    Active,
    /// Revoked by the bank or unenrolled.
    Revoked,
}

impl DeviceStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
        }
    }
}

/// Body of `GET /device/v1/device`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceStatusResponse {
    /// The device id.
    pub device_id: String,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// The current push registration.
    pub push: PushRegistration,
    /// When it enrolled.
    pub enrolled_at: i64,
}

/// Body of `POST /device/v1/key-rotation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRotationRequest {
    /// A JWS by the new key (header `jwk` = the new public key) over [`NewKeyProofClaims`].
    pub new_key_proof: String,
}

/// Claims of the new-key proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKeyProofClaims {
    /// The thumbprint of the key being replaced.
    pub old_jkt: String,
    /// Issued at.
    pub iat: i64,
    /// A unique id.
    pub jti: String,
}

/// Answer to a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyRotationResponse {
    /// The device id (unchanged).
    pub device_id: String,
}
