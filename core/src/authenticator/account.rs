//! What the device remembers about each enrollment, and a transaction as the SDK hands it out.

use serde::{Deserialize, Serialize};

use crate::protocol::{PushRegistration, TransactionView};

/// One enrollment of this device with one server for one user.
///
/// Nothing here is secret: the private key stays in the [`KeyStore`](super::KeyStore) under
/// [`key_alias`](Self::key_alias).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// A random local identifier (never sent to the server).
    pub id: String,
    /// The server's issuer, exactly as the server stated it at enrollment.
    pub issuer: String,
    /// The device id the server assigned (the `kid` and `iss` of decisions).
    pub device_id: String,
    /// The alias of this account's key in the key store.
    pub key_alias: String,
    /// The user's subject identifier at the server.
    pub subject: String,
    /// The user's display name, if the bank set one.
    #[serde(default)]
    pub user_display_name: Option<String>,
    /// A label for the account in the app's list.
    pub account_label: String,
    /// When the account was enrolled (seconds since the epoch, device clock).
    pub enrolled_at: i64,
    /// The push registration sent at enrollment.
    pub push: PushRegistration,
}

/// A transaction together with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// The local id of the [`Account`] that fetched it.
    pub account_id: String,
    /// The transaction as the server showed it; a decision signs exactly this view.
    pub view: TransactionView,
}
