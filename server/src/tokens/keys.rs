use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use ciba_core::jose::{JoseError, Jwk, Signer};
use serde_json::{Value, json};

use crate::store::{SigningKeyRecord, Store, StoreError};

/// Why the signing keys could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key does not parse, or generation failed.
    #[error("signing key: {0}")]
    Key(String),
}

/// One ES256 key.
pub struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    fn from_pkcs8(der: &[u8]) -> Result<Self, KeyError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|e| KeyError::Key(format!("PKCS#8: {e}")))?;
        let jwk = Jwk::p256_from_uncompressed(pair.public_key().as_ref())
            .map_err(|e| KeyError::Key(e.to_string()))?;
        let kid = jwk.thumbprint().map_err(|e| KeyError::Key(e.to_string()))?;
        Ok(Self { kid, pair, jwk })
    }

    /// The key id (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

impl Signer for SigningKey {
    fn alg(&self) -> &str {
        "ES256"
    }

    fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        self.pair
            .sign(&SystemRandom::new(), signing_input)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| JoseError::Signing("ECDSA signing failed".into()))
    }
}

/// The server's signing keys: the newest signs, all are published.
#[derive(Debug)]
pub struct SigningKeys {
    keys: Vec<SigningKey>,
}

impl SigningKeys {
    /// Loads the keys from the store, creating the first one if there is none. Every instance
    /// converges on the same active key (the newest, ties broken by kid).
    pub async fn load_or_create(store: &dyn Store, now: i64) -> Result<Self, KeyError> {
        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let der = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| KeyError::Key("key generation failed".into()))?;
            let key = SigningKey::from_pkcs8(der.as_ref())?;
            let record = SigningKeyRecord {
                kid: key.kid.clone(),
                alg: "ES256".into(),
                private_der: der.as_ref().to_vec(),
                created_at: now,
            };
            match store.insert_signing_key(&record).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(kid = %key.kid, "created the server's first signing key");
            records = store.signing_keys().await?;
        }
        records.sort_by(|a, b| (a.created_at, &a.kid).cmp(&(b.created_at, &b.kid)));
        let keys = records
            .iter()
            .map(|r| SigningKey::from_pkcs8(&r.private_der))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Key("no signing key".into()));
        }
        Ok(Self { keys })
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        // `load_or_create` guarantees at least one key.
        &self.keys[self.keys.len() - 1]
    }

    /// A key by id.
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The public JWK Set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|k| {
                json!({"kty": "EC", "crv": "P-256", "x": k.jwk.x, "y": k.jwk.y, "kid": k.kid, "use": "sig", "alg": "ES256"})
            })
            .collect();
        json!({ "keys": keys })
    }
}
