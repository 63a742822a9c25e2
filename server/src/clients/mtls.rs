//! Client certificates (RFC 8705): `tls_client_auth` (a configured CA issued the certificate, and
//! it carries the registered name) and `self_signed_tls_client_auth` (its key is registered), and
//! the thumbprint that binds access tokens to the certificate (`cnf.x5t#S256`).

use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::store::TlsClientName;

/// `x5t#S256`: b64u(SHA-256(the leaf certificate's DER)).
pub fn certificate_thumbprint(leaf: &[u8]) -> String {
    ciba_core::jose::b64u_encode(&Sha256::digest(leaf))
}

/// Whether the leaf certificate carries `name`.
pub fn certificate_has_name(leaf: &[u8], name: &TlsClientName) -> Result<bool, String> {
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|_| "the client certificate cannot be parsed".to_owned())?;
    if let TlsClientName::SubjectDn(registered) = name {
        let Some(registered) = parse_dn(registered) else {
            return Ok(false);
        };
        let mut subject = certificate_dn(&cert);
        if subject == registered {
            return Ok(true);
        }
        // Written in the other order (openssl's `C=…, O=…, CN=…` rather than RFC 4514's).
        subject.reverse();
        return Ok(subject == registered);
    }
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Ok(false);
    };
    let names = &san.value.general_names;
    Ok(names.iter().any(|general| match (name, general) {
        (TlsClientName::SanDns(want), GeneralName::DNSName(have)) => {
            want.eq_ignore_ascii_case(have)
        }
        (TlsClientName::SanUri(want), GeneralName::URI(have)) => want == have,
        (TlsClientName::SanEmail(want), GeneralName::RFC822Name(have)) => {
            want.eq_ignore_ascii_case(have)
        }
        (TlsClientName::SanIp(want), GeneralName::IPAddress(bytes)) => {
            let have: Option<std::net::IpAddr> = match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(std::net::IpAddr::from),
                _ => None,
            };
            want.parse::<std::net::IpAddr>().ok() == have && have.is_some()
        }
        _ => false,
    }))
}

/// An attribute of a distinguished name: its type (upper-case short name, or the dotted OID)
/// and its value, compared case-insensitively with inner spaces collapsed.
type Attribute = (String, String);

fn normalise_value(value: &str) -> String {
    value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn normalise_type(t: &str) -> String {
    let upper = t.trim().to_ascii_uppercase();
    match upper.as_str() {
        "E" | "EMAIL" | "1.2.840.113549.1.9.1" => "EMAILADDRESS".into(),
        "S" | "2.5.4.8" => "ST".into(),
        "2.5.4.3" => "CN".into(),
        "2.5.4.6" => "C".into(),
        "2.5.4.7" => "L".into(),
        "2.5.4.10" => "O".into(),
        "2.5.4.11" => "OU".into(),
        "2.5.4.5" => "SERIALNUMBER".into(),
        "2.5.4.9" => "STREET".into(),
        "0.9.2342.19200300.100.1.25" => "DC".into(),
        "0.9.2342.19200300.100.1.1" => "UID".into(),
        _ => upper,
    }
}

/// The subject DN, attribute by attribute in certificate order (multi-valued RDNs flattened).
fn certificate_dn(cert: &X509Certificate<'_>) -> Vec<Attribute> {
    cert.subject()
        .iter()
        .flat_map(|rdn| rdn.iter())
        .map(|attr| {
            let value = attr.as_str().map(str::to_owned).unwrap_or_else(|_| {
                format!(
                    "#{}",
                    attr.as_slice()
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                )
            });
            (
                normalise_type(&attr.attr_type().to_id_string()),
                normalise_value(&value),
            )
        })
        .collect()
}

/// A registered DN (RFC 4514: `CN=Client,O=Bank\, Inc,C=DE`; `+` joins a multi-valued RDN)
/// as attributes in written order; `None` when it is not a DN.
pub fn parse_dn(text: &str) -> Option<Vec<Attribute>> {
    let mut attributes = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    let mut finish = |current: &mut String| -> Option<()> {
        let (t, v) = current.split_once('=')?;
        if t.trim().is_empty() {
            return None;
        }
        attributes.push((normalise_type(t), normalise_value(v)));
        current.clear();
        Some(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let next = chars.next()?;
                if next.is_ascii_hexdigit() {
                    let low = chars.next()?;
                    let byte = u8::from_str_radix(&format!("{next}{low}"), 16).ok()?;
                    current.push(char::from(byte));
                } else {
                    current.push(next);
                }
            }
            ',' | ';' | '+' => finish(&mut current)?,
            c => current.push(c),
        }
    }
    finish(&mut current)?;
    Some(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinguished_names() {
        let dn = parse_dn("CN=Branch Terminal 7,O=Bank\\, Inc.,C=DE").unwrap();
        assert_eq!(
            dn,
            vec![
                ("CN".into(), "branch terminal 7".into()),
                ("O".into(), "bank, inc.".into()),
                ("C".into(), "de".into())
            ]
        );
        assert_eq!(
            parse_dn("cn = x , o=y").unwrap(),
            parse_dn("CN=x,O=y").unwrap()
        );
        assert!(parse_dn("not a dn").is_none());
        assert!(parse_dn("=x").is_none());
    }
}
