//! Where the device keys live: the [`KeyStore`] trait (on a phone, the Secure Enclave or Android
//! Keystore behind a foreign implementation), the `ring` [`SoftwareKeyStore`], and
//! [`KeyStoreSigner`], which lets JWS code sign with a stored key.
//!
//! The trait is shaped to become a uniffi foreign trait: object-safe, `Send + Sync`, owned plain
//! types in every signature, and a typed error from every method, so that a failure on the
//! platform side is a value and never a panic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::KeyStoreError;
use super::fs::{atomic_write, ensure_private_dir};
use crate::jose::software::SoftwareSigner;
use crate::jose::{JoseError, Jwk, Signer, der_to_raw_ecdsa};

/// How the user must be verified before a key signs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserVerification {
    /// The key signs without asking the user (the app verifies the user itself before approving).
    #[default]
    None,
    /// The user must be present: biometrics or the device passcode (Android
    /// `setUserAuthenticationRequired`, iOS `.userPresence`).
    UserPresence,
    /// The current biometric set only (iOS `.biometryCurrentSet`, Android
    /// `setInvalidatedByBiometricEnrollment(true)`): enrolling a new finger or face invalidates the
    /// key, and the account then needs re-enrollment.
    Biometric,
}

/// What a new key should be protected by. The platform applies what it can; a software store
/// ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOptions {
    /// When the user must be verified for the key to sign. Note that every device-API call is
    /// signed (DPoP), so a key that asks the user on every use prompts on every fetch too; a
    /// platform implementation usually grants a short validity window after one verification.
    #[serde(default)]
    pub user_verification: UserVerification,
    /// Prefer a dedicated secure element (Android StrongBox, the iOS Secure Enclave) over the
    /// ordinary hardware-backed store, falling back when the device has none.
    #[serde(default = "yes")]
    pub prefer_secure_hardware: bool,
}

fn yes() -> bool {
    true
}

impl Default for KeyOptions {
    /// No user verification by the key itself; secure hardware preferred.
    fn default() -> Self {
        Self {
            user_verification: UserVerification::None,
            prefer_secure_hardware: true,
        }
    }
}

/// An ECDSA P-256 / SHA-256 signature as the key store produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySignature {
    /// ASN.1 DER `ECDSA-Sig-Value`, what Android Keystore and the Secure Enclave return; the SDK
    /// converts it with [`der_to_raw_ecdsa`].
    Der(Vec<u8>),
    /// The fixed 64-byte `r‖s` form that JWS uses.
    Raw(Vec<u8>),
}

/// A key's attestation, as the platform produced it (DEVICE-PROTOCOL.md §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAttestation {
    /// Android: the Keystore certificate chain of the key (`KeyStore.getCertificateChain`), leaf
    /// first, each certificate's DER. The key must have been generated with
    /// `setAttestationChallenge(challenge)` (see [`KeyStore::create_enrollment_key`]).
    AndroidKeyChain(Vec<Vec<u8>>),
    /// iOS: the App Attest attestation object from
    /// `DCAppAttestService.attestKey(_:clientDataHash:)`.
    AppleAppAttest(Vec<u8>),
}

impl KeyAttestation {
    /// The `attestation` member of the enrollment body.
    pub fn to_protocol(&self) -> crate::protocol::Attestation {
        use base64::Engine;
        let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Self::AndroidKeyChain(chain) => crate::protocol::Attestation {
                format: "android-key".into(),
                data: encode(&chain.concat()),
            },
            Self::AppleAppAttest(object) => crate::protocol::Attestation {
                format: "apple-app-attest".into(),
                data: encode(object),
            },
        }
    }
}

/// A store of P-256 signing keys, each under an alias. Private keys never leave it.
///
/// This is what a mobile team implements over the Android Keystore or the iOS Keychain / Secure
/// Enclave. Public keys are exchanged as bytes: the 65-byte uncompressed SEC1 point (`04‖x‖y`,
/// what `SecKeyCopyExternalRepresentation` gives) or the X.509 `SubjectPublicKeyInfo` DER (what
/// Android's `PublicKey.getEncoded()` gives) — the SDK accepts both.
pub trait KeyStore: Send + Sync {
    /// Creates a new P-256 key under `alias` with the given protection and returns its public
    /// key. Fails with [`KeyStoreError::AlreadyExists`] rather than replace an existing key.
    fn create_key(&self, alias: String, options: KeyOptions) -> Result<Vec<u8>, KeyStoreError>;
    /// The public key under `alias`.
    fn public_key(&self, alias: String) -> Result<Vec<u8>, KeyStoreError>;
    /// Signs `data` with ECDSA P-256 over its SHA-256 digest (the platform hashes: Android
    /// `SHA256withECDSA`, iOS `ecdsaSignatureMessageX962SHA256`).
    fn sign(&self, alias: String, data: Vec<u8>) -> Result<KeySignature, KeyStoreError>;
    /// Deletes the key under `alias`; deleting an absent key is not an error.
    fn delete_key(&self, alias: String) -> Result<(), KeyStoreError>;
    /// Whether a usable key exists under `alias` (a key the platform invalidated counts as gone).
    fn has_key(&self, alias: String) -> Result<bool, KeyStoreError>;
    /// Creates the key of a new enrollment, as [`create_key`](Self::create_key) does, for an
    /// enrollment whose attestation challenge is `attestation_challenge` (32 bytes): on Android,
    /// pass it to `KeyGenParameterSpec.Builder.setAttestationChallenge` so the key's certificate
    /// chain attests it. The default ignores the challenge.
    fn create_enrollment_key(
        &self,
        alias: String,
        options: KeyOptions,
        attestation_challenge: Vec<u8>,
    ) -> Result<Vec<u8>, KeyStoreError> {
        let _ = attestation_challenge;
        self.create_key(alias, options)
    }
    /// The attestation of the enrollment key under `alias`, sent with the enrollment: Android,
    /// the key's certificate chain; iOS, an App Attest attestation with `client_data_hash`
    /// (which binds the enrollment's challenge and this key). `None` (the default, and the
    /// software store): the device sends no attestation, and the server's policy decides.
    fn key_attestation(
        &self,
        alias: String,
        client_data_hash: Vec<u8>,
    ) -> Result<Option<KeyAttestation>, KeyStoreError> {
        let _ = (alias, client_data_hash);
        Ok(None)
    }
}

/// The DER prefix of a P-256 `SubjectPublicKeyInfo` (id-ecPublicKey, prime256v1, BIT STRING of
/// 66 bytes); an uncompressed point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// The JWK of a public key a [`KeyStore`] returned (uncompressed point or SPKI DER).
pub(crate) fn jwk_from_public_key(bytes: &[u8]) -> Result<Jwk, KeyStoreError> {
    let point = bytes.strip_prefix(&P256_SPKI_PREFIX[..]).unwrap_or(bytes);
    let jwk = Jwk::p256_from_uncompressed(point).map_err(|_| {
        KeyStoreError::Backend(format!(
            "the key store returned a {}-byte public key that is neither an uncompressed P-256 \
             point nor a P-256 SubjectPublicKeyInfo",
            bytes.len()
        ))
    })?;
    jwk.check_public_p256()
        .map_err(|e| KeyStoreError::Backend(format!("key store returned a bad key: {e}")))?;
    Ok(jwk)
}

/// The `r‖s` form of a signature a [`KeyStore`] returned.
pub(crate) fn raw_signature(signature: KeySignature) -> Result<Vec<u8>, KeyStoreError> {
    let raw = match signature {
        KeySignature::Der(der) => der_to_raw_ecdsa(&der, 32)
            .map_err(|e| KeyStoreError::Backend(format!("key store signature: {e}")))?,
        KeySignature::Raw(raw) => raw,
    };
    if raw.len() != 64 {
        return Err(KeyStoreError::Backend(format!(
            "key store returned a {}-byte signature, expected 64-byte r||s",
            raw.len()
        )));
    }
    Ok(raw)
}

/// Software P-256 keys on `ring`, in memory or persisted in a directory (one PKCS#8 file per key,
/// owner-only permissions on unix, written atomically). For tests, the terminal authenticator
/// and emulators; a phone uses its platform key store instead. [`KeyOptions`] are ignored: there
/// is no secure hardware and no user prompt here.
pub struct SoftwareKeyStore {
    dir: Option<PathBuf>,
    keys: Mutex<HashMap<String, Arc<SoftwareSigner>>>,
}

impl std::fmt::Debug for SoftwareKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKeyStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

const KEY_FILE_EXTENSION: &str = "pk8";

impl SoftwareKeyStore {
    /// A store that forgets its keys when dropped.
    pub fn in_memory() -> Self {
        Self {
            dir: None,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// A store persisted in `dir`, created (owner-only on unix) if missing. Keys are read
    /// lazily, on first use.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, KeyStoreError> {
        let dir = dir.into();
        ensure_private_dir(&dir)
            .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", dir.display())))?;
        Ok(Self {
            dir: Some(dir),
            keys: Mutex::new(HashMap::new()),
        })
    }

    fn key_path(dir: &Path, alias: &str) -> PathBuf {
        dir.join(format!("{alias}.{KEY_FILE_EXTENSION}"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SoftwareSigner>>> {
        // The map is only ever changed by single inserts and removes; a panic elsewhere cannot
        // leave it half-updated.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key under `alias`, loading it from disk on first use.
    fn key(&self, alias: &str) -> Result<Arc<SoftwareSigner>, KeyStoreError> {
        check_alias(alias)?;
        let mut keys = self.lock();
        if let Some(key) = keys.get(alias) {
            return Ok(Arc::clone(key));
        }
        let Some(dir) = &self.dir else {
            return Err(KeyStoreError::NotFound(alias.to_owned()));
        };
        let path = Self::key_path(dir, alias);
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeyStoreError::NotFound(alias.to_owned()));
            }
            Err(e) => return Err(KeyStoreError::Backend(format!("{}: {e}", path.display()))),
        };
        let key = SoftwareSigner::from_pkcs8(&pkcs8)
            .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", path.display())))?;
        let key = Arc::new(key);
        keys.insert(alias.to_owned(), Arc::clone(&key));
        Ok(key)
    }

    /// How many keys are loaded (tests check that failed operations leave none behind).
    #[cfg(test)]
    pub(crate) fn key_count(&self) -> usize {
        self.lock().len()
    }

    fn public_point(key: &SoftwareSigner) -> Result<Vec<u8>, KeyStoreError> {
        key.public_jwk()
            .p256_uncompressed()
            .map_err(|e| KeyStoreError::Backend(e.to_string()))
    }
}

impl KeyStore for SoftwareKeyStore {
    fn create_key(&self, alias: String, _options: KeyOptions) -> Result<Vec<u8>, KeyStoreError> {
        check_alias(&alias)?;
        // Also looks on disk, so a key persisted by an earlier run is never overwritten.
        if self.has_key(alias.clone())? {
            return Err(KeyStoreError::AlreadyExists(alias));
        }
        let key = SoftwareSigner::generate().map_err(|e| KeyStoreError::Backend(e.to_string()))?;
        let public = Self::public_point(&key)?;
        let mut keys = self.lock();
        if keys.contains_key(&alias) {
            return Err(KeyStoreError::AlreadyExists(alias));
        }
        if let Some(dir) = &self.dir {
            let path = Self::key_path(dir, &alias);
            atomic_write(&path, key.pkcs8())
                .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", path.display())))?;
        }
        keys.insert(alias, Arc::new(key));
        Ok(public)
    }

    fn public_key(&self, alias: String) -> Result<Vec<u8>, KeyStoreError> {
        Self::public_point(self.key(&alias)?.as_ref())
    }

    fn sign(&self, alias: String, data: Vec<u8>) -> Result<KeySignature, KeyStoreError> {
        self.key(&alias)?
            .sign(&data)
            .map(KeySignature::Raw)
            .map_err(|e| KeyStoreError::Backend(e.to_string()))
    }

    fn delete_key(&self, alias: String) -> Result<(), KeyStoreError> {
        check_alias(&alias)?;
        let mut keys = self.lock();
        if let Some(dir) = &self.dir {
            let path = Self::key_path(dir, &alias);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(KeyStoreError::Backend(format!("{}: {e}", path.display())));
                }
            }
        }
        keys.remove(&alias);
        Ok(())
    }

    fn has_key(&self, alias: String) -> Result<bool, KeyStoreError> {
        match self.key(&alias) {
            Ok(_) => Ok(true),
            Err(KeyStoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Aliases become file names, so only a safe alphabet is accepted (the SDK's own aliases are
/// random base64url).
fn check_alias(alias: &str) -> Result<(), KeyStoreError> {
    let ok = !alias.is_empty()
        && alias.len() <= 128
        && alias
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(KeyStoreError::InvalidAlias(alias.to_owned()))
    }
}

/// A [`Signer`] over one key of a [`KeyStore`]: what DPoP proofs and decisions are signed with.
///
/// The [`Signer`] trait can only report a failure as text, so the key store's typed error of the
/// last failed signature is kept aside ([`take_error`](Self::take_error)); the SDK uses it to
/// tell "key gone" and "user cancelled" from other failures.
#[derive(Clone)]
pub struct KeyStoreSigner {
    keys: Arc<dyn KeyStore>,
    alias: String,
    jwk: Jwk,
    last_error: Arc<Mutex<Option<KeyStoreError>>>,
}

impl std::fmt::Debug for KeyStoreSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStoreSigner")
            .field("alias", &self.alias)
            .field("jwk", &self.jwk)
            .finish_non_exhaustive()
    }
}

impl KeyStoreSigner {
    /// A signer for the key under `alias`; fails if the key is missing or its public key is not
    /// a P-256 key.
    pub fn new(keys: Arc<dyn KeyStore>, alias: impl Into<String>) -> Result<Self, KeyStoreError> {
        let alias = alias.into();
        let jwk = jwk_from_public_key(&keys.public_key(alias.clone())?)?;
        Ok(Self {
            keys,
            alias,
            jwk,
            last_error: Arc::new(Mutex::new(None)),
        })
    }

    /// The alias of the key.
    pub fn alias(&self) -> &str {
        &self.alias
    }

    /// The key store's error behind the last failed [`Signer::sign`], if any (taken out).
    pub fn take_error(&self) -> Option<KeyStoreError> {
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

impl Signer for KeyStoreSigner {
    fn alg(&self) -> &str {
        "ES256"
    }

    fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let result = self
            .keys
            .sign(self.alias.clone(), signing_input.to_vec())
            .and_then(raw_signature);
        result.map_err(|e| {
            let message = e.to_string();
            *self
                .last_error
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(e);
            JoseError::Signing(message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::software::verify_es256;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn opts() -> KeyOptions {
        KeyOptions::default()
    }

    #[test]
    fn keys_survive_reopen_and_delete_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let public = {
            let store = SoftwareKeyStore::open(&keys_dir).unwrap();
            assert!(!store.has_key("k1".into()).unwrap());
            let public = store.create_key("k1".into(), opts()).unwrap();
            assert_eq!(public.len(), 65);
            assert!(store.has_key("k1".into()).unwrap());
            assert_eq!(
                store.create_key("k1".into(), opts()),
                Err(KeyStoreError::AlreadyExists("k1".into()))
            );
            public
        };
        let store = SoftwareKeyStore::open(&keys_dir).unwrap();
        assert!(store.has_key("k1".into()).unwrap());
        assert_eq!(store.public_key("k1".into()).unwrap(), public);
        let jwk = jwk_from_public_key(&public).unwrap();
        let KeySignature::Raw(sig) = store.sign("k1".into(), b"input".to_vec()).unwrap() else {
            panic!("the software store signs r||s");
        };
        verify_es256(&jwk, b"input", &sig).unwrap();

        store.delete_key("k1".into()).unwrap();
        store.delete_key("k1".into()).unwrap();
        assert!(!store.has_key("k1".into()).unwrap());
        assert!(
            !SoftwareKeyStore::open(&keys_dir)
                .unwrap()
                .has_key("k1".into())
                .unwrap()
        );
        assert_eq!(
            store.sign("k1".into(), b"x".to_vec()),
            Err(KeyStoreError::NotFound("k1".into()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareKeyStore::open(dir.path().join("keys")).unwrap();
        store.create_key("k".into(), opts()).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("keys").join("k.pk8")), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
    }

    #[test]
    fn in_memory_store_and_bad_aliases() {
        let store = SoftwareKeyStore::in_memory();
        store.create_key("a".into(), opts()).unwrap();
        assert!(store.has_key("a".into()).unwrap());
        assert!(!SoftwareKeyStore::in_memory().has_key("a".into()).unwrap());
        for bad in ["", "../x", "a/b", "a.pk8"] {
            assert_eq!(
                store.create_key(bad.into(), opts()),
                Err(KeyStoreError::InvalidAlias(bad.into()))
            );
            assert_eq!(
                store.has_key(bad.into()),
                Err(KeyStoreError::InvalidAlias(bad.into()))
            );
        }
    }

    #[test]
    fn signer_signs_with_the_stored_key() {
        let keys: Arc<dyn KeyStore> = Arc::new(SoftwareKeyStore::in_memory());
        let public = keys.create_key("a".into(), opts()).unwrap();
        let jwk = jwk_from_public_key(&public).unwrap();
        let signer = KeyStoreSigner::new(Arc::clone(&keys), "a").unwrap();
        assert_eq!(signer.public_jwk(), jwk);
        assert_eq!(signer.alias(), "a");
        verify_es256(&jwk, b"m", &signer.sign(b"m").unwrap()).unwrap();
        assert!(matches!(
            KeyStoreSigner::new(Arc::clone(&keys), "missing"),
            Err(KeyStoreError::NotFound(_))
        ));
        // A key deleted behind the signer's back: the typed error is kept for the SDK.
        keys.delete_key("a".into()).unwrap();
        assert!(matches!(signer.sign(b"m"), Err(JoseError::Signing(_))));
        assert_eq!(
            signer.take_error(),
            Some(KeyStoreError::NotFound("a".into()))
        );
        assert_eq!(signer.take_error(), None);
    }

    /// A platform-like store: DER signatures and SubjectPublicKeyInfo public keys, as Android
    /// Keystore hands them out; and a prompt the user can cancel.
    struct DerKeyStore {
        pair: EcdsaKeyPair,
        cancel: std::sync::atomic::AtomicBool,
    }

    impl KeyStore for DerKeyStore {
        fn create_key(&self, _: String, _: KeyOptions) -> Result<Vec<u8>, KeyStoreError> {
            Err(KeyStoreError::Backend("fixed key".into()))
        }
        fn public_key(&self, _: String) -> Result<Vec<u8>, KeyStoreError> {
            let mut spki = P256_SPKI_PREFIX.to_vec();
            spki.extend_from_slice(self.pair.public_key().as_ref());
            Ok(spki)
        }
        fn sign(&self, _: String, data: Vec<u8>) -> Result<KeySignature, KeyStoreError> {
            if self.cancel.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(KeyStoreError::UserCancelled);
            }
            let sig = self
                .pair
                .sign(&SystemRandom::new(), &data)
                .map_err(|_| KeyStoreError::Backend("sign".into()))?;
            Ok(KeySignature::Der(sig.as_ref().to_vec()))
        }
        fn delete_key(&self, _: String) -> Result<(), KeyStoreError> {
            Ok(())
        }
        fn has_key(&self, _: String) -> Result<bool, KeyStoreError> {
            Ok(true)
        }
    }

    #[test]
    fn der_signatures_and_spki_public_keys_from_a_platform_store() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let store = Arc::new(DerKeyStore {
            pair,
            cancel: false.into(),
        });
        let signer = KeyStoreSigner::new(store.clone(), "any").unwrap();
        assert_eq!(
            signer.public_jwk(),
            Jwk::p256_from_uncompressed(&point).unwrap()
        );
        let sig = signer.sign(b"signing input").unwrap();
        assert_eq!(sig.len(), 64);
        verify_es256(&signer.public_jwk(), b"signing input", &sig).unwrap();

        store
            .cancel
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(signer.sign(b"x").is_err());
        assert_eq!(signer.take_error(), Some(KeyStoreError::UserCancelled));
    }

    #[test]
    fn malformed_platform_output_is_a_typed_error() {
        assert!(matches!(
            jwk_from_public_key(&[4; 33]),
            Err(KeyStoreError::Backend(_))
        ));
        assert!(matches!(
            raw_signature(KeySignature::Der(vec![0x30, 0x01])),
            Err(KeyStoreError::Backend(_))
        ));
        assert!(matches!(
            raw_signature(KeySignature::Raw(vec![0; 63])),
            Err(KeyStoreError::Backend(_))
        ));
        assert_eq!(
            raw_signature(KeySignature::Raw(vec![7; 64])),
            Ok(vec![7; 64])
        );
    }

    #[test]
    fn key_options_default_and_stored_form() {
        assert_eq!(
            serde_json::to_value(KeyOptions::default()).unwrap(),
            serde_json::json!({"user_verification": "none", "prefer_secure_hardware": true})
        );
        let parsed: KeyOptions =
            serde_json::from_str(r#"{"user_verification":"biometric"}"#).unwrap();
        assert_eq!(parsed.user_verification, UserVerification::Biometric);
        assert!(parsed.prefer_secure_hardware);
    }
}
