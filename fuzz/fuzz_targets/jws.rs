//! `CompactJws::parse` and what the server reads out of a JWS before verifying it: DPoP proofs
//! (the `DPoP` header of every device call), decisions and new-key proofs (device bodies), and
//! the header's `jwk` (thumbprint, P-256 checks).
#![no_main]

use ciba_core::jose::{CompactJws, DpopClaims, Jwk};
use ciba_core::protocol::{DecisionClaims, NewKeyProofClaims};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(jws) = CompactJws::parse(text) else {
        return;
    };
    // The signature covers the first two parts exactly as sent.
    let dots: Vec<&str> = text.split('.').collect();
    assert_eq!(jws.signing_input, format!("{}.{}", dots[0], dots[1]));
    let _ = jws.claims::<DpopClaims>();
    let _ = jws.claims::<DecisionClaims>();
    let _ = jws.claims::<NewKeyProofClaims>();
    if let Some(jwk) = &jws.header.jwk {
        let thumbprint = jwk.thumbprint();
        let checked = jwk.check_public_p256();
        let point = jwk.p256_uncompressed();
        assert_eq!(checked.is_ok(), point.is_ok());
        if let Ok(point) = point {
            assert_eq!(point.len(), 65);
            // One key, one thumbprint: the key rebuilt from its point has the thumbprint of the
            // JWK it came from (no second encoding of the same key gets another jkt).
            let rebuilt = Jwk::p256_from_uncompressed(&point).expect("a 65-byte 04 point");
            rebuilt
                .check_public_p256()
                .expect("rebuilt key is a public P-256 key");
            assert_eq!(rebuilt.thumbprint().ok(), thumbprint.ok());
        }
    }
});
