//! Pure validation rules of backchannel authentication requests (no I/O).

use crate::error::{Error, OAuthCode, Result};

pub use crate::clients::is_scope_token;

/// A binding message is shown on the phone and read aloud or compared by the user: short plain
/// text. Letters and digits of any script, spaces and common punctuation; no control or
/// formatting characters, no leading or trailing space, at most `max_chars` characters.
pub fn validate_binding_message(message: &str, max_chars: usize) -> Result<()> {
    let bad = |why: &str| Err(Error::oauth(OAuthCode::InvalidBindingMessage, why));
    let count = message.chars().count();
    if count == 0 || count > max_chars {
        return bad(&format!(
            "binding_message must be 1 to {max_chars} characters"
        ));
    }
    if message.trim() != message || message.contains("  ") {
        return bad("binding_message has leading, trailing or repeated spaces");
    }
    const PUNCTUATION: &str = " -_.,:;!?#()/'+@&%*=€$£¥";
    if !message
        .chars()
        .all(|c| c.is_alphanumeric() || PUNCTUATION.contains(c))
    {
        return bad(
            "binding_message may hold letters, digits, spaces and -_.,:;!?#()/'+@&%*= and currency signs only",
        );
    }
    Ok(())
}

/// `requested_expiry`: a positive integer (CIBA §7.1 allows a JSON number or a string; in a
/// form body it is a string). Capped at `max`.
pub fn validate_requested_expiry(raw: &str, max: i64) -> Result<i64> {
    let bad =
        || Error::invalid_request("requested_expiry must be a positive integer number of seconds");
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let value: i64 = raw.parse().map_err(|_| bad())?;
    if value <= 0 {
        return Err(bad());
    }
    Ok(value.min(max))
}

/// RFC 9396 `authorization_details`: a JSON array of objects, each with a string `type`.
/// An empty array means nothing was requested.
pub fn validate_authorization_details(raw: &str) -> Result<Option<Vec<serde_json::Value>>> {
    let bad = |why: &str| Err(Error::oauth(OAuthCode::InvalidAuthorizationDetails, why));
    if raw.len() > 16 * 1024 {
        return bad("authorization_details is larger than 16 KiB");
    }
    let value: serde_json::Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(_) => return bad("authorization_details is not valid JSON"),
    };
    let Some(items) = value.as_array() else {
        return bad("authorization_details must be a JSON array");
    };
    for item in items {
        let ok = item
            .get("type")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|t| !t.is_empty());
        if !item.is_object() || !ok {
            return bad("every authorization_details entry must be an object with a string type");
        }
        // Shown on the phone: text that renders other than it reads (ESC sequences, NUL,
        // bidirectional overrides) would let the approved text differ from what is signed.
        if !ciba_core::protocol::json_is_display_safe(item) {
            return bad(
                "authorization_details holds control or bidirectional formatting characters",
            );
        }
    }
    Ok(if items.is_empty() {
        None
    } else {
        Some(items.clone())
    })
}

/// `acr_values`: space-separated, at most 10 values of at most 128 printable characters.
pub fn parse_acr_values(raw: Option<&str>) -> Result<Vec<String>> {
    let values: Vec<String> = raw
        .unwrap_or("")
        .split(' ')
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect();
    if values.len() > 10
        || values
            .iter()
            .any(|v| v.len() > 128 || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)))
    {
        return Err(Error::invalid_request(
            "acr_values must be at most 10 printable values",
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binding_messages() {
        for ok in [
            "W4-7QX",
            "Pay 12.50 EUR to Shop #4",
            "Überweisung 10€",
            "Paiement numéro 42",
        ] {
            assert!(validate_binding_message(ok, 64).is_ok(), "{ok}");
        }
        for bad in [
            "",
            " lead",
            "trail ",
            "two  spaces",
            "new\nline",
            "<script>",
            "tab\t",
            "a\u{202e}b",
            "bell\u{7}",
            "esc\u{1b}",
            &"x".repeat(65),
        ] {
            let e = validate_binding_message(bad, 64).unwrap_err();
            assert_eq!(e.code(), "invalid_binding_message", "{bad:?}");
        }
    }

    #[test]
    fn requested_expiry_as_string_number() {
        assert_eq!(validate_requested_expiry("120", 600).unwrap(), 120);
        assert_eq!(validate_requested_expiry("9999", 600).unwrap(), 600);
        for bad in ["0", "-5", "1.5", "abc", "", "+3", "99999999999999"] {
            assert!(validate_requested_expiry(bad, 600).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorization_details_shapes() {
        assert_eq!(validate_authorization_details("[]").unwrap(), None);
        assert_eq!(
            validate_authorization_details(r#"[{"type":"payment_initiation","amount":"1"}]"#)
                .unwrap()
                .unwrap()
                .len(),
            1
        );
        for bad in [
            "{}",
            "[1]",
            r#"[{"amount":1}]"#,
            r#"[{"type":""}]"#,
            "not json",
            r#"[{"type":"payment","creditor":"\u202eEMCA"}]"#,
            r#"[{"type":"payment","note":"\u001b[31mred"}]"#,
            r#"[{"type":"payment","items":["ok","\u0000"]}]"#,
        ] {
            assert_eq!(
                validate_authorization_details(bad).unwrap_err().code(),
                "invalid_authorization_details",
                "{bad}"
            );
        }
    }
}
