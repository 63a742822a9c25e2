//! Pairing: from an enrollment URI (a QR code or app link) to a stored [`Account`].

use reqwest::Method;

use super::device_api::decode;
use super::issuer::{check_issuer, same_issuer};
use super::tls::decode_pins;
use super::{Account, Authenticator, AuthenticatorError, EnrollOptions, KeyStoreSigner};
use crate::jose::software::random_b64u;
use crate::protocol::{
    ApprovalKey, DeviceInfo, EnrollmentRequest, EnrollmentResponse, EnrollmentUri, Platform,
    PushProvider, PushRegistration, paths,
};

/// Bytes of randomness in local account ids and key aliases.
pub(crate) const LOCAL_ID_BYTES: usize = 16;

/// How far the server's clock may be from the device's before DPoP proofs start failing.
const CLOCK_SKEW_WARNING_SECS: i64 = 30;

impl Authenticator {
    /// Enrolls this device with the server named in `uri` (`ciba-enroll://v1?issuer=…&code=…`).
    ///
    /// Creates a fresh P-256 key for the account, proves possession of it to the server, and
    /// stores the resulting [`Account`]. If anything fails after the key was created, the key is
    /// deleted again (and a device the server already enrolled is unenrolled, best effort), so a
    /// failed pairing leaves nothing behind. The key gets the default [`KeyOptions`](super::KeyOptions)
    /// and the server no pins; see [`enroll_with`](Self::enroll_with).
    pub async fn enroll(
        &self,
        uri: &str,
        device: DeviceInfo,
        push: PushRegistration,
    ) -> Result<Account, AuthenticatorError> {
        self.enroll_with(uri, device, push, EnrollOptions::default())
            .await
    }

    /// [`enroll`](Self::enroll) with a choice of key protection and TLS pins. The pins apply
    /// from the enrollment call on; an unpinned enrollment could be intercepted, so a bank that
    /// pins ships its pins in the app, not in the enrollment URI.
    pub async fn enroll_with(
        &self,
        uri: &str,
        device: DeviceInfo,
        push: PushRegistration,
        options: EnrollOptions,
    ) -> Result<Account, AuthenticatorError> {
        let uri = EnrollmentUri::parse(uri)?;
        check_issuer(&uri.issuer)?;
        check_push(&push)?;
        decode_pins(&options.tls_pins)?;

        let key_alias = random_b64u(LOCAL_ID_BYTES)?;
        let challenge = crate::protocol::attestation_challenge(&uri.code);
        self.keys
            .create_enrollment_key(key_alias.clone(), options.key, challenge.to_vec())?;
        let mut created = vec![key_alias.clone()];
        let result = async {
            let approval_alias = match options.approval_key {
                Some(approval_options) => {
                    let alias = random_b64u(LOCAL_ID_BYTES)?;
                    self.keys.create_enrollment_key(
                        alias.clone(),
                        approval_options,
                        challenge.to_vec(),
                    )?;
                    created.push(alias.clone());
                    Some(alias)
                }
                None => None,
            };
            self.enroll_with_key(&uri, &key_alias, approval_alias, device, push, options)
                .await
        }
        .await;
        if result.is_err() {
            for alias in created {
                if let Err(e) = self.keys.delete_key(alias) {
                    tracing::warn!(error = %e, "could not delete a key of a failed enrollment");
                }
            }
        }
        result
    }

    async fn enroll_with_key(
        &self,
        uri: &EnrollmentUri,
        key_alias: &str,
        approval_alias: Option<String>,
        device: DeviceInfo,
        push: PushRegistration,
        options: EnrollOptions,
    ) -> Result<Account, AuthenticatorError> {
        let signer = KeyStoreSigner::new(std::sync::Arc::clone(&self.keys), key_alias)?;
        let jkt = crate::jose::Signer::public_jwk(&signer).thumbprint()?;
        let client_data_hash = crate::protocol::app_attest_client_data_hash(&uri.code, &jkt);
        // A platform that cannot attest right now (App Attest unavailable, say) enrolls without
        // an attestation: the server's policy decides whether that is enough.
        let attestation = match self
            .keys
            .key_attestation(key_alias.to_owned(), client_data_hash.to_vec())
        {
            Ok(attestation) => attestation.map(|a| a.to_protocol()),
            Err(e) => {
                tracing::warn!(error = %e, "the key store could not attest the enrollment key");
                None
            }
        };
        // The approval key's attestation: Android attests each Keystore key; App Attest
        // attests the app, once, with the device key above.
        let approval_key = match &approval_alias {
            Some(alias) => {
                let approval =
                    KeyStoreSigner::new(std::sync::Arc::clone(&self.keys), alias.clone())?;
                let attestation = if device.platform == Platform::Android {
                    match self
                        .keys
                        .key_attestation(alias.clone(), client_data_hash.to_vec())
                    {
                        Ok(a) => a.map(|a| a.to_protocol()),
                        Err(e) => {
                            tracing::warn!(error = %e, "the key store could not attest the approval key");
                            None
                        }
                    }
                } else {
                    None
                };
                Some(ApprovalKey {
                    jwk: crate::jose::Signer::public_jwk(&approval),
                    attestation,
                })
            }
            None => None,
        };
        let request = EnrollmentRequest {
            code: uri.code.clone(),
            push: push.clone(),
            device,
            attestation,
            approval_key,
        };
        let body = serde_json::to_vec(&request)
            .map_err(|e| AuthenticatorError::InvalidInput(e.to_string()))?;
        let answer = self
            .api
            .call(
                &signer,
                &uri.issuer,
                &options.tls_pins,
                Method::POST,
                paths::ENROLLMENTS,
                Some(body),
            )
            .await?;

        // From here on the server has a device record for this key: undo it if we cannot keep it.
        let pins = options.tls_pins.clone();
        let stored = self.store_enrollment(uri, key_alias, approval_alias, push, options, &answer);
        if stored.is_err() {
            self.unenroll_best_effort(&signer, &uri.issuer, &pins).await;
        }
        stored
    }

    fn store_enrollment(
        &self,
        uri: &EnrollmentUri,
        key_alias: &str,
        approval_key_alias: Option<String>,
        push: PushRegistration,
        options: EnrollOptions,
        answer: &[u8],
    ) -> Result<Account, AuthenticatorError> {
        let response: EnrollmentResponse = decode("enrollment", answer)?;
        if !same_issuer(&response.issuer, &uri.issuer) {
            return Err(AuthenticatorError::Protocol(format!(
                "the server says it is {:?}, but the enrollment URI named {:?}",
                response.issuer, uri.issuer
            )));
        }
        if response.device_id.is_empty() || response.user.subject.is_empty() {
            return Err(AuthenticatorError::Protocol(
                "the enrollment answer lacks a device id or subject".into(),
            ));
        }
        let now = self.clock.now();
        if (response.server_time - now).abs() > CLOCK_SKEW_WARNING_SECS {
            tracing::warn!(
                server_time = response.server_time,
                device_time = now,
                "the device clock differs from the server's; requests may be refused"
            );
        }
        let account = Account {
            id: random_b64u(LOCAL_ID_BYTES)?,
            // The server's own spelling: decisions carry it as `aud`.
            issuer: response.issuer,
            device_id: response.device_id,
            key_alias: key_alias.to_owned(),
            subject: response.user.subject,
            user_display_name: response.user.display_name,
            account_label: response.account_label,
            enrolled_at: now,
            push,
            key_options: options.key,
            tls_pins: options.tls_pins,
            attestation: response.attestation,
            approval_attestation: approval_key_alias
                .as_ref()
                .and(response.approval_attestation),
            approval_key_alias,
        };
        self.accounts.save(account.clone())?;
        Ok(account)
    }

    async fn unenroll_best_effort(&self, signer: &KeyStoreSigner, issuer: &str, pins: &[String]) {
        if let Err(e) = self
            .api
            .call(signer, issuer, pins, Method::DELETE, paths::DEVICE, None)
            .await
        {
            tracing::warn!(error = %e, "could not unenroll the device of a failed enrollment");
        }
    }
}

/// A push registration the server will take: FCM and APNs need a token.
pub(crate) fn check_push(push: &PushRegistration) -> Result<(), AuthenticatorError> {
    if matches!(push.provider, PushProvider::Fcm | PushProvider::Apns)
        && push.token.as_deref().is_none_or(str::is_empty)
    {
        return Err(AuthenticatorError::InvalidInput(format!(
            "a {} push registration needs a token",
            push.provider.as_str()
        )));
    }
    Ok(())
}
