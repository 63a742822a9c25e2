//! Where the device keys live: the [`KeyStore`] trait (on a phone, the Secure Enclave or Android
//! Keystore behind a foreign implementation), the `ring` [`SoftwareKeyStore`], and
//! [`KeyStoreSigner`], which lets JWS code sign with a stored key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::KeyStoreError;
use super::fs::{atomic_write, ensure_private_dir};
use crate::jose::software::SoftwareSigner;
use crate::jose::{JoseError, Jwk, Signer};

/// A store of P-256 signing keys, each under an alias. Private keys never leave it.
///
/// Implementations backed by hardware that produces DER signatures convert them with
/// [`crate::jose::der_to_raw_ecdsa`] before returning from [`sign`](Self::sign).
pub trait KeyStore: Send + Sync {
    /// Creates a new P-256 key under `alias` and returns its public JWK. Fails with
    /// [`KeyStoreError::AlreadyExists`] rather than replace an existing key.
    fn create_key(&self, alias: &str) -> Result<Jwk, KeyStoreError>;
    /// The public JWK of the key under `alias`.
    fn public_jwk(&self, alias: &str) -> Result<Jwk, KeyStoreError>;
    /// Signs `signing_input` with ECDSA P-256 / SHA-256; returns the 64-byte `r‖s` signature.
    fn sign(&self, alias: &str, signing_input: &[u8]) -> Result<Vec<u8>, KeyStoreError>;
    /// Deletes the key under `alias`; deleting an absent key is not an error.
    fn delete_key(&self, alias: &str) -> Result<(), KeyStoreError>;
    /// Whether a key exists under `alias`.
    fn has_key(&self, alias: &str) -> bool;
}

/// Software P-256 keys on `ring`, in memory or persisted in a directory (one PKCS#8 file per key,
/// owner-only permissions on unix, written atomically). For tests, the terminal authenticator
/// and emulators; a phone uses its platform key store instead.
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
}

impl KeyStore for SoftwareKeyStore {
    fn create_key(&self, alias: &str) -> Result<Jwk, KeyStoreError> {
        check_alias(alias)?;
        // Also looks on disk, so a key persisted by an earlier run is never overwritten.
        if self.has_key(alias) {
            return Err(KeyStoreError::AlreadyExists(alias.to_owned()));
        }
        let key = SoftwareSigner::generate().map_err(|e| KeyStoreError::Backend(e.to_string()))?;
        let mut keys = self.lock();
        if keys.contains_key(alias) {
            return Err(KeyStoreError::AlreadyExists(alias.to_owned()));
        }
        if let Some(dir) = &self.dir {
            let path = Self::key_path(dir, alias);
            atomic_write(&path, key.pkcs8())
                .map_err(|e| KeyStoreError::Backend(format!("{}: {e}", path.display())))?;
        }
        let jwk = key.public_jwk();
        keys.insert(alias.to_owned(), Arc::new(key));
        Ok(jwk)
    }

    fn public_jwk(&self, alias: &str) -> Result<Jwk, KeyStoreError> {
        Ok(self.key(alias)?.public_jwk())
    }

    fn sign(&self, alias: &str, signing_input: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        self.key(alias)?
            .sign(signing_input)
            .map_err(|e| KeyStoreError::Backend(e.to_string()))
    }

    fn delete_key(&self, alias: &str) -> Result<(), KeyStoreError> {
        check_alias(alias)?;
        let mut keys = self.lock();
        if let Some(dir) = &self.dir {
            let path = Self::key_path(dir, alias);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(KeyStoreError::Backend(format!("{}: {e}", path.display())));
                }
            }
        }
        keys.remove(alias);
        Ok(())
    }

    fn has_key(&self, alias: &str) -> bool {
        self.key(alias).is_ok()
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
#[derive(Clone)]
pub struct KeyStoreSigner {
    keys: Arc<dyn KeyStore>,
    alias: String,
    jwk: Jwk,
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
    /// a P-256 JWK.
    pub fn new(keys: Arc<dyn KeyStore>, alias: impl Into<String>) -> Result<Self, KeyStoreError> {
        let alias = alias.into();
        let jwk = keys.public_jwk(&alias)?;
        jwk.check_public_p256()
            .map_err(|e| KeyStoreError::Backend(format!("key store returned a bad key: {e}")))?;
        Ok(Self { keys, alias, jwk })
    }

    /// The alias of the key.
    pub fn alias(&self) -> &str {
        &self.alias
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
        let signature = self
            .keys
            .sign(&self.alias, signing_input)
            .map_err(|e| JoseError::Signing(e.to_string()))?;
        if signature.len() != 64 {
            return Err(JoseError::Signing(format!(
                "key store returned a {}-byte signature, expected 64-byte r||s",
                signature.len()
            )));
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::software::verify_es256;

    #[test]
    fn keys_survive_reopen_and_delete_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let keys_dir = dir.path().join("keys");
        let jwk = {
            let store = SoftwareKeyStore::open(&keys_dir).unwrap();
            assert!(!store.has_key("k1"));
            let jwk = store.create_key("k1").unwrap();
            assert!(store.has_key("k1"));
            assert_eq!(
                store.create_key("k1"),
                Err(KeyStoreError::AlreadyExists("k1".into()))
            );
            jwk
        };
        let store = SoftwareKeyStore::open(&keys_dir).unwrap();
        assert!(store.has_key("k1"));
        assert_eq!(store.public_jwk("k1").unwrap(), jwk);
        let sig = store.sign("k1", b"input").unwrap();
        verify_es256(&jwk, b"input", &sig).unwrap();

        store.delete_key("k1").unwrap();
        store.delete_key("k1").unwrap();
        assert!(!store.has_key("k1"));
        assert!(!SoftwareKeyStore::open(&keys_dir).unwrap().has_key("k1"));
        assert_eq!(
            store.sign("k1", b"x"),
            Err(KeyStoreError::NotFound("k1".into()))
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = SoftwareKeyStore::open(dir.path().join("keys")).unwrap();
        store.create_key("k").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("keys").join("k.pk8")), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
    }

    #[test]
    fn in_memory_store_and_bad_aliases() {
        let store = SoftwareKeyStore::in_memory();
        store.create_key("a").unwrap();
        assert!(store.has_key("a"));
        assert!(!SoftwareKeyStore::in_memory().has_key("a"));
        for bad in ["", "../x", "a/b", "a.pk8"] {
            assert_eq!(
                store.create_key(bad),
                Err(KeyStoreError::InvalidAlias(bad.into()))
            );
        }
    }

    #[test]
    fn signer_signs_with_the_stored_key() {
        let keys: Arc<dyn KeyStore> = Arc::new(SoftwareKeyStore::in_memory());
        let jwk = keys.create_key("a").unwrap();
        let signer = KeyStoreSigner::new(Arc::clone(&keys), "a").unwrap();
        assert_eq!(signer.public_jwk(), jwk);
        assert_eq!(signer.alias(), "a");
        verify_es256(&jwk, b"m", &signer.sign(b"m").unwrap()).unwrap();
        assert!(matches!(
            KeyStoreSigner::new(keys, "missing"),
            Err(KeyStoreError::NotFound(_))
        ));
    }
}
