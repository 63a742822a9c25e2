//! Finding what waits for the user: pending lists, single transactions, push wake-ups.

use reqwest::Method;

use super::device_api::decode;
use super::issuer::same_issuer;
use super::{Account, Authenticator, AuthenticatorError, Transaction};
use crate::protocol::{PushPayload, TransactionList, TransactionView, paths};

impl Authenticator {
    /// The pending transactions of every account, newest first (by `requested_at`).
    ///
    /// Any account's failure (revoked device, network) fails the whole call, so nothing is
    /// silently missing from what the user sees.
    pub async fn pending(&self) -> Result<Vec<Transaction>, AuthenticatorError> {
        let mut all = Vec::new();
        for account in self.accounts()? {
            let signer = self.signer_for(&account)?;
            let answer = self
                .api
                .call(
                    &signer,
                    &account.issuer,
                    &account.tls_pins,
                    Method::GET,
                    paths::TRANSACTIONS,
                    None,
                )
                .await?;
            let list: TransactionList = decode("transaction list", &answer)?;
            // A transaction whose text would not render as it reads is never shown.
            all.extend(
                list.transactions
                    .into_iter()
                    .filter(|view| {
                        let safe = view.is_display_safe();
                        if !safe {
                            tracing::warn!(txn = %view.id, "transaction not shown: it carries control or bidirectional formatting characters");
                        }
                        safe
                    })
                    .map(|view| Transaction {
                        account_id: account.id.clone(),
                        view,
                    }),
            );
        }
        // Stable: the server's order is kept among equal times.
        all.sort_by_key(|t| std::cmp::Reverse(t.view.requested_at));
        Ok(all)
    }

    /// One transaction of one account, as the server shows it now.
    pub async fn transaction(
        &self,
        account_id: &str,
        txn_id: &str,
    ) -> Result<Transaction, AuthenticatorError> {
        let account = self.account(account_id)?;
        self.fetch(&account, txn_id).await
    }

    /// Looks the transaction up on every account until one has it.
    ///
    /// [`AuthenticatorError::NotFound`] when every account answered "not found"; if some account
    /// could not answer (network, revoked device, …) and none had it, that error instead.
    pub async fn find_transaction(&self, txn_id: &str) -> Result<Transaction, AuthenticatorError> {
        check_txn_id(txn_id)?;
        self.first_holder(self.accounts()?, txn_id).await
    }

    /// Handles a wake-up push (`{"v":"1","iss":…,"txn":…}`, DEVICE-PROTOCOL.md §4): validates
    /// it, routes it by issuer to the enrolled account(s), and fetches the transaction.
    ///
    /// Two accounts can share an issuer (two users of one bank on one phone, or personal and
    /// business profiles): each of that issuer's accounts is asked until one has the transaction.
    ///
    /// [`AuthenticatorError::InvalidInput`] for a malformed payload (not JSON, another version, a
    /// bad transaction id), [`AuthenticatorError::UnknownIssuer`] when no account is enrolled with
    /// its issuer (a foreign push), [`AuthenticatorError::NotFound`] when none of them has it.
    pub async fn handle_push(&self, payload_json: &str) -> Result<Transaction, AuthenticatorError> {
        let payload = PushPayload::from_json(payload_json)?;
        let candidates: Vec<Account> = self
            .accounts()?
            .into_iter()
            .filter(|a| same_issuer(&a.issuer, &payload.iss))
            .collect();
        if candidates.is_empty() {
            return Err(AuthenticatorError::UnknownIssuer(payload.iss));
        }
        self.first_holder(candidates, &payload.txn).await
    }

    /// The first of `accounts` whose server shows `txn_id`.
    async fn first_holder(
        &self,
        accounts: Vec<Account>,
        txn_id: &str,
    ) -> Result<Transaction, AuthenticatorError> {
        let mut failure = None;
        for account in accounts {
            match self.fetch(&account, txn_id).await {
                Ok(txn) => return Ok(txn),
                Err(AuthenticatorError::NotFound) => {}
                Err(e) => {
                    tracing::debug!(account = %account.id, error = %e, "transaction lookup failed");
                    failure.get_or_insert(e);
                }
            }
        }
        Err(failure.unwrap_or(AuthenticatorError::NotFound))
    }

    async fn fetch(
        &self,
        account: &Account,
        txn_id: &str,
    ) -> Result<Transaction, AuthenticatorError> {
        check_txn_id(txn_id)?;
        let signer = self.signer_for(account)?;
        let answer = self
            .api
            .call(
                &signer,
                &account.issuer,
                &account.tls_pins,
                Method::GET,
                &paths::transaction(txn_id),
                None,
            )
            .await?;
        let view: TransactionView = decode("transaction", &answer)?;
        if view.id != txn_id {
            return Err(AuthenticatorError::Protocol(format!(
                "asked for transaction {txn_id}, the server answered {}",
                view.id
            )));
        }
        check_display_safe(&view)?;
        Ok(Transaction {
            account_id: account.id.clone(),
            view,
        })
    }
}

/// Refuses a transaction whose text would not render as it reads (control characters,
/// bidirectional overrides): the user would approve something other than what is signed.
pub(crate) fn check_display_safe(view: &TransactionView) -> Result<(), AuthenticatorError> {
    if view.is_display_safe() {
        Ok(())
    } else {
        Err(AuthenticatorError::Protocol(format!(
            "transaction {} carries control or bidirectional formatting characters; it is not shown or signed",
            view.id
        )))
    }
}

/// Transaction ids become URL path segments: only the protocol's alphabet is accepted.
pub(crate) fn check_txn_id(txn_id: &str) -> Result<(), AuthenticatorError> {
    let ok = !txn_id.is_empty()
        && txn_id.len() <= 128
        && txn_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AuthenticatorError::InvalidInput(format!(
            "{txn_id:?} is not a transaction id"
        )))
    }
}
