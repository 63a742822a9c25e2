use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
};
use ciba_core::jose::{JoseError, Jwk, Signer, b64u_encode};
use serde_json::{Value, json};

use crate::jwks::{ClientKey, JwsAlg, parse_jwks, verify_with};
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

fn key_error(what: impl std::fmt::Display) -> KeyError {
    KeyError::Key(what.to_string())
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// One of the server's signing keys: ES256 (P-256), PS256 or RS256 (RSA 2048).
pub struct SigningKey {
    kid: String,
    alg: JwsAlg,
    pair: Pair,
    jwk: Jwk,
    /// The same public key, for verification.
    public: ClientKey,
    created_at: i64,
    activates_at: i64,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// A private key's pair, public JWK, kid (thumbprint) and verification key.
fn load(alg: JwsAlg, der: &[u8]) -> Result<(Pair, Jwk, String, ClientKey), KeyError> {
    let (pair, jwk) = match alg {
        JwsAlg::Es256 => {
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|e| key_error(format!("PKCS#8: {e}")))?;
            let jwk = Jwk::p256_from_uncompressed(pair.public_key().as_ref()).map_err(key_error)?;
            (Pair::Ec(pair), jwk)
        }
        JwsAlg::Ps256 | JwsAlg::Rs256 => {
            let pair =
                RsaKeyPair::from_pkcs8(der).map_err(|e| key_error(format!("PKCS#8: {e}")))?;
            let public = pair.public_key();
            let jwk = Jwk {
                kty: "RSA".into(),
                n: Some(b64u_encode(
                    public.modulus().big_endian_without_leading_zero(),
                )),
                e: Some(b64u_encode(
                    public.exponent().big_endian_without_leading_zero(),
                )),
                crv: None,
                x: None,
                y: None,
                d: None,
                kid: None,
            };
            (Pair::Rsa(pair), jwk)
        }
    };
    let kid = jwk.thumbprint().map_err(key_error)?;
    let verifier = parse_jwks(&json!({"keys": [SigningKey::public_value(&jwk, &kid, alg)]}))
        .map_err(key_error)?
        .keys
        .pop()
        .ok_or_else(|| key_error("the public key does not read back"))?;
    Ok((pair, jwk, kid, verifier))
}

impl SigningKey {
    fn from_record(record: &SigningKeyRecord) -> Result<Self, KeyError> {
        let alg = JwsAlg::parse(&record.alg)
            .ok_or_else(|| key_error(format!("unknown algorithm {}", record.alg)))?;
        let (pair, jwk, kid, public) = load(alg, &record.private_der)?;
        if kid != record.kid {
            return Err(key_error(format!(
                "stored key {} has thumbprint {kid}",
                record.kid
            )));
        }
        Ok(Self {
            kid,
            alg,
            pair,
            jwk,
            public,
            created_at: record.created_at,
            activates_at: record.activates_at,
        })
    }

    fn generate(alg: JwsAlg, now: i64, activates_at: i64) -> Result<SigningKeyRecord, KeyError> {
        let der = match alg {
            JwsAlg::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| key_error("key generation failed"))?
                    .as_ref()
                    .to_vec()
            }
            JwsAlg::Ps256 | JwsAlg::Rs256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| key_error("key generation failed"))?;
                AsDer::<Pkcs8V1Der<'static>>::as_der(&pair)
                    .map_err(|_| key_error("key encoding failed"))?
                    .as_ref()
                    .to_vec()
            }
        };
        let (_, _, kid, _) = load(alg, &der)?;
        Ok(SigningKeyRecord {
            kid,
            alg: alg.as_str().into(),
            private_der: der,
            created_at: now,
            activates_at,
        })
    }

    /// When it starts (or started) signing.
    pub fn activates_at(&self) -> i64 {
        self.activates_at
    }

    fn public_value(jwk: &Jwk, kid: &str, alg: JwsAlg) -> Value {
        let mut value = serde_json::to_value(jwk).unwrap_or_else(|_| json!({}));
        if let Some(fields) = value.as_object_mut() {
            fields.insert("kid".into(), json!(kid));
            fields.insert("use".into(), json!("sig"));
            fields.insert("alg".into(), json!(alg.as_str()));
        }
        value
    }

    /// The key id (its RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Its algorithm.
    pub fn jws_alg(&self) -> JwsAlg {
        self.alg
    }

    /// Whether this key made `signature` over `input` with `alg`.
    pub fn verifies(&self, alg: JwsAlg, input: &[u8], signature: &[u8]) -> bool {
        alg == self.alg
            && verify_with(
                std::slice::from_ref(&self.public),
                None,
                alg,
                input,
                signature,
            ) == Some(true)
    }
}

impl Signer for SigningKey {
    fn alg(&self) -> &str {
        self.alg.as_str()
    }

    fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        let failed = || JoseError::Signing(format!("{} signing failed", self.alg.as_str()));
        match &self.pair {
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), signing_input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| failed()),
            Pair::Rsa(pair) => {
                let padding = if self.alg == JwsAlg::Ps256 {
                    &RSA_PSS_SHA256
                } else {
                    &RSA_PKCS1_SHA256
                };
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), signing_input, &mut signature)
                    .map_err(|_| failed())?;
                Ok(signature)
            }
        }
    }
}

/// Where a key is in its life at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, signing from `activates_at`.
    Next,
    /// The key that signs.
    Active,
    /// Superseded, still published (and verifying) until the given time.
    Retired(i64),
    /// Gone from the JWKS: what it signed has expired.
    Expired,
}

/// The server's signing keys, one or more per algorithm. Per algorithm the key that signs is
/// the newest whose `activates_at` has passed; a newer one is published before it activates
/// (so that relying parties that cache the JWKS know it when the first token it signed
/// arrives); a superseded key stays published for `retention` seconds after its successor
/// activated — as long as what it signed can still be presented — and then stops verifying.
#[derive(Debug)]
pub struct SigningKeys {
    /// Sorted by (`activates_at`, `created_at`, kid): every instance picks the same key.
    keys: Vec<SigningKey>,
    retention: i64,
}

impl SigningKeys {
    /// Loads the keys from the store, creating the first one of each algorithm if there is
    /// none. `retention` is how long a superseded key is kept (the longest token lifetime).
    pub async fn load_or_create(
        store: &dyn Store,
        now: i64,
        retention: i64,
    ) -> Result<Self, KeyError> {
        let mut records = store.signing_keys().await?;
        let mut created = false;
        for alg in JwsAlg::ALL {
            if records.iter().any(|r| r.alg == alg.as_str()) {
                continue;
            }
            let record = SigningKey::generate(*alg, now, now)?;
            match store.insert_signing_key(&record).await {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            tracing::info!(kid = %record.kid, alg = alg.as_str(), "created the server's first signing key of this algorithm");
            created = true;
        }
        if created {
            records = store.signing_keys().await?;
        }
        Self::from_records(&records, retention)
    }

    fn from_records(records: &[SigningKeyRecord], retention: i64) -> Result<Self, KeyError> {
        let mut keys = records
            .iter()
            .map(SigningKey::from_record)
            .collect::<Result<Vec<_>, _>>()?;
        keys.sort_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        });
        if !JwsAlg::ALL
            .iter()
            .all(|alg| keys.iter().any(|k| k.alg == *alg))
        {
            return Err(key_error("a signing algorithm has no key"));
        }
        Ok(Self { keys, retention })
    }

    /// Adds a new key per algorithm that signs from `activates_at` (and is published from
    /// now): a rotation. Returns the new records.
    pub async fn rotate(
        store: &dyn Store,
        now: i64,
        activates_at: i64,
    ) -> Result<Vec<SigningKeyRecord>, KeyError> {
        let mut added = Vec::new();
        for alg in JwsAlg::ALL {
            let record = SigningKey::generate(*alg, now, activates_at)?;
            store.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, alg = alg.as_str(), activates_at, "signing key added (rotation)");
            added.push(record);
        }
        Ok(added)
    }

    /// The state of `key` at `now`.
    fn state_of(&self, key: &SigningKey, now: i64) -> KeyState {
        if key.activates_at > now {
            return KeyState::Next;
        }
        // The first key of the same algorithm after this one that has activated.
        let successor = self
            .keys
            .iter()
            .skip_while(|k| !std::ptr::eq(*k, key))
            .skip(1)
            .find(|k| k.alg == key.alg && k.activates_at <= now);
        match successor {
            None => KeyState::Active,
            Some(next) if now < next.activates_at + self.retention => {
                KeyState::Retired(next.activates_at + self.retention)
            }
            Some(_) => KeyState::Expired,
        }
    }

    /// The key that signs `alg` at `now`.
    pub fn active(&self, alg: JwsAlg, now: i64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.activates_at <= now)
            .or_else(|| self.keys.iter().find(|k| k.alg == alg))
    }

    /// A published key by id (one that still verifies at `now`).
    pub fn by_kid(&self, kid: &str, now: i64) -> Option<&SigningKey> {
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .filter(|k| self.state_of(k, now) != KeyState::Expired)
    }

    /// Every key with its state at `now` (the admin API's list).
    pub fn states(&self, now: i64) -> Vec<(&SigningKey, KeyState)> {
        self.keys
            .iter()
            .map(|k| (k, self.state_of(k, now)))
            .collect()
    }

    /// The public JWK Set at `now`: next, active and retired keys.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|k| self.state_of(k, now) != KeyState::Expired)
            .map(|k| SigningKey::public_value(&k.jwk, &k.kid, k.alg))
            .collect();
        json!({ "keys": keys })
    }
}
