//! `EnrollmentUri::parse`: what the authenticator SDK reads from a scanned QR code or app link.
#![no_main]

use ciba_core::protocol::EnrollmentUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = EnrollmentUri::parse(text) else {
        return;
    };
    assert!(!uri.issuer.is_empty() && !uri.code.is_empty());
    // Formatting a parsed URI gives a URI that parses to the same issuer and code.
    let formatted = uri.to_uri_string();
    match EnrollmentUri::parse(&formatted) {
        Ok(again) => assert_eq!(again, uri, "{formatted}"),
        Err(e) => panic!("{formatted:?} (from {uri:?}) does not parse: {e}"),
    }
});
