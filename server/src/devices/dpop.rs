use ciba_core::jose::{DpopClaims, Jwk};
use ciba_core::protocol::DPOP_TYP;

use super::invalid_dpop;
use super::proof::{
    Proof, ProofFault, ReplayScope, first_use, iat_is_fresh, jti_is_well_formed, remember_until,
};
use crate::error::{DeviceCode, Error, Result};
use crate::state::AppState;
use crate::store::Device;

/// A DPoP proof whose signature, method, URL, time and `jti` were checked. Only [`verify_dpop`]
/// makes one. Its `jti` is not remembered yet: nothing is written for a caller until it is known
/// to be an enrolled device or to hold an enrollment code that exists ([`DeviceProof::use_once`]).
#[derive(Debug, Clone)]
pub struct DeviceProof {
    /// The proof's public key.
    pub jwk: Jwk,
    /// Its RFC 7638 thumbprint.
    pub jkt: String,
    jti: String,
    /// Until when the `jti` must be remembered.
    remember_until: i64,
    /// When it was checked.
    now: i64,
}

impl DeviceProof {
    /// Records the proof's `jti` in the replay cache shared by every instance: a proof works once.
    pub(super) async fn use_once(&self, state: &AppState) -> Result<()> {
        let (jkt, jti, until) = (&self.jkt, &self.jti, self.remember_until);
        if first_use(state, ReplayScope::Dpop, jkt, jti, until, self.now).await? {
            Ok(())
        } else {
            Err(invalid_dpop("the DPoP proof was already used"))
        }
    }
}

/// An enrolled, active device that proved possession of its key for this request. Only
/// [`authenticate_device`] makes one, so a device operation cannot run for a caller nobody
/// authenticated.
#[derive(Debug, Clone)]
pub struct AuthenticatedDevice {
    device: Device,
}

impl std::ops::Deref for AuthenticatedDevice {
    type Target = Device;
    fn deref(&self) -> &Device {
        &self.device
    }
}

fn dpop_fault(fault: ProofFault) -> Error {
    invalid_dpop(match fault {
        ProofFault::TooLarge => "the DPoP proof is too large",
        ProofFault::NotJws => "the DPoP proof is not a compact JWS",
        ProofFault::Header => "the DPoP proof must have typ dpop+jwt and alg ES256",
        ProofFault::NoJwk => "the DPoP proof has no jwk",
        ProofFault::NotP256 => "the DPoP key must be a public P-256 key",
        ProofFault::Signature => "the DPoP signature does not verify",
        ProofFault::Claims => "the DPoP claims are malformed",
    })
}

/// Verifies the DPoP proof of a device request (RFC 9449 §4.3, DEVICE-PROTOCOL.md §2):
/// signature by the header's key, `typ`, `alg`, `htm`, `htu`, `iat` within ±60 s, a well-formed
/// `jti`. `method` and `path` are the request's. Reads and writes nothing: whether the `jti` was
/// seen before is asked once the caller is known ([`DeviceProof::use_once`]).
pub fn verify_dpop(state: &AppState, method: &str, path: &str, proof: &str) -> Result<DeviceProof> {
    let proof = Proof::open(proof, 8192, Some(DPOP_TYP)).map_err(dpop_fault)?;
    let jwk = proof.embedded_key().map_err(dpop_fault)?;
    let claims: DpopClaims = proof.verified_claims(&jwk).map_err(dpop_fault)?;
    if claims.htm != method {
        return Err(invalid_dpop("htm does not match the request method"));
    }
    if !same_url(&claims.htu, &format!("{}{path}", state.issuer)) {
        return Err(invalid_dpop("htu does not match the request URL"));
    }
    let now = state.now();
    if !iat_is_fresh(claims.iat, now) {
        return Err(invalid_dpop("iat is too far from the server clock"));
    }
    if !jti_is_well_formed(&claims.jti) {
        return Err(invalid_dpop("jti must carry at least 96 bits"));
    }
    let jkt = jwk
        .thumbprint()
        .map_err(|_| invalid_dpop("the DPoP key has no thumbprint"))?;
    Ok(DeviceProof {
        jwk,
        jkt,
        remember_until: remember_until(claims.iat, now),
        jti: claims.jti,
        now,
    })
}

/// Verifies the DPoP proof and finds the enrolled, active device that owns its key.
pub async fn authenticate_device(
    state: &AppState,
    method: &str,
    path: &str,
    proof: &str,
) -> Result<AuthenticatedDevice> {
    let proof = verify_dpop(state, method, path, proof)?;
    let device = enrolled_device(state, &proof).await?;
    if !device.is_active() {
        return Err(Error::device(
            DeviceCode::DeviceRevoked,
            "this device was revoked",
        ));
    }
    proof.use_once(state).await?;
    let now = state.now();
    if device.last_seen_at.is_none_or(|seen| now - seen >= 60)
        && let Err(e) = state.store.device_seen(&device.id, now).await
    {
        // A note for the console; the call itself goes on.
        tracing::warn!(error = %e, device = %device.id, "could not record when a device was seen");
    }
    Ok(AuthenticatedDevice { device })
}

/// The device (active or revoked) that owns the proof's key.
pub(super) async fn enrolled_device(state: &AppState, proof: &DeviceProof) -> Result<Device> {
    state
        .store
        .device_by_jkt(&proof.jkt)
        .await?
        .ok_or_else(|| Error::device(DeviceCode::UnknownDevice, "no enrolled device has this key"))
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
