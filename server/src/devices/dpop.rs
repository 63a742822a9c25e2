use axum::http::{HeaderMap, Method};
use ciba_core::jose::{CompactJws, DpopClaims, Jwk};
use ciba_core::protocol::{
    DPOP_IAT_TOLERANCE_SECS, DPOP_REPLAY_WINDOW_SECS, DPOP_TYP, error_codes,
};

use super::{invalid_dpop, unauthorized};
use crate::crypto::{hash_secret, verify_es256};
use crate::http::error::ApiResult;
use crate::state::AppState;
use crate::store::Device;

/// A verified DPoP proof.
#[derive(Debug, Clone)]
pub struct DeviceProof {
    /// The proof's public key.
    pub jwk: Jwk,
    /// Its RFC 7638 thumbprint.
    pub jkt: String,
}

/// Verifies the `DPoP` header of a device request (RFC 9449 §4.3, DEVICE-PROTOCOL.md §2):
/// signature by the header's key, `typ`, `alg`, `htm`, `htu`, `iat` within ±60 s, and a `jti`
/// not seen in the last 120 s on any instance.
pub async fn verify_dpop(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> ApiResult<DeviceProof> {
    let mut values = headers.get_all("dpop").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(invalid_dpop("exactly one DPoP header is required"));
    };
    let proof = value
        .to_str()
        .map_err(|_| invalid_dpop("the DPoP header is not text"))?;
    if proof.len() > 8192 {
        return Err(invalid_dpop("the DPoP proof is too large"));
    }
    let jws = CompactJws::parse(proof)
        .map_err(|_| invalid_dpop("the DPoP proof is not a compact JWS"))?;
    if jws.header.typ.as_deref() != Some(DPOP_TYP) || jws.header.alg != "ES256" {
        return Err(invalid_dpop(
            "the DPoP proof must have typ dpop+jwt and alg ES256",
        ));
    }
    let jwk = jws
        .header
        .jwk
        .clone()
        .ok_or_else(|| invalid_dpop("the DPoP proof has no jwk"))?;
    jwk.check_public_p256()
        .map_err(|_| invalid_dpop("the DPoP key must be a public P-256 key"))?;
    if !verify_es256(&jwk, jws.signing_input.as_bytes(), &jws.signature) {
        return Err(invalid_dpop("the DPoP signature does not verify"));
    }
    let claims: DpopClaims = jws
        .claims()
        .map_err(|_| invalid_dpop("the DPoP claims are malformed"))?;
    if claims.htm != method.as_str() {
        return Err(invalid_dpop("htm does not match the request method"));
    }
    if !same_url(&claims.htu, &format!("{}{path}", state.issuer)) {
        return Err(invalid_dpop("htu does not match the request URL"));
    }
    let now = state.now();
    if (claims.iat - now).abs() > DPOP_IAT_TOLERANCE_SECS {
        return Err(invalid_dpop("iat is too far from the server clock"));
    }
    if claims.jti.len() < 16 || claims.jti.len() > 256 {
        return Err(invalid_dpop("jti must carry at least 96 bits"));
    }
    let jkt = jwk
        .thumbprint()
        .map_err(|_| invalid_dpop("the DPoP key has no thumbprint"))?;
    let key = format!("dpop:{}", hash_secret(&format!("{jkt}:{}", claims.jti)));
    if !state
        .store
        .remember_jti(&key, now + DPOP_REPLAY_WINDOW_SECS, now)
        .await?
    {
        return Err(invalid_dpop("the DPoP proof was already used"));
    }
    Ok(DeviceProof { jwk, jkt })
}

/// Verifies the DPoP proof and finds the enrolled, active device that owns its key.
pub async fn authenticate_device(
    state: &AppState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> ApiResult<Device> {
    let proof = verify_dpop(state, method, path, headers).await?;
    let device = state
        .store
        .device_by_jkt(&proof.jkt)
        .await?
        .ok_or_else(|| {
            unauthorized(
                error_codes::UNKNOWN_DEVICE,
                "no enrolled device has this key",
            )
        })?;
    if !device.is_active() {
        return Err(unauthorized(
            error_codes::DEVICE_REVOKED,
            "this device was revoked",
        ));
    }
    Ok(device)
}

/// Compares two URLs after RFC 3986 normalisation (scheme and host case, default port), ignoring
/// query and fragment (RFC 9449 §4.3).
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        url::Url::parse(s).ok().map(|mut u| {
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        })
    };
    match (norm(a), norm(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::same_url;

    #[test]
    fn urls_compare_after_normalisation() {
        assert!(same_url(
            "HTTPS://AS.example:443/device/v1/x?q=1",
            "https://as.example/device/v1/x"
        ));
        assert!(!same_url(
            "https://as.example/device/v1/y",
            "https://as.example/device/v1/x"
        ));
        assert!(!same_url("not a url", "https://as.example/"));
    }
}
