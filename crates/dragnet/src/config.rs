//! The validated crawl configuration: the only thing the library accepts. It knows nothing
//! of command lines or config files; the CLI builds it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use dragnet_extract::{LinkSelector, Scope, TrapGuard};
use regex::Regex;
use url::Url;

use crate::error::Error;

/// Global requests in flight when the user says nothing. 32 is where the reference job's
/// tutorial found its sweet spot by hand; the adaptive controller will replace this guess.
pub const DEFAULT_CONCURRENCY: usize = 32;
/// Cap on what `--concurrency auto` may reach, overall and per host.
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;
/// Where auto concurrency starts per host: slow start grows it with every answer.
pub const AUTO_INITIAL_CONCURRENCY: usize = 8;
/// Requests in flight to one host. High enough that a single-site job (the reference job)
/// is not throttled below the global limit, since one host is all it has.
pub const DEFAULT_PER_HOST: usize = 32;
/// Retries after the first attempt, for errors that may pass (timeouts, resets, 5xx, 429).
pub const DEFAULT_RETRIES: u32 = 3;
/// Whole-request time limit (connect, headers and body).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Connecting alone; a host that cannot accept a connection in this time is not worth waiting for.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest body kept, after decompression. Wikipedia's largest articles are ~2 MB of HTML.
pub const DEFAULT_MAX_BODY: u64 = 16 * 1024 * 1024;
/// Redirect hops followed before giving up (what browsers and curl allow, roughly).
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// First retry delay; doubled for each attempt, with full jitter.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest backoff between two attempts.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A Retry-After longer than this fails the URL instead of parking it for hours.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(120);
/// Longest robots.txt Crawl-delay honoured; a site asking for more gets this much.
pub const DEFAULT_MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);
/// Identifies the crawler to sites, as polite crawlers do.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "dragnet/",
    env!("CARGO_PKG_VERSION"),
    " (+https://example.invalid/dragnet)"
);

/// Everything a crawl needs to know. Build with [`Config::new`], adjust the public fields,
/// and [`crate::Crawler::new`] validates it.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the crawl starts (depth 0).
    pub seeds: Vec<Url>,
    /// Which links to follow from fetched pages; `None` follows nothing.
    pub follow: Option<LinkSelector>,
    /// Structured items to extract from every HTML page (`--item`, `--extract`).
    pub items: Option<dragnet_extract::ItemRules>,
    /// Deepest link depth fetched (seeds are 0). With depth 1 the seeds and the pages they
    /// link to are fetched.
    pub max_depth: u32,
    /// Stop dispatching after this many pages (fetch attempts of distinct URLs).
    pub max_pages: Option<u64>,
    /// Which discovered links stay in the crawl.
    pub scope: Scope,
    /// Requests in flight at once, over all hosts (the fixed limit; with `auto_concurrency`
    /// the controller's cap is `max_concurrency` instead).
    pub concurrency: usize,
    /// Let the adaptive controller find the limits, per host and overall.
    pub auto_concurrency: bool,
    /// The most the controller may allow.
    pub max_concurrency: usize,
    /// Requests in flight at once to one host.
    pub per_host: usize,
    /// Threads in the CPU pool that parses and extracts.
    pub threads: usize,
    /// Retries after the first attempt, for retryable failures.
    pub retries: u32,
    /// Whole-request time limit.
    pub timeout: Duration,
    /// Connect time limit.
    pub connect_timeout: Duration,
    /// Largest body kept, after decompression; larger bodies fail the URL.
    pub max_body: u64,
    /// Redirect hops followed.
    pub max_redirects: u32,
    /// First retry delay.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Longest Retry-After honoured; longer ones fail the URL.
    pub max_retry_after: Duration,
    /// The User-Agent header.
    pub user_agent: String,
    /// Follow links and redirects to private, loopback and link-local addresses. Off by
    /// default so a crawl of the public web cannot be steered into the local network. What
    /// the user typed is trusted either way: the host and port of each seed, sitemap URL and
    /// `resolve` entry may be private (see `fetch::resolve`).
    pub allow_private: bool,
    /// Fixed name resolution (`host` → address), like curl's `--resolve`.
    pub resolve: Vec<(String, SocketAddr)>,
    /// Obey robots.txt (RFC 9309). On by default, as polite crawlers do.
    pub obey_robots: bool,
    /// Longest Crawl-delay honoured.
    pub max_crawl_delay: Duration,
    /// Minimum gap between request starts to one host.
    pub delay: Duration,
    /// Sitemaps (or sitemap indexes) whose URLs are added as seeds.
    pub sitemaps: Vec<Url>,
    /// Also seed from the `Sitemap:` lines of the seed hosts' robots.txt.
    pub robots_sitemaps: bool,
    /// Only URLs matching one of these (when any is given) are crawled.
    pub allow: Vec<Regex>,
    /// URLs matching any of these are not crawled.
    pub deny: Vec<Regex>,
    /// Most URLs admitted per host (`host:port`).
    pub max_pages_per_host: Option<u64>,
    /// Query parameters dropped from the dedup key (globs such as `utm_*`, `sessionid`).
    pub strip_query: Vec<String>,
    /// Crawler-trap limits on discovered URLs.
    pub traps: TrapGuard,
    /// How saved pages are laid out.
    pub layout: crate::sink::Layout,
    /// Do not save a body already saved for another URL (it is still logged, as a duplicate).
    pub dedup_content: bool,
    /// Where pages are saved (`None`: not saved).
    pub out_dir: Option<PathBuf>,
    /// Where the pages log is written (`None`: no log).
    pub pages_log: Option<PathBuf>,
}

impl Config {
    /// A configuration with the defaults above and the given seeds.
    pub fn new(seeds: Vec<Url>) -> Self {
        Self {
            seeds,
            follow: None,
            items: None,
            max_depth: 0,
            max_pages: None,
            scope: Scope::Host,
            concurrency: DEFAULT_CONCURRENCY,
            auto_concurrency: false,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            per_host: DEFAULT_PER_HOST,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            retries: DEFAULT_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            allow_private: false,
            resolve: Vec::new(),
            obey_robots: true,
            max_crawl_delay: DEFAULT_MAX_CRAWL_DELAY,
            delay: Duration::ZERO,
            sitemaps: Vec::new(),
            robots_sitemaps: false,
            allow: Vec::new(),
            deny: Vec::new(),
            max_pages_per_host: None,
            strip_query: Vec::new(),
            traps: TrapGuard::default(),
            layout: crate::sink::Layout::Flat,
            dedup_content: false,
            out_dir: None,
            pages_log: None,
        }
    }

    /// The dedup rules this configuration asks for (`strip_query`). A resumable job must be
    /// reopened with the same rules, or old URLs would look new.
    pub fn canonicalizer(&self) -> dragnet_extract::Canonicalizer {
        let globs: Vec<&str> = self.strip_query.iter().map(String::as_str).collect();
        dragnet_extract::Canonicalizer::new().strip_query_params(&globs)
    }

    /// The most requests that can be in flight: the fixed limit, or auto's cap.
    pub fn concurrency_cap(&self) -> usize {
        if self.auto_concurrency {
            self.max_concurrency
        } else {
            self.concurrency
        }
    }

    /// The concurrency setting as the summary shows it.
    pub fn concurrency_label(&self) -> String {
        if self.auto_concurrency {
            format!("auto (max {})", self.max_concurrency)
        } else {
            self.concurrency.to_string()
        }
    }

    /// Checks the values that would make a crawl impossible or meaningless.
    ///
    /// # Errors
    /// [`Error::Config`] naming the offending setting.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: &str| Err(Error::Config(m.to_owned()));
        if self.seeds.is_empty() && self.sitemaps.is_empty() {
            return bad("no seed URL or sitemap given");
        }
        if let Some(seed) = self
            .seeds
            .iter()
            .find(|u| !matches!(u.scheme(), "http" | "https"))
        {
            return Err(Error::Config(format!("seed {seed} is not an http(s) URL")));
        }
        if self.concurrency == 0 || self.max_concurrency == 0 {
            return bad("concurrency must be at least 1");
        }
        if self.per_host == 0 {
            return bad("per-host concurrency must be at least 1");
        }
        if self.threads == 0 {
            return bad("the CPU pool needs at least 1 thread");
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("timeouts must be longer than zero");
        }
        if self.max_body == 0 {
            return bad("max body must be at least 1 byte");
        }
        Ok(())
    }
}
