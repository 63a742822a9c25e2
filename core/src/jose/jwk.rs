use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{JoseError, b64u_encode};

/// A public JSON Web Key (RFC 7517). EC (P-256) keys are what devices use; RSA members are kept
/// so thumbprints of any client key can be computed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwk {
    /// Key type: `EC` or `RSA`.
    pub kty: String,
    /// Curve (EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// X coordinate, b64u (EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Y coordinate, b64u (EC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// Modulus, b64u (RSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// Exponent, b64u (RSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Private part; present only on private keys, refused by [`Jwk::check_public_p256`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Jwk {
    /// A P-256 public key from its two 32-byte coordinates.
    pub fn p256(x: &[u8], y: &[u8]) -> Self {
        Self {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some(b64u_encode(x)),
            y: Some(b64u_encode(y)),
            n: None,
            e: None,
            d: None,
            kid: None,
        }
    }

    /// A P-256 public key from the 65-byte uncompressed SEC1 point (`04‖x‖y`).
    pub fn p256_from_uncompressed(point: &[u8]) -> Result<Self, JoseError> {
        match point {
            [0x04, rest @ ..] if rest.len() == 64 => Ok(Self::p256(&rest[..32], &rest[32..])),
            _ => Err(JoseError::InvalidJwk(
                "not an uncompressed P-256 point".into(),
            )),
        }
    }

    /// Checks that this is a public P-256 key with 32-byte coordinates and no private member.
    pub fn check_public_p256(&self) -> Result<(), JoseError> {
        let bad = |why: &str| Err(JoseError::InvalidJwk(why.to_owned()));
        if self.kty != "EC" || self.crv.as_deref() != Some("P-256") {
            return bad("expected an EC P-256 key");
        }
        if self.d.is_some() {
            return bad("a private key was sent");
        }
        for coord in [&self.x, &self.y] {
            let Some(c) = coord else {
                return bad("missing coordinate");
            };
            match super::b64u_decode(c) {
                Ok(bytes) if bytes.len() == 32 => {}
                _ => return bad("coordinate is not 32 bytes of base64url"),
            }
        }
        Ok(())
    }

    /// The uncompressed SEC1 point `04‖x‖y` of a P-256 key.
    pub fn p256_uncompressed(&self) -> Result<Vec<u8>, JoseError> {
        self.check_public_p256()?;
        let decode = |c: &Option<String>| super::b64u_decode(c.as_deref().unwrap_or_default());
        let mut out = vec![0x04];
        out.extend(decode(&self.x)?);
        out.extend(decode(&self.y)?);
        Ok(out)
    }

    /// The RFC 7638 JWK SHA-256 thumbprint, b64u: the `jkt` of DPoP.
    pub fn thumbprint(&self) -> Result<String, JoseError> {
        let missing = |m: &str| JoseError::InvalidJwk(format!("missing member {m}"));
        // Required members in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = match self.kty.as_str() {
            "EC" => {
                let crv = self.crv.as_deref().ok_or_else(|| missing("crv"))?;
                let x = self.x.as_deref().ok_or_else(|| missing("x"))?;
                let y = self.y.as_deref().ok_or_else(|| missing("y"))?;
                format!(
                    r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                    json_str(crv)?,
                    json_str(x)?,
                    json_str(y)?
                )
            }
            "RSA" => {
                let e = self.e.as_deref().ok_or_else(|| missing("e"))?;
                let n = self.n.as_deref().ok_or_else(|| missing("n"))?;
                format!(
                    r#"{{"e":{},"kty":"RSA","n":{}}}"#,
                    json_str(e)?,
                    json_str(n)?
                )
            }
            other => return Err(JoseError::InvalidJwk(format!("unsupported kty {other}"))),
        };
        Ok(b64u_encode(&Sha256::digest(canonical.as_bytes())))
    }
}

fn json_str(s: &str) -> Result<String, JoseError> {
    serde_json::to_string(s).map_err(|e| JoseError::Json(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1 example.
    #[test]
    fn rfc7638_rsa_example() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(
            jwk.thumbprint().unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// RFC 7515 A.3 key; its thumbprint computed over the canonical members.
    #[test]
    fn ec_thumbprint_ignores_extra_members() {
        let a = Jwk {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
            y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
            n: None,
            e: None,
            d: None,
            kid: None,
        };
        let mut b = a.clone();
        b.kid = Some("other".into());
        assert_eq!(a.thumbprint().unwrap(), b.thumbprint().unwrap());
        a.check_public_p256().unwrap();
        assert_eq!(a.p256_uncompressed().unwrap().len(), 65);
        b.d = Some("secret".into());
        assert!(b.check_public_p256().is_err());
    }
}
