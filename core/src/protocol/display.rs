//! What may be shown to the user as text: no control characters (C0, DEL, C1: ESC sequences,
//! BEL, NUL), no characters that change how the text around them renders (bidirectional
//! overrides and isolates, line and paragraph separators) and no invisible ones that can hide or
//! split words (zero-width space, word joiner, soft hyphen, annotation marks; the zero-width
//! joiners that scripts and emoji need stay allowed), so that what the user approves reads
//! exactly as what is signed. The server refuses such text at the backchannel endpoint; the SDK
//! refuses to show or sign a transaction that carries it anyway.

/// Whether `c` may appear in text shown to the user.
pub fn is_display_safe_char(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{061C}' // Arabic letter mark
                | '\u{200E}' | '\u{200F}' // left-to-right and right-to-left marks
                | '\u{202A}'..='\u{202E}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
                | '\u{2028}' | '\u{2029}' // line and paragraph separators
                | '\u{00AD}' | '\u{200B}' | '\u{2060}' | '\u{FEFF}' // invisible: soft hyphen, zero widths
                | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation (some renderers hide the text)
        ))
}

/// Whether every character of `text` may be shown.
pub fn is_display_safe(text: &str) -> bool {
    text.chars().all(is_display_safe_char)
}

/// Whether every string of a JSON value, keys included, may be shown.
pub fn json_is_display_safe(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => is_display_safe(s),
        serde_json::Value::Array(items) => items.iter().all(json_is_display_safe),
        serde_json::Value::Object(map) => map
            .iter()
            .all(|(k, v)| is_display_safe(k) && json_is_display_safe(v)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn controls_and_bidi_formatting_are_unsafe() {
        for bad in [
            "a\u{1b}[31m",
            "bell\u{7}",
            "nul\u{0}",
            "\u{202e}cba",
            "x\u{2066}y",
            "\u{85}",
            "a\u{200b}b",
            "\u{fff9}shown\u{fffa}hidden\u{fffb}",
            "soft\u{ad}hyphen",
        ] {
            assert!(!is_display_safe(bad), "{bad:?}");
        }
        for good in [
            "Pay 42,00 € to ACME",
            "Überweisung",
            "مرحبا",
            "日本語",
            "",
            "می\u{200c}خواهم",
            "👩\u{200d}💻",
        ] {
            assert!(is_display_safe(good), "{good:?}");
        }
    }

    #[test]
    fn every_string_of_a_json_value_is_checked() {
        assert!(json_is_display_safe(
            &json!([{"type": "payment", "amount": {"value": "10", "currency": "EUR"}}])
        ));
        assert!(!json_is_display_safe(
            &json!([{"type": "payment", "creditor": "\u{202e}EMCA"}])
        ));
        assert!(!json_is_display_safe(
            &json!([{"type": "x", "\u{1b}key": 1}])
        ));
        assert!(!json_is_display_safe(
            &json!([{"type": "x", "list": ["ok", "bad\u{7}"]}])
        ));
    }
}
