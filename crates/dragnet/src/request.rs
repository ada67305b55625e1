//! The unit of work: one URL to fetch, with where it was found.

use url::Url;

/// One URL to fetch.
///
/// `url` is exactly what gets requested (the URL as found); the frontier dedups on a
/// canonical key derived from it, so two spellings of one page are fetched once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrawlRequest {
    /// The URL to request, as found.
    pub url: Url,
    /// Link hops from a seed (seeds are depth 0).
    pub depth: u32,
}

impl CrawlRequest {
    /// A seed: depth 0.
    pub fn seed(url: Url) -> Self {
        Self { url, depth: 0 }
    }

    /// The host (and port) this request goes to: the unit of politeness.
    pub fn host_key(&self) -> String {
        host_key(&self.url)
    }
}

/// `host:port` of a URL, the key for per-host limits. Hosts differing only by port are
/// different servers as far as politeness can tell.
pub fn host_key(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    }
}
