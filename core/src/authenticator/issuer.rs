//! Which issuers the SDK will talk to, and how device-API URLs are formed from them.

use std::net::IpAddr;

use url::{Host, Url};

use super::AuthenticatorError;

/// Checks that `issuer` is an https URL — or plain http on a loopback host (`localhost`,
/// `127.0.0.0/8`, `::1`), which is what a development server on the same machine uses.
/// An issuer with a query, a fragment or credentials is refused as malformed (OpenID Connect
/// issuers have none).
pub fn check_issuer(issuer: &str) -> Result<(), AuthenticatorError> {
    let url = Url::parse(issuer)
        .map_err(|e| AuthenticatorError::InvalidInput(format!("issuer {issuer:?}: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(AuthenticatorError::InvalidInput(format!(
            "issuer {issuer:?} has a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AuthenticatorError::InvalidInput(format!(
            "issuer {issuer:?} carries credentials"
        )));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if url.host().as_ref().is_some_and(is_loopback) => Ok(()),
        "http" => Err(AuthenticatorError::InsecureIssuer(format!(
            "{issuer} uses plain http; only https is allowed (http only for localhost)"
        ))),
        _ => Err(AuthenticatorError::InsecureIssuer(format!(
            "{issuer} is not an https URL"
        ))),
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => {
            let name = name.trim_end_matches('.');
            name.eq_ignore_ascii_case("localhost")
        }
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// The URL of a device-API `path` under `issuer` (`issuer` without its trailing `/`, then the
/// path). This is also the DPoP `htu`.
pub(crate) fn endpoint(issuer: &str, path: &str) -> String {
    format!("{}{path}", issuer.trim_end_matches('/'))
}

/// Whether two issuer strings name the same issuer (a trailing `/` is not significant).
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for ok in [
            "https://as.example",
            "https://as.example/tenant/",
            "http://localhost:8080",
            "http://LOCALHOST.",
            "http://127.0.0.1:3000",
            "http://127.9.8.7",
            "http://[::1]:8443/",
        ] {
            assert_eq!(check_issuer(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn plain_http_elsewhere_is_insecure() {
        for bad in [
            "http://as.example",
            "http://10.0.0.1",
            "http://localhost.as.example",
            "http://[::2]",
            "ftp://as.example",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(
                    check_issuer(bad),
                    Err(AuthenticatorError::InsecureIssuer(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn malformed_issuers_are_invalid_input() {
        for bad in [
            "not a url",
            "https://as.example/?x=1",
            "https://as.example/#f",
            "https://user:pw@as.example",
        ] {
            assert!(
                matches!(check_issuer(bad), Err(AuthenticatorError::InvalidInput(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints_and_issuer_comparison_ignore_a_trailing_slash() {
        assert_eq!(
            endpoint("https://as.example/t/", "/device/v1/transactions"),
            "https://as.example/t/device/v1/transactions"
        );
        assert!(same_issuer("https://as.example/", "https://as.example"));
        assert!(!same_issuer(
            "https://as.example",
            "https://as.example.evil"
        ));
    }
}
