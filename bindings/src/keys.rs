//! The app's key store: the [`KeyStore`] foreign trait (Android Keystore, Secure Enclave), the
//! types it speaks, and its adapter to the SDK's trait.

use std::sync::Arc;

use ciba_core::authenticator as sdk;

use crate::error::KeyStoreError;

/// How the user must be verified before a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UserVerification {
    /// The key signs without asking the user (the app verifies the user itself before
    /// approving). Recommended: every server call is signed, so a key that prompts on each use
    /// prompts on every fetch.
    None,
    /// The user must be present: biometrics or the device passcode (Android
    /// `setUserAuthenticationRequired`, iOS `.userPresence`).
    UserPresence,
    /// The current biometric set only (iOS `.biometryCurrentSet`, Android
    /// `setInvalidatedByBiometricEnrollment(true)`): enrolling a new finger or face invalidates
    /// the key, and the account then needs re-enrollment.
    Biometric,
}

/// What a new key should be protected by. The platform applies what it can.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct KeyOptions {
    /// When the user must be verified for the key to sign.
    pub user_verification: UserVerification,
    /// Prefer a dedicated secure element (Android StrongBox, the iOS Secure Enclave) over the
    /// ordinary hardware-backed store, falling back when the device has none.
    #[uniffi(default = true)]
    pub prefer_secure_hardware: bool,
}

/// An ECDSA P-256 / SHA-256 signature as the key store produced it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum KeySignature {
    /// ASN.1 DER `ECDSA-Sig-Value`: what Android's `SHA256withECDSA` and the Secure Enclave's
    /// `ecdsaSignatureMessageX962SHA256` return.
    Der {
        /// The DER bytes.
        signature: Vec<u8>,
    },
    /// The fixed 64-byte `r‖s` form.
    Raw {
        /// The 64 bytes.
        signature: Vec<u8>,
    },
}

/// A store of P-256 signing keys, each under an alias the SDK chooses; private keys never
/// leave it. The app implements it over the Android Keystore or the iOS Keychain / Secure
/// Enclave.
///
/// Public keys are exchanged as bytes: the 65-byte uncompressed point (`04‖x‖y`, iOS
/// `SecKeyCopyExternalRepresentation`) or the X.509 SubjectPublicKeyInfo DER (Android
/// `PublicKey.getEncoded()`). Throw [`KeyStoreError`] (`KeyStoreException`) to report a typed
/// failure; any other exception is reported as `KeyStoreError.Backend`.
#[uniffi::export(foreign)]
pub trait KeyStore: Send + Sync {
    /// Creates a new P-256 key under `alias` with the given protection and returns its public
    /// key. Throw `KeyStoreError.AlreadyExists` rather than replace an existing key.
    fn create_key(&self, alias: String, options: KeyOptions) -> Result<Vec<u8>, KeyStoreError>;
    /// The public key under `alias`.
    fn public_key(&self, alias: String) -> Result<Vec<u8>, KeyStoreError>;
    /// Signs `data` with ECDSA P-256 over its SHA-256 digest (the platform hashes).
    fn sign(&self, alias: String, data: Vec<u8>) -> Result<KeySignature, KeyStoreError>;
    /// Deletes the key under `alias`; deleting an absent key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), KeyStoreError>;
    /// Whether a usable key exists under `alias` (a key the platform invalidated counts as
    /// gone).
    fn has_key(&self, alias: String) -> Result<bool, KeyStoreError>;
    /// Creates the key of a new enrollment, as `create_key` does, with the enrollment's
    /// attestation challenge (32 bytes). Android: pass it to
    /// `KeyGenParameterSpec.Builder.setAttestationChallenge`, so that the key's certificate chain
    /// attests this enrollment. iOS: create the key as `create_key` does (App Attest gets the
    /// challenge through `key_attestation`'s `client_data_hash`).
    fn create_enrollment_key(
        &self,
        alias: String,
        options: KeyOptions,
        attestation_challenge: Vec<u8>,
    ) -> Result<Vec<u8>, KeyStoreError>;
    /// The attestation sent with the enrollment of the key under `alias`, or `null` for none
    /// (the server's policy then decides). Android: `KeyAttestation.AndroidKeyChain` with
    /// `KeyStore.getCertificateChain(alias)` (each certificate's `encoded`). iOS: generate an
    /// App Attest key (`DCAppAttestService.generateKey`) and return
    /// `KeyAttestation.AppleAppAttest` with `attestKey(keyId, clientDataHash: client_data_hash)`.
    fn key_attestation(
        &self,
        alias: String,
        client_data_hash: Vec<u8>,
    ) -> Result<Option<KeyAttestation>, KeyStoreError>;
}

/// A key's attestation, as the platform produced it (DEVICE-PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum KeyAttestation {
    /// Android: the Keystore certificate chain of the key, leaf first, each certificate's DER.
    AndroidKeyChain {
        /// The certificates.
        certificates: Vec<Vec<u8>>,
    },
    /// iOS: the App Attest attestation object.
    AppleAppAttest {
        /// The CBOR bytes `attestKey` returned.
        attestation_object: Vec<u8>,
    },
}

impl From<KeyAttestation> for sdk::KeyAttestation {
    fn from(a: KeyAttestation) -> Self {
        match a {
            KeyAttestation::AndroidKeyChain { certificates } => Self::AndroidKeyChain(certificates),
            KeyAttestation::AppleAppAttest { attestation_object } => {
                Self::AppleAppAttest(attestation_object)
            }
        }
    }
}

impl From<UserVerification> for sdk::UserVerification {
    fn from(v: UserVerification) -> Self {
        match v {
            UserVerification::None => Self::None,
            UserVerification::UserPresence => Self::UserPresence,
            UserVerification::Biometric => Self::Biometric,
        }
    }
}

impl From<sdk::UserVerification> for UserVerification {
    fn from(v: sdk::UserVerification) -> Self {
        match v {
            sdk::UserVerification::None => Self::None,
            sdk::UserVerification::UserPresence => Self::UserPresence,
            sdk::UserVerification::Biometric => Self::Biometric,
        }
    }
}

impl From<KeyOptions> for sdk::KeyOptions {
    fn from(o: KeyOptions) -> Self {
        Self {
            user_verification: o.user_verification.into(),
            prefer_secure_hardware: o.prefer_secure_hardware,
        }
    }
}

impl From<sdk::KeyOptions> for KeyOptions {
    fn from(o: sdk::KeyOptions) -> Self {
        Self {
            user_verification: o.user_verification.into(),
            prefer_secure_hardware: o.prefer_secure_hardware,
        }
    }
}

impl From<KeySignature> for sdk::KeySignature {
    fn from(s: KeySignature) -> Self {
        match s {
            KeySignature::Der { signature } => Self::Der(signature),
            KeySignature::Raw { signature } => Self::Raw(signature),
        }
    }
}

/// The app's [`KeyStore`] as the SDK's.
pub(crate) struct AppKeyStore(pub(crate) Arc<dyn KeyStore>);

impl sdk::KeyStore for AppKeyStore {
    fn create_key(
        &self,
        alias: String,
        options: sdk::KeyOptions,
    ) -> Result<Vec<u8>, sdk::KeyStoreError> {
        Ok(self.0.create_key(alias, options.into())?)
    }

    fn public_key(&self, alias: String) -> Result<Vec<u8>, sdk::KeyStoreError> {
        Ok(self.0.public_key(alias)?)
    }

    fn sign(&self, alias: String, data: Vec<u8>) -> Result<sdk::KeySignature, sdk::KeyStoreError> {
        Ok(self.0.sign(alias, data)?.into())
    }

    fn delete_key(&self, alias: String) -> Result<(), sdk::KeyStoreError> {
        Ok(self.0.delete_key(alias)?)
    }

    fn has_key(&self, alias: String) -> Result<bool, sdk::KeyStoreError> {
        Ok(self.0.has_key(alias)?)
    }

    fn create_enrollment_key(
        &self,
        alias: String,
        options: sdk::KeyOptions,
        attestation_challenge: Vec<u8>,
    ) -> Result<Vec<u8>, sdk::KeyStoreError> {
        Ok(self
            .0
            .create_enrollment_key(alias, options.into(), attestation_challenge)?)
    }

    fn key_attestation(
        &self,
        alias: String,
        client_data_hash: Vec<u8>,
    ) -> Result<Option<sdk::KeyAttestation>, sdk::KeyStoreError> {
        Ok(self
            .0
            .key_attestation(alias, client_data_hash)?
            .map(Into::into))
    }
}
