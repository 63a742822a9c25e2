use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{JoseError, Jwk, Signer};
use crate::protocol::DPOP_TYP;

/// base64url without padding.
pub fn b64u_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (padding and the standard alphabet are refused).
pub fn b64u_decode(text: &str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| JoseError::Malformed(format!("base64url: {e}")))
}

/// The protected header of the JWSs this stack builds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// Algorithm (`ES256`).
    pub alg: String,
    /// Media type (`dpop+jwt`, `ciba-decision+jwt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The public key (DPoP, new-key proofs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwk: Option<Jwk>,
}

/// Builds a compact JWS: `b64u(header).b64u(claims).b64u(signature)`.
pub fn sign_compact<C: Serialize + ?Sized>(
    header: &JwsHeader,
    claims: &C,
    signer: &dyn Signer,
) -> Result<String, JoseError> {
    let header_json = serde_json::to_vec(header).map_err(|e| JoseError::Json(e.to_string()))?;
    let claims_json = serde_json::to_vec(claims).map_err(|e| JoseError::Json(e.to_string()))?;
    let signing_input = format!(
        "{}.{}",
        b64u_encode(&header_json),
        b64u_encode(&claims_json)
    );
    let signature = signer.sign(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", b64u_encode(&signature)))
}

/// A compact JWS split into its parts, not yet verified.
#[derive(Debug, Clone)]
pub struct CompactJws {
    /// The decoded protected header.
    pub header: JwsHeader,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
    /// `b64u(header).b64u(payload)`: the bytes the signature covers.
    pub signing_input: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

impl CompactJws {
    /// Splits and decodes a compact JWS. Nothing is verified here.
    pub fn parse(jws: &str) -> Result<Self, JoseError> {
        let mut parts = jws.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::Malformed(
                "expected three dot-separated parts".into(),
            ));
        };
        let header: JwsHeader = serde_json::from_slice(&b64u_decode(h)?)
            .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
        Ok(Self {
            header,
            payload: b64u_decode(p)?,
            signing_input: format!("{h}.{p}"),
            signature: b64u_decode(s)?,
        })
    }

    /// Deserialises the payload as JSON claims.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JoseError> {
        serde_json::from_slice(&self.payload)
            .map_err(|e| JoseError::Malformed(format!("claims: {e}")))
    }
}

/// The claims of a DPoP proof (RFC 9449 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DpopClaims {
    /// Unique id (≥ 96 bits random).
    pub jti: String,
    /// HTTP method.
    pub htm: String,
    /// Request URL without query and fragment.
    pub htu: String,
    /// Issued at.
    pub iat: i64,
}

/// Creates a DPoP proof for one request: header `{typ: "dpop+jwt", alg, jwk}`, claims
/// `{jti, htm, htu, iat}`. `htu` loses any query and fragment here.
pub fn dpop_proof(
    signer: &dyn Signer,
    htm: &str,
    htu: &str,
    iat: i64,
    jti: &str,
) -> Result<String, JoseError> {
    let htu = htu.split(['?', '#']).next().unwrap_or(htu);
    let header = JwsHeader {
        alg: signer.alg().to_owned(),
        typ: Some(DPOP_TYP.to_owned()),
        kid: None,
        jwk: Some(signer.public_jwk()),
    };
    let claims = DpopClaims {
        jti: jti.to_owned(),
        htm: htm.to_owned(),
        htu: htu.to_owned(),
        iat,
    };
    sign_compact(&header, &claims, signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FixedSigner;
    impl Signer for FixedSigner {
        fn alg(&self) -> &str {
            "ES256"
        }
        fn public_jwk(&self) -> Jwk {
            Jwk::p256(&[1; 32], &[2; 32])
        }
        fn sign(&self, input: &[u8]) -> Result<Vec<u8>, JoseError> {
            Ok(input.iter().take(64).copied().collect())
        }
    }

    #[test]
    fn compact_jws_round_trips_and_dpop_strips_query() {
        let proof = dpop_proof(
            &FixedSigner,
            "GET",
            "https://as.example/device/v1/transactions?x=1#f",
            7,
            "j",
        )
        .unwrap();
        let jws = CompactJws::parse(&proof).unwrap();
        assert_eq!(jws.header.typ.as_deref(), Some("dpop+jwt"));
        assert_eq!(jws.header.jwk, Some(FixedSigner.public_jwk()));
        let claims: DpopClaims = jws.claims().unwrap();
        assert_eq!(claims.htu, "https://as.example/device/v1/transactions");
        assert_eq!(claims.iat, 7);
        assert_eq!(jws.signature, jws.signing_input.as_bytes()[..64].to_vec());
    }

    #[test]
    fn parse_refuses_malformed() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.e30.A=",
            "bm90anNvbg.e30.AA",
        ] {
            assert!(CompactJws::parse(bad).is_err(), "{bad}");
        }
    }

    /// RFC 7515 A.3: the header and payload parts decode to the example's JSON.
    #[test]
    fn rfc7515_a3_parts() {
        let jws = CompactJws::parse(super::super::software::tests_support::RFC7515_A3_JWS).unwrap();
        assert_eq!(jws.header.alg, "ES256");
        assert_eq!(jws.signature.len(), 64);
        let claims: serde_json::Value = jws.claims().unwrap();
        assert_eq!(claims["iss"], "joe");
    }
}
