//! Transactions as the app shows them, the user's answers, and the consent text.

use ciba_core::authenticator as sdk;
use ciba_core::protocol;

use crate::error::AuthenticatorError;

/// The state of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TransactionStatus {
    /// Waiting for a decision.
    Pending,
    /// A device approved it.
    Approved,
    /// A device denied it.
    Denied,
    /// Nobody decided in time.
    Expired,
    /// The server withdrew it.
    Cancelled,
}

/// The client application that asks.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientView {
    /// The client's identifier (part of the consent text).
    pub client_id: String,
    /// The client's display name ("Customer Service Console").
    pub name: String,
    /// The client's logo, if registered.
    pub logo_uri: Option<String>,
}

/// One CIBA request as the user's devices see it. Show the user what
/// `consent_text` covers: the client, the scopes, the binding message and
/// the authorization details.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionView {
    /// The transaction id (`txn_…`).
    pub id: String,
    /// Its state.
    pub status: TransactionStatus,
    /// Who asks.
    pub client: ClientView,
    /// The requested scope values.
    pub scope: Vec<String>,
    /// The requested authentication context classes.
    pub acr_values: Vec<String>,
    /// The binding message to show (also shown by the client, so the user can match them), or
    /// `null`.
    pub binding_message: Option<String>,
    /// RFC 9396 authorization details as the client sent them: a JSON array, as text; `null`
    /// when the client sent none.
    pub authorization_details: Option<String>,
    /// Whether the user must type the user code to approve.
    pub user_code_required: bool,
    /// When the client asked (seconds since the epoch).
    pub requested_at: i64,
    /// When the request expires (seconds since the epoch).
    pub expires_at: i64,
    /// The per-transaction challenge the decision echoes.
    pub challenge: String,
}

/// A transaction together with the account it belongs to: what `approve` and `deny` take.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Transaction {
    /// The local id of the `Account` that fetched it.
    pub account_id: String,
    /// The transaction as the server showed it; a decision signs exactly this view.
    pub view: TransactionView,
}

/// Why the user denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DenyReason {
    /// The user simply declined.
    UserDeclined,
    /// The user does not recognise the request: a fraud report (the server locks the user).
    NotRecognized,
}

/// The outcome the server recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum DecisionStatus {
    /// Approved.
    Approved,
    /// Denied.
    Denied,
}

/// The consent text of a transaction: exactly what an approval signs over (its SHA-256 is the
/// decision's `consent_hash`), in the canonical form of DEVICE-PROTOCOL.md §6 — the lines
/// `ciba-consent-v1`, the client id, the sorted scopes, the binding message, and the
/// canonical JSON of the authorization details. The app must display every one of these fields.
#[uniffi::export]
pub fn consent_text(txn: Transaction) -> Result<String, AuthenticatorError> {
    let txn = sdk::Transaction::try_from(txn)?;
    txn.view
        .consent_string()
        .map_err(|e| sdk::AuthenticatorError::from(e).into())
}

impl From<protocol::TransactionStatus> for TransactionStatus {
    fn from(s: protocol::TransactionStatus) -> Self {
        match s {
            protocol::TransactionStatus::Pending => Self::Pending,
            protocol::TransactionStatus::Approved => Self::Approved,
            protocol::TransactionStatus::Denied => Self::Denied,
            protocol::TransactionStatus::Expired => Self::Expired,
            protocol::TransactionStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<TransactionStatus> for protocol::TransactionStatus {
    fn from(s: TransactionStatus) -> Self {
        match s {
            TransactionStatus::Pending => Self::Pending,
            TransactionStatus::Approved => Self::Approved,
            TransactionStatus::Denied => Self::Denied,
            TransactionStatus::Expired => Self::Expired,
            TransactionStatus::Cancelled => Self::Cancelled,
        }
    }
}

impl From<protocol::ClientView> for ClientView {
    fn from(c: protocol::ClientView) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            logo_uri: c.logo_uri,
        }
    }
}

impl From<ClientView> for protocol::ClientView {
    fn from(c: ClientView) -> Self {
        Self {
            client_id: c.client_id,
            name: c.name,
            logo_uri: c.logo_uri,
        }
    }
}

impl From<protocol::TransactionView> for TransactionView {
    fn from(v: protocol::TransactionView) -> Self {
        Self {
            id: v.id,
            status: v.status.into(),
            client: v.client.into(),
            scope: v.scope,
            acr_values: v.acr_values,
            binding_message: v.binding_message,
            // Serialising a `Value` cannot fail (its map keys are strings).
            authorization_details: v
                .authorization_details
                .and_then(|details| serde_json::to_string(&details).ok()),
            user_code_required: v.user_code_required,
            requested_at: v.requested_at,
            expires_at: v.expires_at,
            challenge: v.challenge,
        }
    }
}

/// Back from the app: the authorization details are text again, which must be a JSON array.
impl TryFrom<TransactionView> for protocol::TransactionView {
    type Error = AuthenticatorError;

    fn try_from(v: TransactionView) -> Result<Self, Self::Error> {
        let authorization_details = v
            .authorization_details
            .map(|text| serde_json::from_str::<Vec<serde_json::Value>>(&text))
            .transpose()
            .map_err(|e| AuthenticatorError::InvalidInput {
                details: format!("authorization_details is not a JSON array: {e}"),
            })?;
        Ok(Self {
            id: v.id,
            status: v.status.into(),
            client: v.client.into(),
            scope: v.scope,
            acr_values: v.acr_values,
            binding_message: v.binding_message,
            authorization_details,
            user_code_required: v.user_code_required,
            requested_at: v.requested_at,
            expires_at: v.expires_at,
            challenge: v.challenge,
        })
    }
}

impl From<sdk::Transaction> for Transaction {
    fn from(t: sdk::Transaction) -> Self {
        Self {
            account_id: t.account_id,
            view: t.view.into(),
        }
    }
}

impl TryFrom<Transaction> for sdk::Transaction {
    type Error = AuthenticatorError;

    fn try_from(t: Transaction) -> Result<Self, Self::Error> {
        Ok(Self {
            account_id: t.account_id,
            view: t.view.try_into()?,
        })
    }
}

impl From<DenyReason> for protocol::DenyReason {
    fn from(r: DenyReason) -> Self {
        match r {
            DenyReason::UserDeclined => Self::UserDeclined,
            DenyReason::NotRecognized => Self::NotRecognized,
        }
    }
}

impl From<protocol::DecisionStatus> for DecisionStatus {
    fn from(s: protocol::DecisionStatus) -> Self {
        match s {
            protocol::DecisionStatus::Approved => Self::Approved,
            protocol::DecisionStatus::Denied => Self::Denied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(details: Option<Vec<serde_json::Value>>) -> protocol::TransactionView {
        protocol::TransactionView {
            id: "txn_1".into(),
            status: protocol::TransactionStatus::Pending,
            client: protocol::ClientView {
                client_id: "client-1".into(),
                name: "Console".into(),
                logo_uri: None,
            },
            scope: vec!["openid".into(), "accounts".into()],
            acr_values: vec![],
            binding_message: Some("W4-7QX".into()),
            authorization_details: details,
            user_code_required: false,
            requested_at: 10,
            expires_at: 20,
            challenge: "ch".into(),
        }
    }

    /// The round trip through the app must not change what the consent hash covers.
    #[test]
    fn a_view_survives_the_round_trip_through_the_app() {
        let details = vec![json!({
            "type": "payment_initiation",
            "instructedAmount": {"currency": "EUR", "amount": "123.50"},
            "n": 1.0e21,
        })];
        for original in [view(None), view(Some(details))] {
            let txn = sdk::Transaction {
                account_id: "a".into(),
                view: original.clone(),
            };
            let ffi = Transaction::from(txn.clone());
            let text = consent_text(ffi.clone()).unwrap();
            assert_eq!(text, original.consent_string().unwrap());
            let back = sdk::Transaction::try_from(ffi).unwrap();
            assert_eq!(back.view.consent_hash(), original.consent_hash());
            assert_eq!(back, txn);
        }
    }

    #[test]
    fn authorization_details_must_be_a_json_array() {
        let mut txn = Transaction::from(sdk::Transaction {
            account_id: "a".into(),
            view: view(None),
        });
        txn.view.authorization_details = Some(r#"{"type":"x"}"#.into());
        assert!(matches!(
            consent_text(txn),
            Err(AuthenticatorError::InvalidInput { .. })
        ));
    }
}
