//! What a client registers or serves as its keys and certificate name: `jwks::parse_jwks` (a JWK
//! Set by value, or fetched from a `jwks_uri`), `jwks::parse_registered_jwks`,
//! `jwks::certificate_key_is_one_of` (a client certificate against those keys, the bytes taken
//! as DER), `clients::parse_dn` (a registered `tls_client_auth_subject_dn`).
#![no_main]

use ciba_server::clients::parse_dn;
use ciba_server::jwks::{certificate_key_is_one_of, parse_jwks, parse_registered_jwks};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Garbage DER never matches (there are no keys to match, and none from garbage JSON).
    assert!(!certificate_key_is_one_of(&[], data));
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(dn) = parse_dn(text) {
        // Every attribute has a type; the types are upper case.
        assert!(dn.iter().all(|(t, _)| !t.is_empty() && *t == t.to_ascii_uppercase()));
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    if let Ok(set) = parse_jwks(&value) {
        // At most 20 keys are kept or skipped; a registered set is all-usable, never empty.
        assert!(set.keys.len() + set.skipped.len() <= 20);
        if let Ok(keys) = parse_registered_jwks(&value) {
            assert!(!keys.is_empty());
            assert_eq!(keys.len(), set.keys.len());
            assert!(set.skipped.is_empty());
        }
        let _ = certificate_key_is_one_of(&set.keys, data);
    } else {
        assert!(parse_registered_jwks(&value).is_err());
    }
});
