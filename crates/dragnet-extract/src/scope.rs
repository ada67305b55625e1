//! Which discovered links may be followed, relative to the seed they were found from.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

use crate::error::ExtractError;

/// How far a crawl may wander from its seed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Same host and port as the seed (the port after defaults, so `http://h` and `https://h` are
    /// different: 80 is not 443).
    #[default]
    Host,
    /// Same registrable domain as the seed (`www.bbc.co.uk` and `news.bbc.co.uk`), by the Public
    /// Suffix List. Seeds without one (IP literals, `localhost`, a bare public suffix) fall back
    /// to the same host. Any port.
    Domain,
    /// The seed's host and its subdomains (`example.com` allows `a.b.example.com`, not
    /// `notexample.com`). Any port.
    Subdomains,
    /// Same origin (scheme, host, port) and a path inside the seed's directory: the seed
    /// `/docs/guide/intro` allows `/docs/guide/...`, not `/docs/other` or `/docs/guidelines`.
    Prefix,
    /// Anything.
    Any,
}

impl Scope {
    /// The names [`FromStr`] accepts, in declaration order.
    pub const NAMES: [&'static str; 5] = ["host", "domain", "subdomains", "prefix", "any"];

    /// Whether `candidate`, found while crawling from `seed`, is in scope.
    pub fn allows(&self, seed: &Url, candidate: &Url) -> bool {
        match self {
            Scope::Any => true,
            // Same host and port; the default ports of http and https count as one, so a
            // site that moves from http to https (or links across) stays in scope, while
            // hosts told apart by explicit ports (one server per port) stay apart.
            Scope::Host => {
                same_host(seed, candidate)
                    && (seed.port_or_known_default() == candidate.port_or_known_default()
                        || (seed.port().is_none() && candidate.port().is_none()))
            }
            Scope::Domain => {
                let registrable = |url: &Url| url.host().and_then(|h| registrable_domain(&h));
                match registrable(seed) {
                    Some(domain) => registrable(candidate).as_ref() == Some(&domain),
                    None => same_host(seed, candidate),
                }
            }
            Scope::Subdomains => match (seed.host(), candidate.host()) {
                (Some(Host::Domain(seed)), Some(Host::Domain(candidate))) => {
                    let (seed, candidate) = (trim_root(seed), trim_root(candidate));
                    candidate.eq_ignore_ascii_case(seed)
                        || candidate
                            .len()
                            .checked_sub(seed.len() + 1)
                            .is_some_and(|dot| {
                                candidate.as_bytes()[dot] == b'.'
                                    && candidate[dot + 1..].eq_ignore_ascii_case(seed)
                            })
                }
                _ => same_host(seed, candidate),
            },
            Scope::Prefix => {
                let seed_path = seed.path();
                // The seed's directory: everything up to and including the last `/`.
                let directory = seed_path
                    .rfind('/')
                    .map_or(seed_path, |slash| &seed_path[..=slash]);
                seed.origin() == candidate.origin() && candidate.path().starts_with(directory)
            }
        }
    }
}

impl FromStr for Scope {
    type Err = ExtractError;

    /// `"host"`, `"domain"`, `"subdomains"`, `"prefix"` or `"any"`, ignoring ASCII case.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let scopes = [
            Scope::Host,
            Scope::Domain,
            Scope::Subdomains,
            Scope::Prefix,
            Scope::Any,
        ];
        Self::NAMES
            .iter()
            .zip(scopes)
            .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
            .map(|(_, scope)| scope)
            .ok_or_else(|| ExtractError::UnknownScope {
                value: value.to_owned(),
            })
    }
}

impl fmt::Display for Scope {
    /// The name [`FromStr`] accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = match self {
            Scope::Host => 0,
            Scope::Domain => 1,
            Scope::Subdomains => 2,
            Scope::Prefix => 3,
            Scope::Any => 4,
        };
        f.write_str(Self::NAMES[index])
    }
}

/// The registrable domain ("eTLD+1") of a host, lowercase: `www.bbc.co.uk` → `bbc.co.uk`.
///
/// `None` for IP literals (the PSL lookup returns nonsense for them: `192.168.0.1` → `0.1`),
/// single-label hosts (`localhost`) and hosts that are themselves a public suffix (`co.uk`,
/// `github.io`). A trailing root dot is ignored.
pub fn registrable_domain(host: &Host<&str>) -> Option<String> {
    let Host::Domain(domain) = host else {
        return None;
    };
    let domain = trim_root(domain);
    if !domain.contains('.') {
        return None;
    }
    let lower = domain.to_ascii_lowercase();
    let registrable = psl::domain(lower.as_bytes())?;
    std::str::from_utf8(registrable.as_bytes())
        .ok()
        .map(str::to_owned)
}

fn same_host(a: &Url, b: &Url) -> bool {
    match (a.host(), b.host()) {
        (Some(Host::Domain(a)), Some(Host::Domain(b))) => {
            trim_root(a).eq_ignore_ascii_case(trim_root(b))
        }
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `example.com.` and `example.com` name the same host.
fn trim_root(domain: &str) -> &str {
    domain.strip_suffix('.').unwrap_or(domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn allows(scope: Scope, seed: &str, candidate: &str) -> bool {
        scope.allows(&url(seed), &url(candidate))
    }

    #[test]
    fn parse_and_display_round_trip() {
        for name in Scope::NAMES {
            let scope: Scope = name.parse().unwrap();
            assert_eq!(scope.to_string(), name);
        }
        assert_eq!("Domain".parse::<Scope>().unwrap(), Scope::Domain);
        let err = "site".parse::<Scope>().unwrap_err();
        assert!(err.to_string().contains("\"site\""));
    }

    #[test]
    fn host_scope() {
        let seed = "https://en.wikipedia.org/wiki/List";
        assert!(allows(
            Scope::Host,
            seed,
            "https://EN.wikipedia.org:443/wiki/China"
        ));
        assert!(allows(Scope::Host, seed, "https://en.wikipedia.org./x"));
        assert!(!allows(
            Scope::Host,
            seed,
            "https://de.wikipedia.org/wiki/China"
        ));
        assert!(!allows(Scope::Host, seed, "https://en.wikipedia.org:8443/"));
        assert!(
            allows(Scope::Host, seed, "http://en.wikipedia.org/"),
            "http and https on default ports are one host"
        );
        assert!(!allows(Scope::Host, seed, "http://en.wikipedia.org:8080/"));
        assert!(allows(
            Scope::Host,
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/x"
        ));
        assert!(!allows(
            Scope::Host,
            "http://127.0.0.1:8080/",
            "http://127.0.0.2:8080/x"
        ));
    }

    #[test]
    fn domain_scope() {
        let seed = "https://www.bbc.co.uk/news";
        assert!(allows(Scope::Domain, seed, "http://sport.bbc.co.uk:8080/x"));
        assert!(allows(Scope::Domain, seed, "https://bbc.co.uk/"));
        assert!(!allows(Scope::Domain, seed, "https://itv.co.uk/"));
        assert!(!allows(Scope::Domain, seed, "https://co.uk/"));
        // Private suffixes: two users' pages are different sites.
        assert!(!allows(
            Scope::Domain,
            "https://alice.github.io/",
            "https://bob.github.io/"
        ));
        // IP literals and single labels fall back to the same host, never to a PSL guess.
        assert!(allows(
            Scope::Domain,
            "http://192.168.0.1/",
            "http://192.168.0.1:81/a"
        ));
        assert!(!allows(
            Scope::Domain,
            "http://192.168.0.1/",
            "http://10.0.0.1/"
        ));
        // psl::domain gives "0.1" for both of these.
        assert!(!allows(
            Scope::Domain,
            "http://10.0.0.1/",
            "http://20.0.0.1/"
        ));
        assert!(allows(
            Scope::Domain,
            "http://localhost:3000/",
            "http://localhost:4000/"
        ));
        assert!(!allows(Scope::Domain, "http://localhost/", "http://other/"));
        assert!(allows(Scope::Domain, "http://[::1]/", "http://[0::1]/x"));
    }

    #[test]
    fn subdomain_scope() {
        let seed = "https://example.com/";
        assert!(allows(Scope::Subdomains, seed, "https://example.com/x"));
        assert!(allows(
            Scope::Subdomains,
            seed,
            "http://a.b.example.com:81/x"
        ));
        assert!(!allows(Scope::Subdomains, seed, "https://notexample.com/"));
        assert!(!allows(Scope::Subdomains, seed, "https://com/"));
        assert!(!allows(
            Scope::Subdomains,
            "https://a.example.com/",
            "https://example.com/"
        ));
        assert!(allows(
            Scope::Subdomains,
            "http://10.0.0.1/",
            "http://10.0.0.1/y"
        ));
    }

    #[test]
    fn prefix_scope() {
        let seed = "https://example.com/docs/guide/intro?x#y";
        assert!(allows(
            Scope::Prefix,
            seed,
            "https://example.com/docs/guide/"
        ));
        assert!(allows(
            Scope::Prefix,
            seed,
            "https://example.com/docs/guide/a/b?c"
        ));
        assert!(!allows(
            Scope::Prefix,
            seed,
            "https://example.com/docs/guidelines"
        ));
        assert!(!allows(Scope::Prefix, seed, "https://example.com/docs/"));
        assert!(!allows(
            Scope::Prefix,
            seed,
            "http://example.com/docs/guide/x"
        ));
        assert!(!allows(
            Scope::Prefix,
            seed,
            "https://www.example.com/docs/guide/x"
        ));
        assert!(allows(
            Scope::Prefix,
            "https://example.com",
            "https://example.com/any"
        ));
    }

    #[test]
    fn any_scope() {
        assert!(allows(
            Scope::Any,
            "https://a.example/",
            "http://b.example:9/"
        ));
    }

    #[test]
    fn registrable_domains() {
        let domain = |s: &str| registrable_domain(&Host::Domain(s));
        assert_eq!(domain("www.bbc.co.uk").as_deref(), Some("bbc.co.uk"));
        assert_eq!(domain("WWW.BBC.CO.UK.").as_deref(), Some("bbc.co.uk"));
        assert_eq!(
            domain("a.b.example.uk.com").as_deref(),
            Some("example.uk.com")
        );
        assert_eq!(
            domain("bucket.s3.amazonaws.com").as_deref(),
            Some("bucket.s3.amazonaws.com")
        );
        assert_eq!(domain("s3.amazonaws.com"), None);
        assert_eq!(domain("com"), None);
        assert_eq!(domain("localhost"), None);
        assert_eq!(
            registrable_domain(&Host::Ipv4([192, 168, 0, 1].into())),
            None
        );
        assert_eq!(
            registrable_domain(&Host::Ipv6(std::net::Ipv6Addr::LOCALHOST)),
            None
        );
    }
}
