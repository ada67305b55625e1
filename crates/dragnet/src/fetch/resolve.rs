//! Name resolution that refuses private, loopback and link-local addresses unless the
//! crawl allows them, so a page on the public web cannot point the crawler at the local
//! network (SSRF). Checked at resolution time, so a DNS name that resolves to 127.0.0.1 is
//! caught as surely as the literal.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Part of the error message the resolver gives, so the failure can be classified.
pub(crate) const PRIVATE_ADDRESS_MESSAGE: &str = "resolves only to private addresses";

/// Whether an address is outside the public internet.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link local fe80::/10
                || v6 == Ipv6Addr::UNSPECIFIED
        }
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
}

/// Refuses a URL whose host is a private IP literal (those skip the resolver) or
/// `localhost`. Returns the reason when refused.
pub(crate) fn check_literal(url: &Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let private = match url.host() {
        Some(Host::Ipv4(ip)) => is_private(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => is_private(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => {
            name.eq_ignore_ascii_case("localhost")
                || name.to_ascii_lowercase().ends_with(".localhost")
        }
        None => false,
    };
    if private {
        Err(format!(
            "{} is a private or loopback address (allow with --allow-private)",
            url.host_str().unwrap_or_default()
        ))
    } else {
        Ok(())
    }
}

/// The system resolver, with private addresses filtered out unless allowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GuardedResolver {
    pub(crate) allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| allow_private || !is_private(addr.ip()))
                .collect();
            if usable.is_empty() {
                return Err(format!(
                    "{host} {PRIVATE_ADDRESS_MESSAGE} (allow with --allow-private)"
                )
                .into());
            }
            let addrs: Addrs = Box::new(usable.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip} is private");
        }
        for ip in ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn literals_are_checked_unless_allowed() {
        let local = Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert!(check_literal(&local, false).is_err());
        assert!(check_literal(&local, true).is_ok());
        assert!(check_literal(&Url::parse("http://LOCALHOST/").unwrap(), false).is_err());
        assert!(check_literal(&Url::parse("http://[::1]/").unwrap(), false).is_err());
        assert!(check_literal(&Url::parse("http://example.com/").unwrap(), false).is_ok());
    }
}
