//! Where a webhook may go. An endpoint's URL is https (http only where configuration allows),
//! names a host, and carries no credentials; an address it resolves to must be public — not
//! loopback, private, link-local, shared (carrier-grade NAT), unique-local, multicast or
//! unspecified — unless private addresses are allowed (tests, on-premises shops). The URL is
//! checked when an endpoint is saved, and the addresses again when a message is sent, so a
//! name that later resolves somewhere inside (DNS rebinding) is refused then.

use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest endpoint URL.
pub const MAX_URL: usize = 2048;

/// Why an endpoint URL is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    TooLong,
    NotAUrl,
    /// Not https (nor http where allowed).
    Scheme,
    NoHost,
    /// A user name or password in the URL.
    Credentials,
    /// It names, or resolves to, an address that is not public.
    Private(IpAddr),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLong => write!(f, "is longer than {MAX_URL} characters"),
            Refused::NotAUrl => f.write_str("is not a URL"),
            Refused::Scheme => f.write_str("must be an https URL"),
            Refused::NoHost => f.write_str("names no host"),
            Refused::Credentials => f.write_str("must not carry a user name or password"),
            Refused::Private(ip) => write!(f, "reaches {ip}, which is not a public address"),
        }
    }
}

/// The endpoint URL `text`, when it may be called: https (or http with `allow_http`), a host,
/// no credentials, and — when the host is an address — a public one unless `allow_private`.
pub fn check_url(text: &str, allow_http: bool, allow_private: bool) -> Result<Url, Refused> {
    if text.len() > MAX_URL {
        return Err(Refused::TooLong);
    }
    let url = Url::parse(text.trim()).map_err(|_| Refused::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err(Refused::Scheme),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Credentials);
    }
    let host = url.host_str().ok_or(Refused::NoHost)?;
    // An address host, IPv6 in brackets; a name is resolved at send time.
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok();
    match ip {
        Some(ip) if !allow_private && !is_public(ip) => Err(Refused::Private(ip)),
        _ => Ok(url),
    }
}

/// Whether `ip` is a public unicast address (an IPv4 address mapped into IPv6 counts as the
/// IPv4 one).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10
    let this_network = a == 0; // 0.0.0.0/8
    let reserved = a >= 240; // 240.0.0.0/4 and broadcast
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_documentation()
        || shared
        || this_network
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8; // 2001:db8::/32
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || documentation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_addresses_are_not_public_and_outside_ones_are() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for outside in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(outside.parse().unwrap()), "{outside}");
        }
    }

    #[test]
    fn an_endpoint_url_is_https_with_a_host_and_no_credentials() {
        assert!(check_url("https://crm.example.com/hooks/nudge", false, false).is_ok());
        assert_eq!(
            check_url("http://crm.example.com/", false, false),
            Err(Refused::Scheme)
        );
        assert!(check_url("http://crm.example.com/", true, false).is_ok());
        assert_eq!(
            check_url("ftp://x.example/", true, true),
            Err(Refused::Scheme)
        );
        assert_eq!(
            check_url("https://user:pw@crm.example.com/", false, false),
            Err(Refused::Credentials)
        );
        assert_eq!(check_url("not a url", false, false), Err(Refused::NotAUrl));
        assert_eq!(
            check_url(
                &format!("https://x.example/{}", "a".repeat(MAX_URL)),
                false,
                false
            ),
            Err(Refused::TooLong)
        );
    }

    #[test]
    fn an_address_inside_is_refused_unless_allowed() {
        assert_eq!(
            check_url("https://169.254.169.254/latest", false, false),
            Err(Refused::Private("169.254.169.254".parse().unwrap()))
        );
        assert_eq!(
            check_url("https://[::1]:8443/", false, false),
            Err(Refused::Private("::1".parse().unwrap()))
        );
        // Spellings of an address are read as the address.
        assert_eq!(
            check_url("https://2130706433/", false, false),
            Err(Refused::Private("127.0.0.1".parse().unwrap()))
        );
        assert!(check_url("http://127.0.0.1:9000/hook", true, true).is_ok());
    }
}
