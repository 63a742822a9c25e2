//! The domain's errors: what went wrong, in the vocabulary of the API that answers it. Each
//! variant knows its error code; `http/` alone decides the status code, headers and body.
//!
//! Three families, one per kind of caller: OAuth errors for client applications (RFC 6749 §5.2,
//! CIBA Core §11 and §13, RFC 7591 for registration metadata), device-API errors built on the
//! codes of `ciba_core::protocol::error_codes` (what the SDK switches on), and admin-API errors.
//! Two more are shared: the storage is unavailable (try again) and an internal failure (logged
//! where it happened, never shown).

use ciba_core::protocol::error_codes;

use crate::crypto::RngError;
use crate::store::StoreError;

/// The OAuth error codes the server answers client applications with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// `invalid_request`: malformed, missing or repeated parameter.
    InvalidRequest,
    /// `invalid_client`: client authentication failed.
    InvalidClient,
    /// `invalid_grant`: unknown or already redeemed `auth_req_id`.
    InvalidGrant,
    /// `unauthorized_client`: the client may not use this grant (push mode polling).
    UnauthorizedClient,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `invalid_scope`.
    InvalidScope,
    /// `access_denied`: the user denied, or cannot be asked.
    AccessDenied,
    /// `expired_token`: the request expired.
    ExpiredToken,
    /// `authorization_pending`: the user has not decided yet.
    AuthorizationPending,
    /// `slow_down`: polling faster than the interval.
    SlowDown,
    /// `unknown_user_id`: the hint names no user.
    UnknownUserId,
    /// `invalid_binding_message` (CIBA Core §13).
    InvalidBindingMessage,
    /// `invalid_authorization_details` (RFC 9396 §5).
    InvalidAuthorizationDetails,
    /// `invalid_client_metadata` (RFC 7591): a registration is refused.
    InvalidClientMetadata,
    /// `slow_down`, as `429 Too Many Requests`: the client sends backchannel requests faster
    /// than `[ciba] client_requests_per_second`.
    RateLimited,
    /// `too_many_pending_requests` (`429`): the user has `[ciba]
    /// max_pending_requests_per_user` pending requests already.
    TooManyPendingRequests,
    /// `invalid_token` (RFC 6750 §3.1, `401`): an access token this server did not issue, that
    /// expired, or presented without the certificate it is bound to.
    InvalidToken,
    /// `insufficient_scope` (RFC 6750 §3.1, `403`).
    InsufficientScope,
    /// `expired_login_hint_token` (CIBA Core §13).
    ExpiredLoginHintToken,
    /// `missing_user_code` (CIBA Core §13).
    MissingUserCode,
    /// `invalid_user_code` (CIBA Core §13).
    InvalidUserCode,
}

impl OAuthCode {
    /// The `error` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::ExpiredToken => "expired_token",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::UnknownUserId => "unknown_user_id",
            Self::InvalidBindingMessage => "invalid_binding_message",
            Self::InvalidAuthorizationDetails => "invalid_authorization_details",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::RateLimited => "slow_down",
            Self::TooManyPendingRequests => "too_many_pending_requests",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ExpiredLoginHintToken => "expired_login_hint_token",
            Self::MissingUserCode => "missing_user_code",
            Self::InvalidUserCode => "invalid_user_code",
        }
    }
}

/// The device API's error codes (DEVICE-PROTOCOL.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceCode {
    /// `invalid_request`: a malformed body or field.
    InvalidRequest,
    /// `invalid_dpop_proof`: the request's DPoP proof is missing or invalid.
    InvalidDpopProof,
    /// `unknown_device`: no enrolled device has the proof's key.
    UnknownDevice,
    /// `device_revoked`.
    DeviceRevoked,
    /// `invalid_enrollment_code`: unknown, used or expired.
    InvalidEnrollmentCode,
    /// `device_already_enrolled`: the key is enrolled already.
    DeviceAlreadyEnrolled,
    /// `attestation_failed`: the key attestation does not satisfy the policy.
    AttestationFailed,
    /// `invalid_request`, as a conflict: the device's key changed while it rotated it.
    KeyChanged,
    /// `invalid_decision`: the signed decision does not verify or does not match.
    InvalidDecision,
    /// `already_decided`: another decision won.
    AlreadyDecided,
    /// `expired`: the transaction expired or was withdrawn.
    Expired,
    /// `not_found`: no such transaction for this device's user.
    NotFound,
}

impl DeviceCode {
    /// The `error` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest | Self::KeyChanged => "invalid_request",
            Self::InvalidDpopProof => error_codes::INVALID_DPOP_PROOF,
            Self::UnknownDevice => error_codes::UNKNOWN_DEVICE,
            Self::DeviceRevoked => error_codes::DEVICE_REVOKED,
            Self::InvalidEnrollmentCode => error_codes::INVALID_ENROLLMENT_CODE,
            Self::DeviceAlreadyEnrolled => error_codes::DEVICE_ALREADY_ENROLLED,
            Self::AttestationFailed => error_codes::ATTESTATION_FAILED,
            Self::InvalidDecision => error_codes::INVALID_DECISION,
            Self::AlreadyDecided => error_codes::ALREADY_DECIDED,
            Self::Expired => error_codes::EXPIRED,
            Self::NotFound => "not_found",
        }
    }
}

/// The admin API's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCode {
    /// `invalid_token`: no valid admin bearer token.
    InvalidToken,
    /// `invalid_request`: a malformed body, field or query.
    InvalidRequest,
    /// `invalid_client_metadata`: a client registration is refused.
    InvalidClientMetadata,
    /// `not_found`.
    NotFound,
    /// `conflict`: a unique value is taken.
    Conflict,
    /// `invalid_csrf_token`: a change through a console session without its CSRF token.
    CsrfTokenInvalid,
}

impl AdminCode {
    /// The `error` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidToken => "invalid_token",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::CsrfTokenInvalid => "invalid_csrf_token",
        }
    }
}

/// Every error a request can end with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Refused at an OAuth endpoint.
    OAuth {
        /// The code.
        code: OAuthCode,
        /// The `error_description`.
        description: String,
    },
    /// Refused at the device API.
    Device {
        /// The code.
        code: DeviceCode,
        /// The `error_description`.
        description: String,
    },
    /// Refused at the admin API.
    Admin {
        /// The code.
        code: AdminCode,
        /// The `error_description`.
        description: String,
    },
    /// The database is unavailable or the server is starting: try again.
    Unavailable(String),
    /// The server failed; the cause was logged where it happened.
    Internal,
}

/// A domain result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An OAuth error.
    pub fn oauth(code: OAuthCode, description: impl Into<String>) -> Self {
        Self::OAuth {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request` at an OAuth endpoint.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(OAuthCode::InvalidRequest, description)
    }

    /// `invalid_client` (`401`, with a Basic challenge whichever method the client tried: a
    /// 401 must carry one, RFC 7235 §3.1, and HTTP has no challenge scheme for client
    /// assertions or certificates).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::oauth(OAuthCode::InvalidClient, description)
    }

    /// A device-API error.
    pub fn device(code: DeviceCode, description: impl Into<String>) -> Self {
        Self::Device {
            code,
            description: description.into(),
        }
    }

    /// An admin-API error.
    pub fn admin(code: AdminCode, description: impl Into<String>) -> Self {
        Self::Admin {
            code,
            description: description.into(),
        }
    }

    /// An internal failure: `cause` is logged here, the caller sees only `server_error`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal
    }

    /// The `error` code of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OAuth { code, .. } => code.as_str(),
            Self::Device { code, .. } => code.as_str(),
            Self::Admin { code, .. } => code.as_str(),
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal => "server_error",
        }
    }

    /// The `error_description` of the answer.
    pub fn description(&self) -> &str {
        match self {
            Self::OAuth { description, .. }
            | Self::Device { description, .. }
            | Self::Admin { description, .. }
            | Self::Unavailable(description) => description,
            Self::Internal => "the server failed; try again later",
        }
    }

    /// The same error as the admin API names it (registration rules are shared by the admin
    /// API and OAuth-side registration).
    pub fn for_admin(self) -> Self {
        match self {
            Self::OAuth {
                code: OAuthCode::InvalidClientMetadata,
                description,
                ..
            } => Self::admin(AdminCode::InvalidClientMetadata, description),
            Self::OAuth {
                code: OAuthCode::InvalidRequest,
                description,
                ..
            } => Self::admin(AdminCode::InvalidRequest, description),
            other => other,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl std::error::Error for Error {}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(_) => {
                tracing::error!(error = %e, "database error");
                Self::Unavailable("storage is unavailable; try again".into())
            }
            other => Self::internal(other),
        }
    }
}

impl From<RngError> for Error {
    fn from(e: RngError) -> Self {
        Self::internal(e)
    }
}
