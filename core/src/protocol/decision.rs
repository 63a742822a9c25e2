use serde::{Deserialize, Serialize};

/// The `typ` header of a decision JWS.
pub const DECISION_TYP: &str = "ciba-decision+jwt";

/// The longest a decision may live: `exp` ≤ `iat` + this.
pub const DECISION_MAX_LIFETIME_SECS: i64 = 120;

/// What the user decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DecisionAction {
    /// The user approved.
    Approve,
    /// The user denied.
    Deny,
}

/// Why the user denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DenyReason {
    /// The user simply declined.
    UserDeclined,
    /// The user does not recognise the request: a fraud report.
    NotRecognized,
}

impl DenyReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserDeclined => "user_declined",
            Self::NotRecognized => "not_recognized",
        }
    }
}

/// The claims of a decision JWS (DEVICE-PROTOCOL.md §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionClaims {
    /// The deciding device's id.
    pub iss: String,
    /// The server's issuer.
    pub aud: String,
    /// The transaction id.
    pub txn: String,
    /// The transaction's challenge, echoed.
    pub challenge: String,
    /// Approve or deny.
    pub action: DecisionAction,
    /// `b64u(SHA-256(consent string))` of what the user saw.
    pub consent_hash: String,
    /// RFC 8176 methods the device checked (`["hwk","face"]`, `["swk"]`, …).
    pub amr: Vec<String>,
    /// Only on deny.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<DenyReason>,
    /// Only when the transaction requires the user code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    /// Issued at.
    pub iat: i64,
    /// Expiry (≤ `iat` + 120).
    pub exp: i64,
    /// A unique id (≥ 96 bits random).
    pub jti: String,
}

/// Body of `POST /device/v1/transactions/{txn_id}/decision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionRequest {
    /// The decision JWS, compact form.
    pub decision: String,
}

/// The recorded outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DecisionStatus {
    /// Approved.
    Approved,
    /// Denied.
    Denied,
}

/// Answer to an accepted decision: `{"status": "approved"|"denied"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionResponse {
    /// What was recorded.
    pub status: DecisionStatus,
}
