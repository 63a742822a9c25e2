//! The consent string: what the user saw, in a canonical form the decision signs over.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::ProtocolError;

/// The first line of every v1 consent string.
pub const CONSENT_VERSION_LINE: &str = "ciba-consent-v1";

/// Builds the consent string (DEVICE-PROTOCOL.md §6): the lines
///
/// ```text
/// ciba-consent-v1
/// <client_id>
/// <scope values sorted by byte value and joined with one space>
/// <binding_message, or empty when none>
/// <RFC 8785 (JCS) serialisation of authorization_details, or empty when none>
/// ```
///
/// joined with `\n`, without a trailing newline. The server recomputes it from its own record,
/// so a device that displayed something else cannot produce a valid approval.
pub fn consent_string(
    client_id: &str,
    scope: &[String],
    binding_message: Option<&str>,
    authorization_details: Option<&[serde_json::Value]>,
) -> Result<String, ProtocolError> {
    let mut sorted: Vec<&str> = scope.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let details = match authorization_details {
        Some(details) => serde_json_canonicalizer::to_string(&details)
            .map_err(|e| ProtocolError::InvalidAuthorizationDetails(e.to_string()))?,
        None => String::new(),
    };
    Ok([
        CONSENT_VERSION_LINE,
        client_id,
        &sorted.join(" "),
        binding_message.unwrap_or(""),
        &details,
    ]
    .join("\n"))
}

/// `b64u(SHA-256(consent string))`, the `consent_hash` claim of a decision.
pub fn consent_hash(
    client_id: &str,
    scope: &[String],
    binding_message: Option<&str>,
    authorization_details: Option<&[serde_json::Value]>,
) -> Result<String, ProtocolError> {
    let text = consent_string(client_id, scope, binding_message, authorization_details)?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(text.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn consent_string_layout() {
        let details = vec![
            json!({"type":"payment_initiation","instructedAmount":{"currency":"EUR","amount":"123.50"},"creditorName":"Merchant A"}),
        ];
        let text = consent_string(
            "client-1",
            &s(&["openid", "accounts", "Zeta"]),
            Some("W4-7QX"),
            Some(&details),
        )
        .unwrap();
        assert_eq!(
            text,
            "ciba-consent-v1\nclient-1\nZeta accounts openid\nW4-7QX\n\
             [{\"creditorName\":\"Merchant A\",\"instructedAmount\":{\"amount\":\"123.50\",\"currency\":\"EUR\"},\"type\":\"payment_initiation\"}]"
        );
    }

    #[test]
    fn consent_string_without_optional_parts_keeps_empty_lines() {
        let text = consent_string("c", &s(&["openid"]), None, None).unwrap();
        assert_eq!(text, "ciba-consent-v1\nc\nopenid\n\n");
        assert!(!text.ends_with("\n\n\n"));
    }

    #[test]
    fn scope_order_does_not_change_the_hash_but_content_does() {
        let a = consent_hash("c", &s(&["openid", "accounts"]), Some("m"), None).unwrap();
        let b = consent_hash("c", &s(&["accounts", "openid"]), Some("m"), None).unwrap();
        let c = consent_hash("c", &s(&["accounts", "openid"]), Some("n"), None).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 43);
    }

    #[test]
    fn jcs_orders_keys_and_normalises_numbers() {
        // RFC 8785: keys sorted by UTF-16 code units, numbers in ECMAScript form.
        let details = vec![json!({"b": 1.0, "a": 1e21, "\u{20ac}": "x", "c": [3, "y"]})];
        let text = consent_string("c", &s(&["openid"]), None, Some(&details)).unwrap();
        assert!(
            text.ends_with(r#"[{"a":1e+21,"b":1,"c":[3,"y"],"€":"x"}]"#),
            "{text}"
        );
    }

    #[test]
    fn known_answer() {
        // SHA-256 of "ciba-consent-v1\nc\nopenid\n\n", computed independently (sha256sum).
        let hash = consent_hash("c", &s(&["openid"]), None, None).unwrap();
        assert_eq!(hash, KNOWN_HASH);
    }
    const KNOWN_HASH: &str = "4Q678Y6NPiBdlfILi3P57dUNEqPShfC5xVas_BTlNSg";
}
