//! The software ES256 signer on `ring`: the default for tests, the terminal authenticator and
//! emulators. On a phone, keys live in the platform key store instead.

use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};

use super::{JoseError, Jwk, Signer};

/// An ES256 key held in memory.
pub struct SoftwareSigner {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSigner")
            .field("jwk", &self.public_jwk())
            .finish_non_exhaustive()
    }
}

impl SoftwareSigner {
    /// A fresh random P-256 key.
    pub fn generate() -> Result<Self, JoseError> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JoseError::Signing("key generation failed".into()))?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A key from its PKCS#8 (v1 or v2) DER encoding.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, JoseError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| JoseError::InvalidJwk(format!("PKCS#8: {e}")))?;
        Ok(Self {
            pair,
            pkcs8: pkcs8.to_vec(),
            rng,
        })
    }

    /// A key from a private JWK's `d`, `x` and `y` (test vectors).
    pub fn from_jwk_components(d: &str, x: &str, y: &str) -> Result<Self, JoseError> {
        let rng = SystemRandom::new();
        let public =
            Jwk::p256(&super::b64u_decode(x)?, &super::b64u_decode(y)?).p256_uncompressed()?;
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &super::b64u_decode(d)?,
            &public,
            &rng,
        )
        .map_err(|e| JoseError::InvalidJwk(format!("private key: {e}")))?;
        Ok(Self {
            pair,
            pkcs8: Vec::new(),
            rng,
        })
    }

    /// The PKCS#8 encoding, to persist the key (empty for keys built from JWK components).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }
}

impl Signer for SoftwareSigner {
    fn alg(&self) -> &str {
        "ES256"
    }

    fn public_jwk(&self) -> Jwk {
        // ring's public key is always the 65-byte uncompressed point for P-256.
        Jwk::p256_from_uncompressed(self.pair.public_key().as_ref())
            .unwrap_or_else(|_| Jwk::p256(&[0; 32], &[0; 32]))
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, JoseError> {
        self.pair
            .sign(&self.rng, signing_input)
            .map(|sig| sig.as_ref().to_vec())
            .map_err(|_| JoseError::Signing("ECDSA signing failed".into()))
    }
}

/// Verifies an ES256 signature (`r‖s`) over `signing_input` with a P-256 JWK.
pub fn verify_es256(jwk: &Jwk, signing_input: &[u8], signature: &[u8]) -> Result<(), JoseError> {
    let point = jwk.p256_uncompressed()?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
        .verify(signing_input, signature)
        .map_err(|_| JoseError::BadSignature)
}

/// `n` random bytes, b64u-encoded (identifiers, `jti`s).
pub fn random_b64u(n: usize) -> Result<String, JoseError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| JoseError::Signing("system RNG failed".into()))?;
    Ok(super::b64u_encode(&buf))
}

#[doc(hidden)]
pub mod tests_support {
    /// RFC 7515 Appendix A.3: the ES256 example JWS.
    pub const RFC7515_A3_JWS: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    /// RFC 7515 Appendix A.3: the key.
    pub const RFC7515_A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    /// RFC 7515 Appendix A.3: the key.
    pub const RFC7515_A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    /// RFC 7515 Appendix A.3: the key.
    pub const RFC7515_A3_D: &str = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI";
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use crate::jose::{CompactJws, JwsHeader, der_to_raw_ecdsa, sign_compact};

    #[test]
    fn rfc7515_a3_example_verifies_and_tampering_fails() {
        let jwk = Jwk::p256(
            &crate::jose::b64u_decode(RFC7515_A3_X).unwrap(),
            &crate::jose::b64u_decode(RFC7515_A3_Y).unwrap(),
        );
        let jws = CompactJws::parse(RFC7515_A3_JWS).unwrap();
        verify_es256(&jwk, jws.signing_input.as_bytes(), &jws.signature).unwrap();
        let mut tampered = jws.signing_input.clone().into_bytes();
        tampered[3] ^= 1;
        assert_eq!(
            verify_es256(&jwk, &tampered, &jws.signature),
            Err(JoseError::BadSignature)
        );
    }

    #[test]
    fn rfc7515_a3_key_signs_what_it_verifies() {
        let signer =
            SoftwareSigner::from_jwk_components(RFC7515_A3_D, RFC7515_A3_X, RFC7515_A3_Y).unwrap();
        assert_eq!(signer.public_jwk().x.as_deref(), Some(RFC7515_A3_X));
        let header = JwsHeader {
            alg: "ES256".into(),
            typ: None,
            kid: None,
            jwk: None,
        };
        let jws = sign_compact(&header, &serde_json::json!({"iss":"joe"}), &signer).unwrap();
        let parsed = CompactJws::parse(&jws).unwrap();
        verify_es256(
            &signer.public_jwk(),
            parsed.signing_input.as_bytes(),
            &parsed.signature,
        )
        .unwrap();
    }

    #[test]
    fn generated_keys_round_trip_through_pkcs8() {
        let a = SoftwareSigner::generate().unwrap();
        let b = SoftwareSigner::from_pkcs8(a.pkcs8()).unwrap();
        assert_eq!(a.public_jwk(), b.public_jwk());
        let sig = b.sign(b"input").unwrap();
        verify_es256(&a.public_jwk(), b"input", &sig).unwrap();
    }

    /// A DER signature (as hardware returns) converted to r‖s verifies with ring's fixed verifier.
    #[test]
    fn der_signature_converts_to_valid_jws_signature() {
        use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let der_pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let jwk = Jwk::p256_from_uncompressed(der_pair.public_key().as_ref()).unwrap();
        for _ in 0..20 {
            let der = der_pair.sign(&rng, b"msg").unwrap();
            let raw = der_to_raw_ecdsa(der.as_ref(), 32).unwrap();
            verify_es256(&jwk, b"msg", &raw).unwrap();
        }
    }

    #[test]
    fn random_ids_are_long_and_distinct() {
        let a = random_b64u(16).unwrap();
        assert_eq!(a.len(), 22);
        assert_ne!(a, random_b64u(16).unwrap());
    }
}
