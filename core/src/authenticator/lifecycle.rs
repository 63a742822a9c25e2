//! The device lifecycle (DEVICE-PROTOCOL.md §7): push-token rotation, key rotation,
//! unenrollment, and finding out whether an account still works.

use std::sync::Arc;

use reqwest::Method;

use super::device_api::decode;
use super::enrollment::{LOCAL_ID_BYTES, check_push};
use super::error::signing_error;
use super::tls::decode_pins;
use super::{
    Account, AccountState, Authenticator, AuthenticatorError, KeyStoreSigner, PushTokenUpdate,
};
use crate::jose::software::random_b64u;
use crate::jose::{JwsHeader, Signer, sign_compact};
use crate::protocol::{
    DeviceStatus, DeviceStatusResponse, KeyRotationRequest, KeyRotationResponse, NewKeyProofClaims,
    PushRegistration, paths,
};

/// Bytes of randomness in the `jti` of a new-key proof (128 bits; the protocol asks for ≥ 96).
const JTI_BYTES: usize = 16;

impl Authenticator {
    /// Sends a new push registration (FCM/APNs rotated the token) to the server of every
    /// account, and saves it with each account the server accepted it for.
    ///
    /// One result per account, in account order: one bank being down or having revoked the
    /// device does not stop the others. Fails as a whole only for an unusable registration
    /// ([`AuthenticatorError::InvalidInput`]) or when the accounts cannot be read.
    pub async fn update_push_token(
        &self,
        push: PushRegistration,
    ) -> Result<Vec<PushTokenUpdate>, AuthenticatorError> {
        check_push(&push)?;
        let body = serde_json::to_vec(&push)
            .map_err(|e| AuthenticatorError::InvalidInput(e.to_string()))?;
        let mut results = Vec::new();
        for account in self.accounts()? {
            let error = self.update_push_of(&account, &push, &body).await.err();
            if let Some(e) = &error {
                tracing::warn!(account = %account.id, error = %e, "push registration not updated");
            }
            results.push(PushTokenUpdate {
                account_id: account.id,
                error,
            });
        }
        Ok(results)
    }

    async fn update_push_of(
        &self,
        account: &Account,
        push: &PushRegistration,
        body: &[u8],
    ) -> Result<(), AuthenticatorError> {
        let signer = self.signer_for(account)?;
        self.api
            .call(
                &signer,
                &account.issuer,
                &account.tls_pins,
                Method::PUT,
                paths::PUSH_TOKEN,
                Some(body.to_vec()),
            )
            .await?;
        // Re-read, so a change made meanwhile (a key rotation) is not overwritten.
        let mut fresh = self.account(&account.id)?;
        fresh.push = push.clone();
        self.accounts.save(fresh)?;
        Ok(())
    }

    /// Moves the account to a new key: creates it (with the account's [`KeyOptions`](super::KeyOptions))
    /// under a new alias, proves possession of it to the server in a call authenticated by the
    /// old key, then saves the account with the new alias and deletes the old key. Returns the
    /// updated account.
    ///
    /// If the server refuses, the new key is deleted and the old one stays in use. If the answer
    /// is lost on the way back, the SDK asks the server with the new key whether the rotation
    /// happened before giving up on it.
    pub async fn rotate_key(&self, account_id: &str) -> Result<Account, AuthenticatorError> {
        let account = self.account(account_id)?;
        let old = self.signer_for(&account)?;
        let old_jkt = old.public_jwk().thumbprint()?;
        let new_alias = random_b64u(LOCAL_ID_BYTES)?;
        self.keys
            .create_key(new_alias.clone(), account.key_options)?;
        if let Err(e) = self
            .rotate_to_new_key(&account, &old, &old_jkt, &new_alias)
            .await
        {
            if let Err(delete) = self.keys.delete_key(new_alias) {
                tracing::warn!(error = %delete, "could not delete the key of a failed rotation");
            }
            return Err(e);
        }

        // The server now knows only the new key.
        let mut updated = self.account(account_id)?;
        updated.key_alias = new_alias;
        // An attestation was about the old key: the server dropped it (README "Device trust").
        if updated.attestation.is_some() {
            updated.attestation = Some(crate::protocol::EnrolledAttestation {
                status: "none".into(),
                amr: vec!["swk".into()],
                reason: None,
            });
        }
        if let Err(e) = self.accounts.save(updated.clone()) {
            // Both keys are kept: the new one is the only one the server accepts, and the
            // account record still names the old one. Nothing is lost; a later save can fix it.
            tracing::error!(error = %e, new_key = %updated.key_alias, "key rotated on the server but the account could not be saved");
            return Err(e.into());
        }
        if let Err(e) = self.keys.delete_key(account.key_alias.clone()) {
            tracing::warn!(error = %e, "could not delete the replaced key");
        }
        tracing::info!(account = %account.id, "device key rotated");
        Ok(updated)
    }

    async fn rotate_to_new_key(
        &self,
        account: &Account,
        old: &KeyStoreSigner,
        old_jkt: &str,
        new_alias: &str,
    ) -> Result<(), AuthenticatorError> {
        let new = KeyStoreSigner::new(Arc::clone(&self.keys), new_alias)?;
        let header = JwsHeader {
            alg: "ES256".into(),
            typ: None,
            kid: None,
            jwk: Some(new.public_jwk()),
        };
        let claims = NewKeyProofClaims {
            old_jkt: old_jkt.to_owned(),
            iat: self.clock.now(),
            jti: random_b64u(JTI_BYTES)?,
        };
        let new_key_proof =
            sign_compact(&header, &claims, &new).map_err(|e| signing_error(&new, e))?;
        let body = serde_json::to_vec(&KeyRotationRequest { new_key_proof })
            .map_err(|e| AuthenticatorError::InvalidInput(e.to_string()))?;
        let answer = self
            .api
            .call(
                old,
                &account.issuer,
                &account.tls_pins,
                Method::POST,
                paths::KEY_ROTATION,
                Some(body),
            )
            .await;
        match answer {
            Ok(answer) => {
                // A 2xx means the server moved; a malformed body does not undo that.
                match decode::<KeyRotationResponse>("key rotation", &answer) {
                    Ok(r) if r.device_id == account.device_id => {}
                    Ok(r) => {
                        tracing::warn!(expected = %account.device_id, got = %r.device_id, "key rotation answered for another device id");
                    }
                    Err(e) => tracing::warn!(error = %e, "key rotation answer not understood"),
                }
                Ok(())
            }
            Err(AuthenticatorError::Network(message)) => {
                match self.device_status(&new, account).await {
                    Ok(status) if status.status == DeviceStatus::Active => {
                        tracing::info!(
                            "the key rotation went through although its answer was lost"
                        );
                        Ok(())
                    }
                    _ => Err(AuthenticatorError::Network(message)),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Unenrolls the account: tells the server (`DELETE /device/v1/device`), then deletes the
    /// key and the account here.
    ///
    /// When the server already revoked the device, or the key is gone so the device cannot speak
    /// for itself any more, the account is still removed here. Other failures (network) leave
    /// everything as it was, so the user can retry; [`forget_account`](Self::forget_account)
    /// removes an account without the server.
    pub async fn unenroll(&self, account_id: &str) -> Result<(), AuthenticatorError> {
        let account = self.account(account_id)?;
        match self.signer_for(&account) {
            Ok(signer) => {
                match self
                    .api
                    .call(
                        &signer,
                        &account.issuer,
                        &account.tls_pins,
                        Method::DELETE,
                        paths::DEVICE,
                        None,
                    )
                    .await
                {
                    Ok(_) | Err(AuthenticatorError::DeviceRevoked) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(AuthenticatorError::KeyMissing) => {}
            Err(e) => return Err(e),
        }
        self.forget_account(account_id)
    }

    /// Removes the account and its key from this device without telling the server (the bank's
    /// backend keeps the device record until it revokes it).
    pub fn forget_account(&self, account_id: &str) -> Result<(), AuthenticatorError> {
        let account = self.account(account_id)?;
        // The account first: a key without an account is inert, an account without its key
        // would show up as needing re-enrollment.
        self.accounts.delete(account.id.clone())?;
        for alias in std::iter::once(account.key_alias).chain(account.approval_key_alias) {
            if let Err(e) = self.keys.delete_key(alias) {
                tracing::warn!(error = %e, "could not delete a key of a removed account");
            }
        }
        tracing::info!(account = %account.id, "account removed");
        Ok(())
    }

    /// Where the account stands: [`AccountState::NeedsReenrollment`] when its key is gone (no
    /// network needed), otherwise what the server says (`GET /device/v1/device`):
    /// [`AccountState::Active`] or [`AccountState::Revoked`] (also when the server no longer
    /// knows the device). Network and other failures are errors, not a state.
    pub async fn account_status(
        &self,
        account_id: &str,
    ) -> Result<AccountState, AuthenticatorError> {
        let account = self.account(account_id)?;
        // The approval key is invalidated when the user's biometrics change: the account can
        // no longer approve, and must be linked again.
        for alias in std::iter::once(&account.key_alias).chain(&account.approval_key_alias) {
            if !self.keys.has_key(alias.clone())? {
                return Ok(AccountState::NeedsReenrollment);
            }
        }
        let signer = match self.signer_for(&account) {
            Ok(signer) => signer,
            Err(AuthenticatorError::KeyMissing) => return Ok(AccountState::NeedsReenrollment),
            Err(e) => return Err(e),
        };
        match self.device_status(&signer, &account).await {
            Ok(status) => Ok(match status.status {
                DeviceStatus::Active => AccountState::Active,
                DeviceStatus::Revoked => AccountState::Revoked,
            }),
            Err(AuthenticatorError::DeviceRevoked) => Ok(AccountState::Revoked),
            Err(AuthenticatorError::KeyMissing) => Ok(AccountState::NeedsReenrollment),
            Err(e) => Err(e),
        }
    }

    /// Replaces the account's TLS pins (the bank announced a new server key); an empty list
    /// turns pinning off. Returns the updated account.
    pub fn set_tls_pins(
        &self,
        account_id: &str,
        pins: Vec<String>,
    ) -> Result<Account, AuthenticatorError> {
        decode_pins(&pins)?;
        let mut account = self.account(account_id)?;
        account.tls_pins = pins;
        self.accounts.save(account.clone())?;
        Ok(account)
    }

    async fn device_status(
        &self,
        signer: &KeyStoreSigner,
        account: &Account,
    ) -> Result<DeviceStatusResponse, AuthenticatorError> {
        let answer = self
            .api
            .call(
                signer,
                &account.issuer,
                &account.tls_pins,
                Method::GET,
                paths::DEVICE,
                None,
            )
            .await?;
        let status: DeviceStatusResponse = decode("device status", &answer)?;
        if status.device_id != account.device_id {
            return Err(AuthenticatorError::Protocol(format!(
                "asked about device {}, the server answered for {}",
                account.device_id, status.device_id
            )));
        }
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::Fixture;
    use super::super::{AccountStore, KeyStore};
    use super::*;
    use crate::protocol::{PushEnvironment, PushProvider};

    /// A backup restored onto a new phone: the account record is there, the key is not.
    #[tokio::test]
    async fn a_missing_key_means_reenrollment_without_asking_the_server() {
        let fx = Fixture::new();
        fx.keys.delete_key("key-1".into()).unwrap();
        let auth = &fx.authenticator;
        // The fixture's issuer does not exist: any network call would fail.
        assert_eq!(
            auth.account_status("acct-1").await,
            Ok(AccountState::NeedsReenrollment)
        );
        assert_eq!(
            auth.rotate_key("acct-1").await,
            Err(AuthenticatorError::KeyMissing)
        );
        assert_eq!(auth.pending().await, Err(AuthenticatorError::KeyMissing));
        let updates = auth
            .update_push_token(PushRegistration::none())
            .await
            .unwrap();
        assert_eq!(
            updates,
            vec![PushTokenUpdate {
                account_id: "acct-1".into(),
                error: Some(AuthenticatorError::KeyMissing)
            }]
        );
        // Unenrolling cannot reach the server without the key, and still cleans up here.
        auth.unenroll("acct-1").await.unwrap();
        assert_eq!(auth.accounts().unwrap(), vec![]);
    }

    #[tokio::test]
    async fn lifecycle_calls_refuse_bad_input_and_unknown_accounts() {
        let fx = Fixture::new();
        let auth = &fx.authenticator;
        let fcm_without_token = PushRegistration {
            provider: PushProvider::Fcm,
            token: Some(String::new()),
            environment: PushEnvironment::Production,
        };
        assert!(matches!(
            auth.update_push_token(fcm_without_token).await,
            Err(AuthenticatorError::InvalidInput(_))
        ));
        for missing in [
            auth.account_status("nobody").await.err(),
            auth.rotate_key("nobody").await.err(),
            auth.unenroll("nobody").await.err(),
            auth.forget_account("nobody").err(),
            auth.set_tls_pins("nobody", vec![]).err(),
        ] {
            assert_eq!(missing, Some(AuthenticatorError::NotFound));
        }
        assert!(matches!(
            auth.set_tls_pins("acct-1", vec!["sha256/abc".into()]),
            Err(AuthenticatorError::InvalidInput(_))
        ));
        let pin = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [9u8; 32]);
        let updated = auth.set_tls_pins("acct-1", vec![pin.clone()]).unwrap();
        assert_eq!(updated.tls_pins, vec![pin]);
        assert_eq!(
            fx.accounts.load_all().unwrap()[0].tls_pins,
            updated.tls_pins
        );
    }

    #[tokio::test]
    async fn forgetting_an_account_deletes_its_key() {
        let fx = Fixture::new();
        fx.authenticator.forget_account("acct-1").unwrap();
        assert_eq!(fx.authenticator.accounts().unwrap(), vec![]);
        assert!(!fx.keys.has_key("key-1".into()).unwrap());
    }

    /// Nothing listens at the account's server: the rotation fails as a network error, the new
    /// key is deleted and the old one stays the account's.
    #[tokio::test]
    async fn a_failed_rotation_keeps_the_old_key() {
        let fx = Fixture::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut account = fx.accounts.load_all().unwrap().remove(0);
        account.issuer = format!("http://127.0.0.1:{port}");
        fx.accounts.save(account.clone()).unwrap();
        assert!(matches!(
            fx.authenticator.rotate_key("acct-1").await,
            Err(AuthenticatorError::Network(_))
        ));
        assert_eq!(fx.accounts.load_all().unwrap(), vec![account]);
        assert!(fx.keys.has_key("key-1".into()).unwrap());
        // Only the old key is left in the store.
        assert_eq!(fx.keys.key_count(), 1);
    }
}
