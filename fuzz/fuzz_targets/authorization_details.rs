//! The backchannel authentication request's free-text parameters: `authorization_details`
//! (RFC 9396, then the consent string the phone and the server hash), `binding_message`,
//! `requested_expiry` and `acr_values`.
#![no_main]

use ciba_core::protocol::{consent_hash, consent_string};
use ciba_server::ciba::{
    parse_acr_values, validate_authorization_details, validate_binding_message,
    validate_requested_expiry,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let binding_message = validate_binding_message(text, 64).ok().map(|()| text);
    if let Ok(expiry) = validate_requested_expiry(text, 1800) {
        assert!((1..=1800).contains(&expiry));
    }
    let scope = match parse_acr_values(Some(text)) {
        Ok(values) => {
            assert!(values.len() <= 10);
            values
        }
        Err(_) => vec!["openid".to_owned()],
    };
    let Ok(Some(details)) = validate_authorization_details(text) else {
        return;
    };
    // Accepted details are hashed into the consent the user approves: that must work.
    let string = consent_string("client-1", &scope, binding_message, Some(&details))
        .expect("consent string of accepted authorization_details");
    assert!(string.starts_with("ciba-consent-v1\nclient-1\n"));
    let hash = consent_hash("client-1", &scope, binding_message, Some(&details))
        .expect("consent hash of accepted authorization_details");
    assert_eq!(hash.len(), 43);
    // The server stores the details as JSON text (`Value::Array(d).to_string()`, backchannel.rs)
    // and reads that text back to check the decision's consent_hash; the phone hashes what it
    // read from the transaction view, the same value serialised once more. Both must agree, or
    // an honest approval is refused.
    let reread = |details: &[serde_json::Value]| -> Vec<serde_json::Value> {
        let text = serde_json::Value::Array(details.to_vec()).to_string();
        serde_json::from_str(&text).expect("stored authorization_details parse back")
    };
    let server_side = reread(&details);
    let phone_side = reread(&server_side);
    let server_hash = consent_hash("client-1", &scope, binding_message, Some(&server_side))
        .expect("consent hash of the stored authorization_details");
    let phone_hash = consent_hash("client-1", &scope, binding_message, Some(&phone_side))
        .expect("consent hash of the details the phone read");
    assert_eq!(
        server_hash, phone_hash,
        "server {server_side:?}, phone {phone_side:?}"
    );
});
