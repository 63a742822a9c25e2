//! Which notification endpoints the server may call: https (plain http only in development),
//! and never an address on a private, loopback, link-local or otherwise internal network unless
//! the operator allows it — checked at registration for literal addresses and at send time for
//! every address a name resolves to (SSRF protection).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use url::{Host, Url};

use crate::config::NotificationSettings;

/// Why an endpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a usable URL.
    #[error("the notification endpoint is not a valid absolute URL")]
    Malformed,
    /// Not https (and plain http is not allowed).
    #[error("the notification endpoint must use https")]
    NotHttps,
    /// Userinfo or a fragment.
    #[error("the notification endpoint must not contain credentials or a fragment")]
    Credentials,
    /// An internal address.
    #[error("the notification endpoint resolves to a non-public address ({0})")]
    NonPublicAddress(IpAddr),
    /// The name did not resolve.
    #[error("the notification endpoint's host did not resolve to any address")]
    Unresolvable,
}

/// Checks the shape of an endpoint URL and, when its host is a literal address, the address.
pub fn check_endpoint_url(
    raw: &str,
    settings: &NotificationSettings,
) -> Result<Url, EndpointError> {
    let url = Url::parse(raw).map_err(|_| EndpointError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if settings.allow_plain_http => {}
        _ => return Err(EndpointError::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(EndpointError::Credentials);
    }
    match url.host() {
        None => return Err(EndpointError::Malformed),
        Some(Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), settings)?,
        Some(Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), settings)?,
        Some(Host::Domain(_)) => {}
    }
    Ok(url)
}

/// Refuses a non-public address unless the operator allows private networks.
pub fn check_address(ip: IpAddr, settings: &NotificationSettings) -> Result<(), EndpointError> {
    if settings.allow_private_networks || is_public(ip) {
        Ok(())
    } else {
        Err(EndpointError::NonPublicAddress(ip))
    }
}

/// Whether an address is on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local, shared (CGNAT), unspecified, broadcast, multicast or documentation. IPv6 forms that
/// carry an IPv4 address — IPv4-mapped, IPv4-compatible, SIIT IPv4-translated (`::ffff:0:a.b.c.d`),
/// 6to4 (`2002::/16`), Teredo (`2001::/32`) — are judged by that IPv4 address as well, since a
/// relay or translator would deliver to it; NAT64 prefixes are refused outright.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_public_v4(v4) && is_public_v6(v6),
            None => is_public_v6(v6),
        },
    }
}

/// The IPv4 address an IPv6 address carries, in the transition forms that route to it.
fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    if s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0 {
        return Some(v4(s[6], s[7])); // SIIT IPv4-translated ::ffff:0:a.b.c.d (RFC 6145)
    }
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2])); // 6to4 (RFC 3056)
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Some(v4(!s[6], !s[7])); // Teredo client, obfuscated (RFC 4380)
    }
    ipv4_compatible(v6)
}

fn ipv4_compatible(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    // ::a.b.c.d (deprecated, but still routable by some stacks); not :: or ::1.
    (s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1))
        .then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64, well-known and local-use (any IPv4)
        || first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only 100::/64
}

/// Keeps the resolved addresses that may be called; an error when none is left.
pub fn filter_addresses(
    addrs: impl IntoIterator<Item = SocketAddr>,
    settings: &NotificationSettings,
) -> Result<Vec<SocketAddr>, EndpointError> {
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match check_address(a.ip(), settings) {
            Ok(()) => true,
            Err(_) => {
                refused = Some(a.ip());
                false
            }
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (false, _) => Ok(allowed),
        (true, Some(ip)) => Err(EndpointError::NonPublicAddress(ip)),
        (true, None) => Err(EndpointError::Unresolvable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> NotificationSettings {
        NotificationSettings::default()
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2002:c0a8:101::1",
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "100::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip), "{ip} must not be public");
            assert!(check_address(ip, &strict()).is_err());
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "172.32.0.1",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn endpoint_urls() {
        let s = strict();
        assert!(check_endpoint_url("https://client.example/cb", &s).is_ok());
        assert_eq!(
            check_endpoint_url("http://client.example/cb", &s),
            Err(EndpointError::NotHttps)
        );
        assert_eq!(
            check_endpoint_url("https://u:p@client.example/cb", &s),
            Err(EndpointError::Credentials)
        );
        assert_eq!(
            check_endpoint_url("https://client.example/cb#x", &s),
            Err(EndpointError::Credentials)
        );
        assert!(matches!(
            check_endpoint_url("https://127.0.0.1/cb", &s),
            Err(EndpointError::NonPublicAddress(_))
        ));
        assert!(matches!(
            check_endpoint_url("https://[::ffff:192.168.0.1]/cb", &s),
            Err(EndpointError::NonPublicAddress(_))
        ));
        assert_eq!(
            check_endpoint_url("not a url", &s),
            Err(EndpointError::Malformed)
        );
        let dev = NotificationSettings {
            allow_private_networks: true,
            allow_plain_http: true,
            ..strict()
        };
        assert!(check_endpoint_url("http://127.0.0.1:9000/cb", &dev).is_ok());
    }

    #[test]
    fn resolution_keeps_only_public_addresses() {
        let s = strict();
        let mixed: Vec<SocketAddr> = vec![
            "10.0.0.1:443".parse().unwrap(),
            "8.8.8.8:443".parse().unwrap(),
        ];
        assert_eq!(
            filter_addresses(mixed, &s).unwrap(),
            vec!["8.8.8.8:443".parse::<SocketAddr>().unwrap()]
        );
        let private: Vec<SocketAddr> = vec!["10.0.0.1:443".parse().unwrap()];
        assert!(matches!(
            filter_addresses(private, &s),
            Err(EndpointError::NonPublicAddress(_))
        ));
        assert_eq!(
            filter_addresses(Vec::new(), &s),
            Err(EndpointError::Unresolvable)
        );
    }
}
