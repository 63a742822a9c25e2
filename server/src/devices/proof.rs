//! The one verifier of the signed proofs devices send — DPoP proofs (§2), key-rotation proofs
//! (§7) and decisions (§6): ES256 compact JWS, a bounded size, the expected header, the key (in
//! the header, or the device's enrolled key), the signature, the claims; then the shared time
//! and `jti` rules and the replay cache. Each caller keeps its own order of checks between these
//! steps and its own wording of failures ([`ProofFault`] says which step failed).

use ciba_core::jose::{CompactJws, Jwk};
use ciba_core::protocol::{DPOP_IAT_TOLERANCE_SECS, DPOP_REPLAY_WINDOW_SECS};
use serde::de::DeserializeOwned;

use crate::crypto::verify_es256;
use crate::error::Result;
use crate::state::AppState;

/// Which step of opening a proof failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ProofFault {
    /// Longer than the caller allows.
    TooLarge,
    /// Not a compact JWS.
    NotJws,
    /// Not `alg: ES256`, or not the expected `typ`.
    Header,
    /// No `jwk` in the header (proofs that carry their key).
    NoJwk,
    /// The header's key is not a public P-256 key.
    NotP256,
    /// The signature does not verify with the key.
    Signature,
    /// The claims do not parse.
    Claims,
}

/// A parsed proof whose header is as expected; its signature is not checked yet.
pub(super) struct Proof {
    jws: CompactJws,
}

impl Proof {
    /// Parses `token` (at most `max_len` bytes) and checks `alg: ES256` and, when given, `typ`.
    pub(super) fn open(
        token: &str,
        max_len: usize,
        typ: Option<&str>,
    ) -> std::result::Result<Self, ProofFault> {
        if token.len() > max_len {
            return Err(ProofFault::TooLarge);
        }
        let jws = CompactJws::parse(token).map_err(|_| ProofFault::NotJws)?;
        if jws.header.alg != "ES256" || typ.is_some_and(|t| jws.header.typ.as_deref() != Some(t)) {
            return Err(ProofFault::Header);
        }
        Ok(Self { jws })
    }

    /// The header's `kid`.
    pub(super) fn kid(&self) -> Option<&str> {
        self.jws.header.kid.as_deref()
    }

    /// The public P-256 key the header carries (DPoP and rotation proofs sign with it).
    pub(super) fn embedded_key(&self) -> std::result::Result<Jwk, ProofFault> {
        let jwk = self.jws.header.jwk.clone().ok_or(ProofFault::NoJwk)?;
        jwk.check_public_p256().map_err(|_| ProofFault::NotP256)?;
        Ok(jwk)
    }

    /// The claims, once the signature verifies with `key`.
    pub(super) fn verified_claims<C: DeserializeOwned>(
        &self,
        key: &Jwk,
    ) -> std::result::Result<C, ProofFault> {
        if !verify_es256(key, self.jws.signing_input.as_bytes(), &self.jws.signature) {
            return Err(ProofFault::Signature);
        }
        self.jws.claims().map_err(|_| ProofFault::Claims)
    }
}

/// `iat` within the allowed clock skew of `now`, either side (±60 s).
pub(super) fn iat_is_fresh(iat: i64, now: i64) -> bool {
    iat.abs_diff(now) <= DPOP_IAT_TOLERANCE_SECS.unsigned_abs()
}

/// Until when a fresh proof's `jti` must be remembered: as long as the proof itself would be
/// accepted — `iat` + the skew, the far edge included (an entry expires when `now` reaches it) —
/// and at least the protocol's 120 s from now.
pub(super) fn remember_until(iat: i64, now: i64) -> i64 {
    now.saturating_add(DPOP_REPLAY_WINDOW_SECS)
        .max(iat.saturating_add(DPOP_IAT_TOLERANCE_SECS + 1))
}

/// A `jti` of at least 96 bits (16 b64u characters), and not absurdly long.
pub(super) fn jti_is_well_formed(jti: &str) -> bool {
    (16..=256).contains(&jti.len())
}

/// What a remembered `jti` is scoped to: proofs of different kinds never collide.
#[derive(Debug, Clone, Copy)]
pub(super) enum ReplayScope {
    /// DPoP proofs, per key thumbprint.
    Dpop,
    /// Key-rotation proofs, per new key thumbprint.
    Rotation,
    /// Decisions, per device.
    Decision,
}

impl ReplayScope {
    fn prefix(self) -> &'static str {
        match self {
            Self::Dpop => "dpop",
            Self::Rotation => "rotation",
            Self::Decision => "decision",
        }
    }
}

/// Records the first use of `jti` by `owner` in `scope` until `until`, on every instance
/// ([`crate::store::remember_first_use`]): false when it was already used.
pub(super) async fn first_use(
    state: &AppState,
    scope: ReplayScope,
    owner: &str,
    jti: &str,
    until: i64,
    now: i64,
) -> Result<bool> {
    let store = state.store.as_ref();
    Ok(crate::store::remember_first_use(store, scope.prefix(), owner, jti, until, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_jti_rules() {
        assert!(iat_is_fresh(1060, 1000));
        assert!(iat_is_fresh(940, 1000));
        assert!(!iat_is_fresh(1061, 1000));
        assert!(!iat_is_fresh(939, 1000));
        // Extreme values neither overflow nor pass.
        assert!(!iat_is_fresh(i64::MIN + 1000, 1000));
        assert!(!iat_is_fresh(i64::MAX, 1000));
        assert_eq!(remember_until(i64::MAX, 1000), i64::MAX);
        assert!(jti_is_well_formed(&"a".repeat(16)));
        assert!(!jti_is_well_formed(&"a".repeat(15)));
        assert!(!jti_is_well_formed(&"a".repeat(257)));
    }

    #[test]
    fn a_jti_is_remembered_as_long_as_its_proof_is_accepted() {
        // A proof dated 60 s ahead is accepted until iat + 60 = now + 120, that second included.
        let now = 1000;
        let until = remember_until(now + 60, now);
        assert!(iat_is_fresh(now + 60, now + 120));
        assert!(until > now + 120, "{until}");
        assert_eq!(remember_until(now, now), now + 120);
        assert_eq!(remember_until(now - 60, now), now + 120);
    }

    #[test]
    fn opening_refuses_by_step() {
        assert_eq!(
            Proof::open(&"a".repeat(20), 10, None).err(),
            Some(ProofFault::TooLarge)
        );
        assert_eq!(
            Proof::open("not-a-jws", 100, None).err(),
            Some(ProofFault::NotJws)
        );
    }
}
