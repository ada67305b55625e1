//! The address guard: a page on the web cannot point the crawler at the local network
//! (SSRF). What the user typed is trusted, what the web sends is not:
//!
//! - Seeds, sitemap URLs given to the crawl and `--resolve` entries are trusted: their
//!   origin (host name and port) may be private or loopback without `--allow-private`, and
//!   so may every other URL on that same host name and port (the user asked for that site).
//!   Proxies named in the environment are trusted too (their names may resolve privately).
//! - Every other URL (links found on pages, redirects, sitemap entries) that leads to a
//!   private, loopback, link-local or reserved address ([`is_private`]) is refused unless
//!   the crawl sets `allow_private`.
//!
//! The check runs twice, so neither a spelling nor a DNS answer slips through: before the
//! request, on the URL (IP literals in any spelling, `localhost`), and at connection time
//! in the resolver, so a name that resolves to 127.0.0.1 is caught as surely as the literal
//! and an answer that changes between lookups (DNS rebinding) is checked when it is used.
//!
//! Through an HTTP proxy the proxy, not dragnet, resolves the name, so the resolver never
//! sees it. When an environment proxy is set (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, in
//! either case, which reqwest honours), the guard resolves every untrusted name itself
//! before the request and refuses it when any answer is private. The proxy looks the name
//! up again; a name whose answer changes in between can still reach what the proxy can
//! reach, so a proxy in front of a private network needs its own rules as well.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use super::FailureKind;
use super::address::is_private;
use crate::config::Config;

/// Part of the error message the resolver gives, so the failure can be classified.
pub(crate) const PRIVATE_ADDRESS_MESSAGE: &str = "resolves only to private addresses";

/// The environment variables reqwest reads its proxies from.
const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Looks a host name up. The system's resolver in a crawl; a fake one in tests.
pub(crate) trait Lookup: Send + Sync + std::fmt::Debug {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The operating system's resolver (getaddrinfo, on tokio's blocking pool).
#[derive(Clone, Copy, Debug)]
pub(crate) struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

/// A host name as the guard compares it: lower case, without the root's trailing dot
/// (`LocalHost.` is `localhost`).
fn normal_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn is_localhost(name: &str) -> bool {
    name == "localhost" || name.ends_with(".localhost")
}

/// What the user typed: origins that may be private, and names the resolver may answer
/// privately for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trust {
    /// (normal host, port) of each seed, sitemap URL and `--resolve` entry.
    origins: HashSet<(String, u16)>,
    /// The hosts of those origins, and the environment proxies' hosts.
    names: HashSet<String>,
}

impl Trust {
    /// The trust a crawl's configuration gives: its seeds, its sitemaps, its `--resolve`
    /// entries, and the environment's proxies.
    pub(crate) fn of(config: &Config) -> Self {
        let mut trust = Self::default();
        for url in config.seeds.iter().chain(&config.sitemaps) {
            trust.add_url(url);
        }
        for (host, addr) in &config.resolve {
            let host = normal_name(host);
            trust.origins.insert((host.clone(), addr.port()));
            trust.names.insert(host);
        }
        for proxy in env_proxies() {
            if let Some(host) = proxy.host_str() {
                trust.names.insert(normal_name(host));
            }
        }
        trust
    }

    fn add_url(&mut self, url: &Url) {
        if let Some(origin) = origin(url) {
            self.names.insert(origin.0.clone());
            self.origins.insert(origin);
        }
    }

    fn trusts(&self, url: &Url) -> bool {
        origin(url).is_some_and(|o| self.origins.contains(&o))
    }
}

fn origin(url: &Url) -> Option<(String, u16)> {
    Some((normal_name(url.host_str()?), url.port_or_known_default()?))
}

/// The proxies set in the environment (the variables reqwest reads), as URLs.
fn env_proxies() -> Vec<Url> {
    proxies_from(|name| std::env::var(name).ok())
}

/// The proxies named by the variables `var` gives values for.
fn proxies_from(var: impl Fn(&str) -> Option<String>) -> Vec<Url> {
    PROXY_VARIABLES
        .iter()
        .filter_map(|name| var(name))
        .filter(|value| !value.trim().is_empty())
        .filter_map(|value| {
            let value = value.trim();
            // reqwest, like curl, reads a bare `host:port` as http://host:port.
            Url::parse(value)
                .ok()
                .filter(|u| u.host_str().is_some())
                .or_else(|| Url::parse(&format!("http://{value}")).ok())
        })
        .collect()
}

/// The check made before each request (each redirect hop included).
#[derive(Clone, Debug)]
pub(crate) struct AddressGuard {
    allow_private: bool,
    trust: Arc<Trust>,
    /// `--resolve` entries by normal name: reqwest answers these without our resolver.
    overrides: Arc<HashMap<String, Vec<IpAddr>>>,
    /// An environment proxy resolves names itself: look every untrusted name up first.
    proxied: bool,
    lookup: Arc<dyn Lookup>,
}

impl AddressGuard {
    /// The guard for a crawl's configuration, looking names up with `lookup`.
    pub(crate) fn new(config: &Config, lookup: Arc<dyn Lookup>) -> Self {
        let mut overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (host, addr) in &config.resolve {
            overrides
                .entry(normal_name(host))
                .or_default()
                .push(addr.ip());
        }
        Self {
            allow_private: config.allow_private,
            trust: Arc::new(Trust::of(config)),
            overrides: Arc::new(overrides),
            proxied: !env_proxies().is_empty(),
            lookup,
        }
    }

    /// The resolver the client connects with, sharing this guard's trust.
    pub(crate) fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            allow_private: self.allow_private,
            trusted_names: Arc::new(self.trust.names.clone()),
            lookup: Arc::clone(&self.lookup),
        }
    }

    /// `Ok` when `url` may be requested; otherwise the kind of failure to record
    /// (`private_address`, or `connect` when the name could not be looked up) and why.
    pub(crate) async fn check(&self, url: &Url) -> Result<(), (FailureKind, String)> {
        self.check_looking_up(url, self.proxied).await
    }

    /// [`Self::check`] for a redirect's target, with names looked up now rather than by
    /// the connecting resolver: the target is claimed in the frontier before it is
    /// requested, and a page it may not reach must not be claimed.
    pub(crate) async fn check_redirect(&self, url: &Url) -> Result<(), (FailureKind, String)> {
        self.check_looking_up(url, true).await
    }

    async fn check_looking_up(
        &self,
        url: &Url,
        look_up_names: bool,
    ) -> Result<(), (FailureKind, String)> {
        if self.allow_private || self.trust.trusts(url) {
            return Ok(());
        }
        let refused = |what: &str| {
            Err((
                FailureKind::PrivateAddress,
                format!(
                    "{} {what} (allow with --allow-private)",
                    url.host_str().unwrap_or_default()
                ),
            ))
        };
        let name = match url.host() {
            Some(Host::Ipv4(ip)) if is_private(IpAddr::V4(ip)) => {
                return refused("is a private or loopback address");
            }
            Some(Host::Ipv6(ip)) if is_private(IpAddr::V6(ip)) => {
                return refused("is a private or loopback address");
            }
            Some(Host::Domain(name)) => normal_name(name),
            _ => return Ok(()),
        };
        if is_localhost(&name) {
            return refused("is a private or loopback address");
        }
        let answers = if let Some(addrs) = self.overrides.get(&name) {
            addrs.clone()
        } else if look_up_names || self.trust.names.contains(&name) {
            // A proxy will resolve this name, the resolver trusts it (for the seed's port,
            // not this one), or a redirect target must be judged before it is claimed:
            // the resolver's filter does not apply (in time), so check here.
            match self.lookup.lookup(name.clone()).await {
                Ok(addrs) => addrs,
                Err(error) => {
                    return Err((
                        FailureKind::Connect,
                        format!("{name} could not be resolved to check its address: {error}"),
                    ));
                }
            }
        } else {
            // Direct connection: the resolver checks the answer it connects with.
            return Ok(());
        };
        if answers.iter().any(|ip| is_private(*ip)) {
            return refused("resolves to a private or loopback address");
        }
        Ok(())
    }
}

/// The resolver the client connects with: private answers are dropped unless the crawl
/// allows them or the name is one the user typed.
#[derive(Clone, Debug)]
pub(crate) struct GuardedResolver {
    allow_private: bool,
    trusted_names: Arc<HashSet<String>>,
    lookup: Arc<dyn Lookup>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let allow_private = self.allow_private || self.trusted_names.contains(&normal_name(&host));
        let lookup = self.lookup.lookup(host.clone());
        Box::pin(async move {
            let found = lookup.await?;
            let usable: Vec<SocketAddr> = found
                .into_iter()
                .filter(|ip| allow_private || !is_private(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
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
#[path = "resolve_tests.rs"]
mod tests;
