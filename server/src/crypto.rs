//! Small cryptographic helpers on the server's one provider (aws-lc-rs) and SHA-256.

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use ciba_core::jose::{Jwk, b64u_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The system random generator failed; nothing sensible can go on.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RngError;

/// `n` random bytes, b64u.
pub fn random_b64u(n: usize) -> Result<String, RngError> {
    let mut buf = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| RngError)?;
    Ok(b64u_encode(&buf))
}

/// A prefixed random identifier with 128 bits of entropy (`txn_…`, `dev_…`).
pub fn random_id(prefix: &str) -> Result<String, RngError> {
    Ok(format!("{prefix}{}", random_b64u(16)?))
}

/// A prefixed identifier with 128 random bits after a time-ordered part (`txn_…`): creation
/// second and a per-process sequence, in hex so that identifiers sort by creation. New rows
/// then land at the right edge of the primary-key index instead of on a random page each,
/// which halves the pages a busy database writes per new request. The random part alone is
/// what makes it unguessable.
pub fn ordered_id(prefix: &str, now: i64) -> Result<String, RngError> {
    static SEQUENCE: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(format!(
        "{prefix}{:010x}{sequence:04x}{}",
        now.max(0),
        random_b64u(16)?
    ))
}

/// b64u(SHA-256(value)): how secrets, codes and `auth_req_id`s are stored.
pub fn hash_secret(value: &str) -> String {
    b64u_encode(&Sha256::digest(value.as_bytes()))
}

/// Compares two strings in constant time (for a given length).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    constant_time_eq(&hash_secret(secret), stored_hash)
}

/// Verifies an ES256 signature (`r‖s`) with a P-256 JWK.
pub fn verify_es256(jwk: &Jwk, signing_input: &[u8], signature: &[u8]) -> bool {
    jwk.p256_uncompressed()
        .is_ok_and(|point| verify_es256_point(&point, signing_input, signature))
}

/// Verifies an ES256 signature (`r‖s`) with an uncompressed P-256 point.
pub fn verify_es256_point(point: &[u8], signing_input: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(signing_input, signature)
        .is_ok()
}

/// The OIDC `at_hash` / CIBA `rt_hash`: b64u of the left half of SHA-256(token).
pub fn left_half_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    b64u_encode(&digest[..16])
}

/// An Argon2id hash (PHC string, RFC 9106's second recommended parameters as the `argon2`
/// crate's defaults: 19 MiB, 2 passes) of a low-entropy secret (a user's code), salted with 16
/// random bytes.
pub fn argon2id_hash(secret: &str) -> Result<String, RngError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| RngError)?;
    let salt = SaltString::encode_b64(&salt).map_err(|_| RngError)?;
    argon2::Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| RngError)
}

/// Whether `secret` is the one `phc` (from [`argon2id_hash`]) was made from; the comparison is
/// the `argon2` crate's, in constant time.
pub fn argon2id_verify(secret: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(secret.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_and_comparison() {
        let h = hash_secret("s3cret");
        assert!(secret_matches("s3cret", &h));
        assert!(!secret_matches("s3cret ", &h));
        assert!(!constant_time_eq("a", "ab"));
        assert_eq!(random_b64u(20).unwrap().len(), 27);
        assert!(random_id("txn_").unwrap().starts_with("txn_"));
    }

    /// OIDC Core's at_hash example value computed independently.
    #[test]
    fn at_hash_is_left_half_of_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223...
        assert_eq!(
            left_half_hash("abc"),
            b64u_encode(&[
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23
            ])
        );
    }

    #[test]
    fn argon2id_round_trip() {
        let hash = super::argon2id_hash("4711-blue").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(super::argon2id_verify("4711-blue", &hash));
        assert!(!super::argon2id_verify("4711-red", &hash));
        assert!(!super::argon2id_verify("4711-blue", "not a phc string"));
        assert_ne!(hash, super::argon2id_hash("4711-blue").unwrap(), "salted");
    }
}
