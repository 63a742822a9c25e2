use serde::{Deserialize, Serialize};

use super::ProtocolError;

/// The state of a transaction as devices see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TransactionStatus {
    /// Waiting for a decision.
    Pending,
    /// A device approved it.
    Approved,
    /// A device denied it.
    Denied,
    /// Nobody decided in time.
    Expired,
    /// The server withdrew it (the user or the client was removed).
    Cancelled,
}

/// The client application that asks, as the device shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClientView {
    /// The client's identifier (part of the consent string).
    pub client_id: String,
    /// The client's display name ("Customer Service Console").
    pub name: String,
    /// The client's logo, if registered.
    #[serde(default)]
    pub logo_uri: Option<String>,
}

/// One CIBA request as the user's devices see it (DEVICE-PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionView {
    /// The transaction id (`txn_…`); not the client's `auth_req_id`.
    pub id: String,
    /// Its state.
    pub status: TransactionStatus,
    /// Who asks.
    pub client: ClientView,
    /// The requested scope values.
    pub scope: Vec<String>,
    /// The requested authentication context classes, as the client sent them.
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The binding message to show, or `None` when the client sent none.
    #[serde(default)]
    pub binding_message: Option<String>,
    /// RFC 9396 authorization details as the client sent them, or `None` when it sent none.
    #[serde(default)]
    pub authorization_details: Option<Vec<serde_json::Value>>,
    /// Whether the user must type the user code to approve.
    #[serde(default)]
    pub user_code_required: bool,
    /// When the client asked (seconds since the epoch).
    pub requested_at: i64,
    /// When the request expires (seconds since the epoch).
    pub expires_at: i64,
    /// A fresh per-transaction challenge that the decision echoes.
    pub challenge: String,
}

impl TransactionView {
    /// Whether everything the user would be shown — the client's name, the scope, the binding
    /// message, every string of the authorization details — is text that renders as it reads
    /// (see [`super::is_display_safe`]).
    pub fn is_display_safe(&self) -> bool {
        use super::{is_display_safe, json_is_display_safe};
        is_display_safe(&self.client.name)
            && self.scope.iter().all(|s| is_display_safe(s))
            && self.binding_message.as_deref().is_none_or(is_display_safe)
            && self
                .authorization_details
                .iter()
                .flatten()
                .all(json_is_display_safe)
    }

    /// The consent string of what this transaction shows (see [`super::consent_string`]).
    pub fn consent_string(&self) -> Result<String, ProtocolError> {
        super::consent_string(
            &self.client.client_id,
            &self.scope,
            self.binding_message.as_deref(),
            self.authorization_details.as_deref(),
        )
    }

    /// The consent hash of what this transaction shows (see [`super::consent_hash`]).
    pub fn consent_hash(&self) -> Result<String, ProtocolError> {
        super::consent_hash(
            &self.client.client_id,
            &self.scope,
            self.binding_message.as_deref(),
            self.authorization_details.as_deref(),
        )
    }

    /// Whether the transaction can still be decided at `now`.
    pub fn is_open(&self, now: i64) -> bool {
        self.status == TransactionStatus::Pending && now < self.expires_at
    }
}

/// Body of `GET /device/v1/transactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionList {
    /// Pending, unexpired transactions, newest first.
    pub transactions: Vec<TransactionView>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_binding_message_and_details_are_null_not_empty() {
        let view = TransactionView {
            id: "txn_1".into(),
            status: TransactionStatus::Pending,
            client: ClientView {
                client_id: "c".into(),
                name: "C".into(),
                logo_uri: None,
            },
            scope: vec!["openid".into()],
            acr_values: vec![],
            binding_message: None,
            authorization_details: None,
            user_code_required: false,
            requested_at: 1,
            expires_at: 2,
            challenge: "ch".into(),
        };
        let json: serde_json::Value = serde_json::to_value(&view).unwrap();
        assert_eq!(json["binding_message"], serde_json::Value::Null);
        assert_eq!(json["authorization_details"], serde_json::Value::Null);
        assert_eq!(json["status"], "pending");
        let back: TransactionView = serde_json::from_value(json).unwrap();
        assert_eq!(back, view);
        assert!(view.is_open(1));
        assert!(!view.is_open(2));
    }
}
