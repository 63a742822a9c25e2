//! The device protocol v1: the wire contract between the server and the authenticator SDK.
//!
//! Both sides use these types, so the contract is written once. Field names and shapes follow
//! DEVICE-PROTOCOL.md exactly; changing them is a protocol version bump.

mod consent;
mod decision;
mod device;
mod display;
mod enrollment;
mod error;
mod push;
mod transaction;

pub use consent::{CONSENT_VERSION_LINE, consent_hash, consent_string};
pub use decision::{
    DECISION_MAX_LIFETIME_SECS, DECISION_TYP, DecisionAction, DecisionClaims, DecisionRequest,
    DecisionResponse, DecisionStatus, DenyReason,
};
pub use device::{
    DeviceStatus, DeviceStatusResponse, KeyRotationRequest, KeyRotationResponse, NewKeyProofClaims,
};
pub use display::{is_display_safe, is_display_safe_char, json_is_display_safe};
pub use enrollment::{
    ApprovalKey, Attestation, DeviceInfo, ENROLLMENT_URI_SCHEME, EnrolledAttestation, EnrolledUser,
    EnrollmentRequest, EnrollmentResponse, EnrollmentUri, MAX_ENROLLMENT_CODE_BYTES,
    MAX_ENROLLMENT_URI_BYTES, MAX_ISSUER_BYTES, Platform, PushEnvironment, PushProvider,
    PushRegistration, app_attest_client_data_hash, attestation_challenge,
};
pub use error::{ErrorBody, ProtocolError, error_codes};
pub use push::{PUSH_PAYLOAD_VERSION, PushPayload};
pub use transaction::{ClientView, TransactionList, TransactionStatus, TransactionView};

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// The `typ` header of a DPoP proof (RFC 9449).
pub const DPOP_TYP: &str = "dpop+jwt";

/// How far a DPoP proof's `iat` may be from the server clock, in seconds.
pub const DPOP_IAT_TOLERANCE_SECS: i64 = 60;

/// How long the server remembers a DPoP `jti`, in seconds.
pub const DPOP_REPLAY_WINDOW_SECS: i64 = 120;

/// Paths of the device API, relative to the issuer.
pub mod paths {
    /// `POST`: enroll a device with an enrollment code.
    pub const ENROLLMENTS: &str = "/device/v1/enrollments";
    /// `GET`: the pending transactions of the device's user.
    pub const TRANSACTIONS: &str = "/device/v1/transactions";
    /// `GET`, `DELETE`: this device.
    pub const DEVICE: &str = "/device/v1/device";
    /// `PUT`: replace the push token.
    pub const PUSH_TOKEN: &str = "/device/v1/push-token";
    /// `POST`: move the device to a new key.
    pub const KEY_ROTATION: &str = "/device/v1/key-rotation";

    /// `GET`: one transaction.
    pub fn transaction(txn_id: &str) -> String {
        format!("{TRANSACTIONS}/{txn_id}")
    }

    /// `POST`: the user's decision on a transaction.
    pub fn decision(txn_id: &str) -> String {
        format!("{TRANSACTIONS}/{txn_id}/decision")
    }
}
