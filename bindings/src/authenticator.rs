//! The [`Authenticator`] object: the SDK's entry point, method for method.

use std::sync::Arc;

use ciba_core::authenticator as sdk;
use ciba_core::clock::SystemClock;

use crate::accounts::{
    Account, AccountState, AccountStore, AppAccountStore, EnrollOptions, PushTokenUpdate,
};
use crate::config::AuthenticatorConfig;
use crate::device::{DeviceInfo, PushRegistration};
use crate::error::AuthenticatorError;
use crate::keys::{AppKeyStore, KeyStore};
use crate::transactions::{DecisionStatus, DenyReason, Transaction};

/// The SDK's entry point: pairs the device with banks' servers, turns push wake-ups into
/// transactions, and signs the user's decisions with the keys of the app's [`KeyStore`].
///
/// One per app process is enough; it is safe to use from several threads and coroutines at
/// once. Calls that reach a server are `suspend` (Kotlin) / `async` (Swift); the others read
/// the app's [`AccountStore`] and return at once.
#[derive(Debug, uniffi::Object)]
pub struct Authenticator {
    inner: sdk::Authenticator,
}

#[uniffi::export(async_runtime = "tokio")]
impl Authenticator {
    /// An authenticator over the app's account store and key store. Throws
    /// `AuthenticatorError.InvalidInput` if an extra trust anchor cannot be read (and, on
    /// Android, if `CibaAndroid.init(context)` was not called first while the platform's trust
    /// is on).
    #[uniffi::constructor]
    pub fn new(
        accounts: Arc<dyn AccountStore>,
        keys: Arc<dyn KeyStore>,
        config: AuthenticatorConfig,
    ) -> Result<Arc<Self>, AuthenticatorError> {
        #[cfg(target_os = "android")]
        crate::android::check_initialised(&config)?;
        let inner = sdk::Authenticator::new(
            Arc::new(AppAccountStore(accounts)),
            Arc::new(AppKeyStore(keys)),
            Arc::new(SystemClock),
            config.into(),
        )?;
        Ok(Arc::new(Self { inner }))
    }

    /// Enrolls this device with the server named in `uri` (the QR code or app link,
    /// `ciba-enroll://v1?issuer=…&code=…`): creates a key in the [`KeyStore`], proves
    /// possession of it to the server, and saves the new [`Account`]. A failed enrollment
    /// leaves no key and no account behind. The key gets default protection and the server no
    /// pins; see `enroll_with`.
    pub async fn enroll(
        &self,
        uri: String,
        device: DeviceInfo,
        push: PushRegistration,
    ) -> Result<Account, AuthenticatorError> {
        Ok(self
            .inner
            .enroll(&uri, device.into(), push.into())
            .await?
            .into())
    }

    /// `enroll` with a choice of key protection and TLS pins.
    pub async fn enroll_with(
        &self,
        uri: String,
        device: DeviceInfo,
        push: PushRegistration,
        options: EnrollOptions,
    ) -> Result<Account, AuthenticatorError> {
        Ok(self
            .inner
            .enroll_with(&uri, device.into(), push.into(), options.into())
            .await?
            .into())
    }

    /// Every enrolled account, in enrollment order (read from the [`AccountStore`]).
    pub fn accounts(&self) -> Result<Vec<Account>, AuthenticatorError> {
        Ok(self.inner.accounts()?.into_iter().map(Into::into).collect())
    }

    /// Handles a wake-up push (the FCM data / APNs payload, `{"v":"1","iss":…,"txn":…}`):
    /// routes it to the account(s) enrolled with that issuer and fetches the transaction.
    /// `AuthenticatorError.UnknownIssuer` for a push from a bank no account is enrolled with,
    /// `AuthenticatorError.InvalidInput` for a malformed payload.
    pub async fn handle_push(&self, payload: String) -> Result<Transaction, AuthenticatorError> {
        Ok(self.inner.handle_push(&payload).await?.into())
    }

    /// The pending transactions of every account, newest first. One account failing fails the
    /// call, so nothing goes silently missing.
    pub async fn pending(&self) -> Result<Vec<Transaction>, AuthenticatorError> {
        Ok(self
            .inner
            .pending()
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// One transaction of one account, as the server shows it now.
    pub async fn transaction(
        &self,
        account_id: String,
        txn_id: String,
    ) -> Result<Transaction, AuthenticatorError> {
        Ok(self.inner.transaction(&account_id, &txn_id).await?.into())
    }

    /// Looks a transaction up on every account until one has it.
    pub async fn find_transaction(
        &self,
        txn_id: String,
    ) -> Result<Transaction, AuthenticatorError> {
        Ok(self.inner.find_transaction(&txn_id).await?.into())
    }

    /// Approves the transaction: signs a decision over exactly what `txn.view` shows (see
    /// `consent_text`) and sends it. `amr` says how the app verified the
    /// user (RFC 8176: `["hwk", "face"]`, `["hwk", "pin"]`, …).
    pub async fn approve(
        &self,
        txn: Transaction,
        amr: Vec<String>,
    ) -> Result<DecisionStatus, AuthenticatorError> {
        let txn = sdk::Transaction::try_from(txn)?;
        Ok(self.inner.approve(&txn, amr).await?.into())
    }

    /// Denies the transaction. `DenyReason.NotRecognized` reports it as fraud.
    pub async fn deny(
        &self,
        txn: Transaction,
        reason: DenyReason,
    ) -> Result<DecisionStatus, AuthenticatorError> {
        let txn = sdk::Transaction::try_from(txn)?;
        Ok(self.inner.deny(&txn, reason.into()).await?.into())
    }

    /// Sends a new push registration (FCM/APNs rotated the token) to the server of every
    /// account. One result per account: one bank being down does not stop the others.
    pub async fn update_push_token(
        &self,
        push: PushRegistration,
    ) -> Result<Vec<PushTokenUpdate>, AuthenticatorError> {
        Ok(self
            .inner
            .update_push_token(push.into())
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Moves the account to a new key (bank policy): returns the updated account.
    pub async fn rotate_key(&self, account_id: String) -> Result<Account, AuthenticatorError> {
        Ok(self.inner.rotate_key(&account_id).await?.into())
    }

    /// Unenrolls the account at the server, then deletes its key and the account here (also
    /// when the server already revoked the device).
    pub async fn unenroll(&self, account_id: String) -> Result<(), AuthenticatorError> {
        Ok(self.inner.unenroll(&account_id).await?)
    }

    /// Removes the account and its key from this device without telling the server (for a
    /// bank that is unreachable for good).
    pub fn forget_account(&self, account_id: String) -> Result<(), AuthenticatorError> {
        Ok(self.inner.forget_account(&account_id)?)
    }

    /// Where the account stands: active, revoked by the bank, or needing re-enrollment because
    /// its key is gone.
    pub async fn account_status(
        &self,
        account_id: String,
    ) -> Result<AccountState, AuthenticatorError> {
        Ok(self.inner.account_status(&account_id).await?.into())
    }

    /// Replaces the account's TLS pins (the bank announced a new server key); an empty list
    /// turns pinning off. Returns the updated account.
    pub fn set_tls_pins(
        &self,
        account_id: String,
        pins: Vec<String>,
    ) -> Result<Account, AuthenticatorError> {
        Ok(self.inner.set_tls_pins(&account_id, pins)?.into())
    }
}
