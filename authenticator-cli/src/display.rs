//! How transactions look in a terminal. Everything the server sends is shown with control
//! characters replaced, so a hostile binding message cannot rewrite the screen.

use std::fmt::Write as _;

use ciba_core::authenticator::{Account, Transaction};
use ciba_core::protocol::TransactionStatus;

/// Replaces control characters (escape sequences, newlines) with U+FFFD.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian, days-from-civil inverted).
pub fn utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Seconds until `expires_at`, never negative.
pub fn seconds_left(expires_at: i64, now: i64) -> i64 {
    (expires_at - now).max(0)
}

/// One line per transaction: id, client, binding message, scopes, seconds left.
pub fn summary_line(txn: &Transaction, now: i64) -> String {
    let view = &txn.view;
    let binding = view
        .binding_message
        .as_deref()
        .map_or_else(|| "-".to_owned(), |m| format!("\"{}\"", clean(m)));
    format!(
        "{}  {}  {}  [{}]  {}s left",
        clean(&view.id),
        clean(&view.client.name),
        binding,
        clean(&view.scope.join(" ")),
        seconds_left(view.expires_at, now)
    )
}

fn status_name(status: TransactionStatus) -> &'static str {
    match status {
        TransactionStatus::Pending => "pending",
        TransactionStatus::Approved => "approved",
        TransactionStatus::Denied => "denied",
        TransactionStatus::Expired => "expired",
        TransactionStatus::Cancelled => "cancelled",
    }
}

/// Everything the user must see before deciding, ending with the consent string the decision
/// signs over.
pub fn details(txn: &Transaction, account: Option<&Account>, now: i64) -> String {
    let view = &txn.view;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "{label:<22}{value}");
    };
    line(
        "Request",
        format!("{} ({})", clean(&view.id), status_name(view.status)),
    );
    if let Some(account) = account {
        let user = account
            .user_display_name
            .as_deref()
            .unwrap_or(&account.subject);
        line(
            "Account",
            format!("{} — {}", clean(&account.account_label), clean(user)),
        );
    }
    line(
        "Client",
        format!(
            "{} ({})",
            clean(&view.client.name),
            clean(&view.client.client_id)
        ),
    );
    line("Scopes", clean(&view.scope.join(" ")));
    line(
        "Binding message",
        view.binding_message
            .as_deref()
            .map_or_else(|| "(none)".to_owned(), clean),
    );
    if !view.acr_values.is_empty() {
        line("ACR values", clean(&view.acr_values.join(" ")));
    }
    if view.user_code_required {
        line("User code", "required".to_owned());
    }
    line(
        "Requested",
        format!(
            "{} ({}s ago)",
            utc(view.requested_at),
            (now - view.requested_at).max(0)
        ),
    );
    line(
        "Expires",
        format!(
            "{} (in {}s)",
            utc(view.expires_at),
            seconds_left(view.expires_at, now)
        ),
    );
    match &view.authorization_details {
        None => line("Authorization details", "(none)".to_owned()),
        Some(details) => {
            let pretty = serde_json::to_string_pretty(details)
                .unwrap_or_else(|e| format!("(cannot display: {e})"));
            let _ = writeln!(out, "Authorization details:");
            for l in pretty.lines() {
                let _ = writeln!(out, "  {}", clean(l));
            }
        }
    }
    let _ = writeln!(out, "Consent string (what a decision signs over):");
    match view.consent_string() {
        Ok(consent) => {
            for l in consent.split('\n') {
                let _ = writeln!(out, "  | {}", clean(l));
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (cannot be computed: {e})");
        }
    }
    out
}

/// What the server verified about an account's device, for people: "verified (amr hwk)",
/// "unverified: key_mismatch (amr swk)", "none (amr swk)", or "not reported" (a v1 server).
pub fn attestation_line(attestation: Option<&ciba_core::protocol::EnrolledAttestation>) -> String {
    match attestation {
        None => "not reported by the server".to_owned(),
        Some(a) => {
            let reason = a
                .reason
                .as_deref()
                .map(|r| format!(": {}", clean(r)))
                .unwrap_or_default();
            format!(
                "{}{reason} (amr {})",
                clean(&a.status),
                clean(&a.amr.join(" "))
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_neutralised() {
        assert_eq!(clean("ok\u{1b}[2Jx\ny"), "ok\u{fffd}[2Jx\u{fffd}y");
        assert_eq!(seconds_left(10, 20), 0);
    }

    #[test]
    fn unix_times_read_as_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_083_200), "2026-12-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_709_251_199), "2024-02-29 23:59:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn attestation_states_read_as_words() {
        use ciba_core::protocol::EnrolledAttestation;
        assert_eq!(attestation_line(None), "not reported by the server");
        let verified = EnrolledAttestation {
            status: "verified".into(),
            amr: vec!["hwk".into(), "user".into(), "mfa".into()],
            reason: None,
        };
        assert_eq!(
            attestation_line(Some(&verified)),
            "verified (amr hwk user mfa)"
        );
        let unverified = EnrolledAttestation {
            status: "unverified".into(),
            amr: vec!["swk".into()],
            reason: Some("key_mismatch\u{1b}".into()),
        };
        assert_eq!(
            attestation_line(Some(&unverified)),
            "unverified: key_mismatch\u{fffd} (amr swk)"
        );
    }
}
