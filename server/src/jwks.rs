//! The keys a client registers to sign its client assertions (`private_key_jwt`) and its
//! authentication requests: a JWK Set by value (`jwks`) or by reference (`jwks_uri`, fetched with
//! the notification client's SSRF rules and cached), and the JWS algorithms they verify.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{
    RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA256, RsaPublicKeyComponents,
};
use ciba_core::jose::{Jwk, b64u_decode};
use serde_json::Value;

use crate::crypto::verify_es256_point;
use crate::notify::NotificationClient;

/// The JWS algorithms client keys sign with here. `none`, the HMAC family and everything else
/// are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlg {
    /// ECDSA P-256 SHA-256.
    Es256,
    /// RSASSA-PSS SHA-256 (RSA ≥ 2048 bits).
    Ps256,
    /// RSASSA-PKCS1-v1_5 SHA-256 (RSA ≥ 2048 bits); refused under FAPI.
    Rs256,
}

impl JwsAlg {
    /// Every algorithm, in the order discovery lists them.
    pub const ALL: &'static [Self] = &[Self::Es256, Self::Ps256, Self::Rs256];
    /// The algorithms the FAPI profile allows.
    pub const FAPI: &'static [Self] = &[Self::Es256, Self::Ps256];

    /// From the JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(Self::Es256),
            "PS256" => Some(Self::Ps256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
            Self::Rs256 => "RS256",
        }
    }

    /// The algorithms a client may use: [`Self::FAPI`] for a FAPI client, all otherwise.
    pub fn allowed(fapi: bool) -> &'static [Self] {
        if fapi { Self::FAPI } else { Self::ALL }
    }

    /// The names of [`Self::allowed`].
    pub fn names(fapi: bool) -> Vec<&'static str> {
        Self::allowed(fapi).iter().map(|a| a.as_str()).collect()
    }
}

/// The public material of a signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    /// An uncompressed P-256 point.
    P256(Vec<u8>),
    /// An RSA modulus (no leading zeros) and exponent.
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

/// One usable signing key of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKey {
    kid: Option<String>,
    alg: Option<String>,
    material: Material,
}

/// The most keys a set may hold (bounds the signatures tried for a JWS without `kid`).
const MAX_KEYS: usize = 20;
/// Longest JWK Set document read from a `jwks_uri`.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The soonest a `jwks_uri` is fetched again for an unknown `kid`, seconds.
const REFETCH_AFTER: i64 = 10;

/// A JWK Set: its usable signing keys and, per key left out, why.
#[derive(Debug, Default)]
pub struct KeySet {
    /// The keys signatures are checked with.
    pub keys: Vec<ClientKey>,
    /// Why each other key was left out (`keys[2]: …`).
    pub skipped: Vec<String>,
}

/// Reads a JWK Set (`{"keys": [...]}`): EC P-256 and RSA (2048 to 8192 bits) public keys for
/// signing. Keys for encryption (`use: enc`) are left out silently; other unusable keys — private
/// parts, other curves or types, short RSA moduli — are left out with the reason in
/// [`KeySet::skipped`]. Fails only when the document is not a JWK Set.
pub fn parse_jwks(value: &Value) -> Result<KeySet, String> {
    let Some(keys) = value.get("keys").and_then(Value::as_array) else {
        return Err("a JWK Set is an object with a \"keys\" array".into());
    };
    if keys.len() > MAX_KEYS {
        return Err(format!("a JWK Set may hold at most {MAX_KEYS} keys"));
    }
    let mut set = KeySet::default();
    for (i, key) in keys.iter().enumerate() {
        if key.get("use").and_then(Value::as_str) == Some("enc") {
            continue;
        }
        match parse_key(key) {
            Ok(k) => set.keys.push(k),
            Err(why) => set.skipped.push(format!("keys[{i}]: {why}")),
        }
    }
    Ok(set)
}

/// Reads a registration's `jwks`: every key must be usable and there must be one.
pub fn parse_registered_jwks(value: &Value) -> Result<Vec<ClientKey>, String> {
    let set = parse_jwks(value)?;
    if let Some(why) = set.skipped.first() {
        return Err(why.clone());
    }
    if set.keys.is_empty() {
        return Err("the JWK Set holds no signing key".into());
    }
    Ok(set.keys)
}

fn parse_key(key: &Value) -> Result<ClientKey, String> {
    let field = |name: &str| key.get(name).and_then(Value::as_str);
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if key.get(private).is_some() {
            return Err("a private or symmetric key; register public keys only".into());
        }
    }
    if let Some(ops) = key.get("key_ops").and_then(Value::as_array)
        && !ops.iter().any(|op| op.as_str() == Some("verify"))
    {
        return Err("key_ops does not include verify".into());
    }
    let material = match field("kty") {
        Some("EC") => {
            let jwk: Jwk = serde_json::from_value(key.clone())
                .map_err(|_| "an EC key needs crv, x and y".to_owned())?;
            if jwk.crv.as_deref() != Some("P-256") {
                return Err(format!(
                    "EC keys must be on P-256 (crv {:?} is not supported)",
                    jwk.crv.unwrap_or_default()
                ));
            }
            let point = jwk
                .p256_uncompressed()
                .map_err(|_| "x and y are not a point of P-256".to_owned())?;
            Material::P256(point)
        }
        Some("RSA") => {
            let decode = |name: &str| -> Result<Vec<u8>, String> {
                let text = field(name).ok_or_else(|| format!("an RSA key needs {name}"))?;
                b64u_decode(text).map_err(|_| format!("{name} is not base64url"))
            };
            let mut n = decode("n")?;
            let e = decode("e")?;
            let zeros = n.iter().take_while(|b| **b == 0).count();
            n.drain(..zeros);
            // An empty modulus has no bits (found by fuzzing: `n.len() * 8 - 8` underflowed).
            let bits = n
                .first()
                .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "RSA keys must have 2048 to 8192 bits (this one has {bits})"
                ));
            }
            if e.is_empty() || e.len() > 4 {
                return Err("the RSA exponent is not usable".into());
            }
            Material::Rsa { n, e }
        }
        other => {
            return Err(format!(
                "kty {:?} is not supported (EC P-256 or RSA)",
                other.unwrap_or_default()
            ));
        }
    };
    Ok(ClientKey {
        kid: field("kid").map(str::to_owned),
        alg: field("alg").map(str::to_owned),
        material,
    })
}

impl ClientKey {
    /// Whether this key can verify `alg` (its type fits and its own `alg`, if any, is `alg`).
    fn fits(&self, alg: JwsAlg) -> bool {
        let kind = matches!(
            (&self.material, alg),
            (Material::P256(_), JwsAlg::Es256)
                | (Material::Rsa { .. }, JwsAlg::Ps256 | JwsAlg::Rs256)
        );
        kind && self.alg.as_deref().is_none_or(|a| a == alg.as_str())
    }

    fn verify(&self, alg: JwsAlg, input: &[u8], signature: &[u8]) -> bool {
        match (&self.material, alg) {
            (Material::P256(point), JwsAlg::Es256) => verify_es256_point(point, input, signature),
            (Material::Rsa { n, e }, JwsAlg::Ps256 | JwsAlg::Rs256) => {
                let params = if alg == JwsAlg::Ps256 {
                    &RSA_PSS_2048_8192_SHA256
                } else {
                    &RSA_PKCS1_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, input, signature)
                    .is_ok()
            }
            _ => false,
        }
    }
}

/// Which of `keys` verifies the signature: the keys with the header's `kid` when it has one,
/// otherwise every key that fits `alg`. `None` when no key fits (so the caller may refetch) and
/// `Some(false)` when keys fit but none verifies.
pub fn verify_with(
    keys: &[ClientKey],
    kid: Option<&str>,
    alg: JwsAlg,
    input: &[u8],
    signature: &[u8],
) -> Option<bool> {
    let mut candidates = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)) && k.fits(alg))
        .peekable();
    candidates.peek()?;
    Some(candidates.any(|k| k.verify(alg, input, signature)))
}

/// Whether the public key of the certificate `der` is one of `keys`
/// (`self_signed_tls_client_auth`, RFC 8705 §2.2: the certificate's key is registered).
pub fn certificate_key_is_one_of(keys: &[ClientKey], der: &[u8]) -> bool {
    use x509_parser::prelude::FromDer;
    use x509_parser::public_key::PublicKey;
    let Ok((_, cert)) = x509_parser::certificate::X509Certificate::from_der(der) else {
        return false;
    };
    let Ok(key) = cert.public_key().parsed() else {
        return false;
    };
    let strip = |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
    keys.iter().any(|k| match (&k.material, &key) {
        (Material::Rsa { n, e }, PublicKey::RSA(rsa)) => {
            strip(rsa.modulus) == *n && strip(rsa.exponent) == strip(e)
        }
        (Material::P256(point), PublicKey::EC(ec)) => ec.data() == point.as_slice(),
        _ => false,
    })
}

struct Fetched {
    /// When (the server's clock, seconds).
    at: i64,
    keys: Arc<Vec<ClientKey>>,
}

/// Keys fetched from clients' `jwks_uri`s, per URI, per instance.
#[derive(Default)]
pub struct JwksCache {
    entries: Mutex<HashMap<String, Fetched>>,
    /// One fetch at a time per URI, so a burst of requests with an unknown `kid` fetches once,
    /// and a slow client's URI holds up only that client.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl JwksCache {
    /// The keys at `uri` at `now`: cached for `ttl` seconds; fetched again sooner when `kid` is
    /// not among them (a client rotated its keys), at most once per 10 s. A failed fetch keeps
    /// the cached keys (up to twice their lifetime).
    pub async fn keys(
        &self,
        http: &NotificationClient,
        uri: &str,
        kid: Option<&str>,
        ttl: i64,
        now: i64,
    ) -> Result<Arc<Vec<ClientKey>>, String> {
        let cached = |max_age: i64| -> Option<Arc<Vec<ClientKey>>> {
            let entries = self.entries.lock().ok()?;
            let entry = entries.get(uri)?;
            let knows_kid =
                kid.is_none_or(|kid| entry.keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            let age = now.saturating_sub(entry.at);
            (age < max_age && (knows_kid || age < REFETCH_AFTER)).then(|| entry.keys.clone())
        };
        if let Some(keys) = cached(ttl) {
            return Ok(keys);
        }
        let turn = match self.fetching.lock() {
            Ok(mut locks) => {
                if locks.len() >= 10_000 {
                    locks.retain(|_, lock| Arc::strong_count(lock) > 1);
                }
                locks.entry(uri.to_owned()).or_default().clone()
            }
            Err(_) => Arc::default(),
        };
        let _one_at_a_time = turn.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(keys) = cached(ttl) {
            return Ok(keys);
        }
        match fetch(http, uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                if let Ok(mut entries) = self.entries.lock() {
                    if entries.len() >= 10_000 {
                        entries.clear();
                    }
                    entries.insert(
                        uri.to_owned(),
                        Fetched {
                            at: now,
                            keys: keys.clone(),
                        },
                    );
                }
                Ok(keys)
            }
            Err(why) => {
                tracing::warn!(jwks_uri = %uri, error = %why, "fetching a client's keys failed");
                // Keep working with the keys we had (up to twice their lifetime).
                cached(ttl.saturating_mul(2)).ok_or(why)
            }
        }
    }
}

async fn fetch(http: &NotificationClient, uri: &str) -> Result<Vec<ClientKey>, String> {
    let body = http.fetch(uri, MAX_JWKS_BYTES).await?;
    let value: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the JWK Set is not JSON: {e}"))?;
    let set = parse_jwks(&value)?;
    for why in &set.skipped {
        tracing::info!(jwks_uri = %uri, "a key of the client's JWK Set is left out: {why}");
    }
    Ok(set.keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn registered_sets_must_be_usable() {
        let ec = json!({"kty": "EC", "crv": "P-256", "kid": "a",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert_eq!(
            parse_registered_jwks(&json!({"keys": [ec]})).unwrap().len(),
            1
        );
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(parse_registered_jwks(&json!({"keys": [private]})).is_err());
        let mut p384 = ec.clone();
        p384["crv"] = json!("P-384");
        assert!(
            parse_registered_jwks(&json!({"keys": [p384]}))
                .unwrap_err()
                .contains("P-256")
        );
        let short_rsa = json!({"kty": "RSA", "e": "AQAB",
            "n": ciba_core::jose::b64u_encode(&[0xc5; 128])});
        assert!(
            parse_registered_jwks(&json!({"keys": [short_rsa]}))
                .unwrap_err()
                .contains("1024")
        );
        let rsa = json!({"kty": "RSA", "e": "AQAB",
            "n": ciba_core::jose::b64u_encode(&[0xc5; 256])});
        assert_eq!(
            parse_registered_jwks(&json!({"keys": [rsa]}))
                .unwrap()
                .len(),
            1
        );
        assert!(parse_registered_jwks(&json!({"keys": []})).is_err());
        // An empty or all-zero modulus (fuzz/artifacts-found/client_keys/empty-modulus).
        for n in ["", "AAAA"] {
            let empty = json!({"kty": "RSA", "e": "AQAB", "n": n});
            assert!(
                parse_registered_jwks(&json!({"keys": [empty]}))
                    .unwrap_err()
                    .contains("0")
            );
        }
        assert!(parse_registered_jwks(&json!([ec])).is_err());
        // An encryption key is not a signing key, and is left out without complaint.
        let enc = json!({"kty": "RSA", "use": "enc", "e": "AQAB", "n": "AQAB"});
        assert!(
            parse_jwks(&json!({"keys": [enc]}))
                .unwrap()
                .skipped
                .is_empty()
        );
    }

    #[test]
    fn keys_fit_their_algorithm() {
        let set = parse_registered_jwks(&json!({"keys": [
            {"kty": "RSA", "e": "AQAB", "kid": "r", "alg": "PS256",
             "n": ciba_core::jose::b64u_encode(&[0xc5; 256])}]}))
        .unwrap();
        assert!(set[0].fits(JwsAlg::Ps256));
        // Its registered alg is PS256: not usable for RS256, nor ES256.
        assert!(!set[0].fits(JwsAlg::Rs256));
        assert!(!set[0].fits(JwsAlg::Es256));
        assert_eq!(
            verify_with(&set, Some("other"), JwsAlg::Ps256, b"x", b"y"),
            None
        );
        assert_eq!(
            verify_with(&set, Some("r"), JwsAlg::Ps256, b"x", b"y"),
            Some(false)
        );
    }
}
