//! Certificate chains up to trusted keys, at the injected clock.
//!
//! Attestation chains are not web PKI: Google's guidance is to trust the root *key* (its four RSA
//! root certificates share one key, and the 2016 certificate expired in May 2026 while the key
//! did not), and a real OEM chain (Sony, in the test samples) has an intermediate marked
//! `CA:FALSE` that Google's own verifier accepts. So the rule here is: every certificate is
//! signed by the next one, every certificate is valid now, and the last one either carries a
//! trusted key (one of whose anchor certificates is valid now) or is signed by one. Extension
//! rules specific to a format (Android's attested keys that sign other certificates) are the
//! format's business.

use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use super::Refusal;

/// The most certificates we read in one chain (Android's attest-key chains have 7).
const MAX_CERTS: usize = 10;

/// Signature algorithms we refuse even when the signature verifies (SHA-1).
const WEAK_SIGNATURES: [&str; 3] = [
    "1.2.840.113549.1.1.5", // sha1WithRSAEncryption
    "1.3.14.3.2.29",        // sha1WithRSA (OIW)
    "1.2.840.10045.4.1",    // ecdsa-with-SHA1
];

/// Trusted keys, each with the certificate(s) that carry it.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    certs: Vec<Vec<u8>>,
}

impl Anchors {
    /// Every certificate of a PEM bundle. An empty or unreadable bundle is an error: a
    /// configured root set that trusts nothing is a mistake, not a policy.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let mut certs = Vec::new();
        for pem in x509_parser::pem::Pem::iter_from_buffer(text.as_bytes()) {
            let pem = pem.map_err(|e| format!("unreadable PEM: {e}"))?;
            if pem.label != "CERTIFICATE" {
                continue;
            }
            X509Certificate::from_der(&pem.contents)
                .map_err(|e| format!("unreadable certificate in the PEM bundle: {e}"))?;
            certs.push(pem.contents);
        }
        if certs.is_empty() {
            return Err("the PEM bundle holds no certificate".into());
        }
        Ok(Self { certs })
    }

    fn parsed(&self) -> impl Iterator<Item = X509Certificate<'_>> {
        self.certs
            .iter()
            .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
    }

    pub fn len(&self) -> usize {
        self.certs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// Whether `spki` is a trusted key (one of `anchors`), and then whether an anchor certificate
/// with it is valid at `now`.
fn trusts_key(anchors: &[X509Certificate<'_>], spki: &[u8], now: i64) -> Option<bool> {
    let mut with_key = anchors
        .iter()
        .filter(|a| a.public_key().raw == spki)
        .peekable();
    with_key.peek()?;
    Some(with_key.any(|a| valid_at(a, now)))
}

fn valid_at(cert: &X509Certificate<'_>, now: i64) -> bool {
    let validity = cert.validity();
    validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp()
}

/// Splits concatenated DER certificates (what Android's `getCertificateChain` encodes to, one
/// after the other) and parses each.
pub fn parse_concatenated(bytes: &[u8]) -> Result<Vec<X509Certificate<'_>>, Refusal> {
    let mut rest = bytes;
    let mut certs = Vec::new();
    while !rest.is_empty() {
        if certs.len() == MAX_CERTS {
            return Err(Refusal::Malformed(format!(
                "more than {MAX_CERTS} certificates"
            )));
        }
        let (tail, cert) = X509Certificate::from_der(rest).map_err(|_| {
            Refusal::Malformed(format!("certificate {} is not DER X.509", certs.len()))
        })?;
        certs.push(cert);
        rest = tail;
    }
    if certs.is_empty() {
        return Err(Refusal::Malformed("no certificate".into()));
    }
    Ok(certs)
}

/// Parses each DER certificate of a list (App Attest's `x5c`).
pub fn parse_list<'a>(ders: &[&'a [u8]]) -> Result<Vec<X509Certificate<'a>>, Refusal> {
    if ders.is_empty() || ders.len() > MAX_CERTS {
        return Err(Refusal::Malformed(
            "x5c must hold 1 to 10 certificates".into(),
        ));
    }
    ders.iter()
        .enumerate()
        .map(|(i, der)| match X509Certificate::from_der(der) {
            Ok(([], cert)) => Ok(cert),
            _ => Err(Refusal::Malformed(format!(
                "certificate {i} is not DER X.509"
            ))),
        })
        .collect()
}

fn signed_by(cert: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> bool {
    let alg = cert.signature_algorithm.algorithm.to_id_string();
    !WEAK_SIGNATURES.contains(&alg.as_str())
        && cert.verify_signature(Some(issuer.public_key())).is_ok()
}

/// Checks `chain` (leaf first) at `now` against `anchors`.
pub fn verify(chain: &[X509Certificate<'_>], anchors: &Anchors, now: i64) -> Result<(), Refusal> {
    let Some(last) = chain.last() else {
        return Err(Refusal::Malformed("no certificate".into()));
    };
    for (i, pair) in chain.windows(2).enumerate() {
        if !signed_by(&pair[0], &pair[1]) {
            return Err(Refusal::UntrustedChain(format!(
                "certificate {i} is not signed by certificate {}",
                i + 1
            )));
        }
    }
    let last_index = chain.len() - 1;
    // The last certificate is a trusted key itself, or is signed by one.
    // The anchors are parsed once per chain (they are kept as DER: parsed certificates borrow).
    let anchors: Vec<X509Certificate<'_>> = anchors.parsed().collect();
    let anchored = match trusts_key(&anchors, last.public_key().raw, now) {
        // A certificate carrying a trusted key counts as the root only if it is one: signed by
        // that key itself, above at least one other certificate. Otherwise anyone could write a
        // certificate with the root's public key and extensions of their choosing.
        Some(true) if chain.len() == 1 || !signed_by(last, last) => {
            return Err(Refusal::UntrustedChain(
                "the certificate with the trusted key is not a root above the leaf".into(),
            ));
        }
        Some(true) => true,
        Some(false) => {
            return Err(Refusal::Expired(
                "no certificate of the trusted root key is valid now".into(),
            ));
        }
        None => {
            let mut by = None;
            for anchor in &anchors {
                if signed_by(last, anchor) {
                    by = Some(valid_at(anchor, now));
                    if by == Some(true) {
                        break;
                    }
                }
            }
            match by {
                Some(true) => false,
                Some(false) => {
                    return Err(Refusal::Expired("the trusted root is not valid now".into()));
                }
                None => {
                    return Err(Refusal::UntrustedChain(
                        "the chain does not end at a trusted root".into(),
                    ));
                }
            }
        }
    };
    for (i, cert) in chain.iter().enumerate() {
        // A trusted root certificate's own dates do not matter: its key is what is trusted.
        if anchored && i == last_index {
            continue;
        }
        if !valid_at(cert, now) {
            return Err(Refusal::Expired(format!(
                "certificate {i} is not valid at this time"
            )));
        }
    }
    Ok(())
}

/// The certificate's serial number as lowercase hex without leading zeros (the form of Google's
/// attestation status list).
pub fn serial_hex(cert: &X509Certificate<'_>) -> String {
    let hex: String = cert
        .raw_serial()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    normalise_serial(&hex)
}

pub fn normalise_serial(hex: &str) -> String {
    let trimmed = hex.trim().trim_start_matches('0').to_ascii_lowercase();
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed
    }
}
