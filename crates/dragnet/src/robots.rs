//! robots.txt, fetched once per host and cached: the async side of RFC 9309. Parsing and
//! matching are `dragnet_extract::Robots`; this module decides when to fetch, what a failed
//! fetch means, and shares one fetch among all the URLs of a host that ask at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dragnet_extract::{ROBOTS_MAX_BYTES, RobotsStatus, robots_url};
use tokio::sync::OnceCell;
use tokio::time::Instant;
use url::Url;

use crate::fetch::body::decode_body;
use crate::fetch::{FailureKind, Fetcher, FollowAll, RetryPolicy, retry::backoff};

/// How long a fetched robots.txt is trusted. RFC 9309 §2.4: "SHOULD NOT use a cached version
/// for more than 24 hours".
pub const ROBOTS_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long "unreachable" (5xx, network) is remembered before trying again: long enough not
/// to hammer a failing server, short enough that a short outage does not lose the host.
pub const ROBOTS_UNREACHABLE_TTL: Duration = Duration::from_secs(5 * 60);
/// Raw bytes read from the wire; the parser itself reads the first 500 KiB of the decoded body.
const ROBOTS_WIRE_MAX: u64 = 2 * 1024 * 1024;

/// What robots.txt says about one URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Fetch it; `crawl_delay` is the host's Crawl-delay for our agent, if any. `fresh` is
    /// true for the caller whose request fetched robots.txt just now.
    Allowed {
        /// The Crawl-delay.
        crawl_delay: Option<Duration>,
        /// Whether robots.txt was fetched by this call.
        fresh: bool,
    },
    /// robots.txt disallows it.
    Disallowed,
    /// robots.txt could not be read: everything on the host is disallowed for now.
    Unreachable,
}

struct Entry {
    status: RobotsStatus,
    expires: Instant,
}

/// Per-host robots.txt cache with one fetch in flight per host.
pub struct RobotsCache {
    fetcher: Fetcher,
    user_agent: String,
    policy: RetryPolicy,
    /// Origin (`scheme://host:port`) → the cell its robots.txt lands in. A plain mutex: held
    /// only to find or replace the cell, never across the fetch.
    entries: Mutex<HashMap<String, Arc<OnceCell<Entry>>>>,
    /// Attempts at robots.txt files, for the summary.
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RobotsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RobotsCache")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

impl RobotsCache {
    /// A cache fetching with `fetcher` (same pool as the crawl) for `user_agent`.
    pub fn new(fetcher: &Fetcher, user_agent: &str, policy: RetryPolicy) -> Self {
        Self {
            fetcher: fetcher.truncating(ROBOTS_WIRE_MAX),
            user_agent: user_agent.to_owned(),
            policy,
            entries: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Attempts at robots.txt files so far (their redirects not included).
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The verdict for `url`, fetching the host's robots.txt first if needed.
    pub async fn verdict(&self, url: &Url) -> Verdict {
        let robots = robots_url(url);
        let origin = robots.origin().ascii_serialization();
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let cell = entries.entry(origin).or_default();
            if cell
                .get()
                .is_some_and(|entry| entry.expires <= Instant::now())
            {
                *cell = Arc::new(OnceCell::new());
            }
            Arc::clone(cell)
        };
        let mut fresh = false;
        let entry = cell
            .get_or_init(|| {
                fresh = true;
                self.fetch(robots)
            })
            .await;
        match &entry.status {
            RobotsStatus::Unreachable => Verdict::Unreachable,
            status if status.allowed(&self.user_agent, url) => Verdict::Allowed {
                crawl_delay: status.crawl_delay(&self.user_agent),
                fresh,
            },
            _ => Verdict::Disallowed,
        }
    }

    /// The Sitemap lines of `url`'s host's robots.txt (fetching it if needed).
    pub async fn sitemaps(&self, url: &Url) -> Vec<String> {
        let _ = self.verdict(url).await;
        let origin = robots_url(url).origin().ascii_serialization();
        let cell = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&origin)
            .cloned();
        cell.and_then(|c| c.get().map(|e| e.status.sitemaps().to_vec()))
            .unwrap_or_default()
    }

    async fn fetch(&self, robots: Url) -> Entry {
        let mut attempt = 0;
        let status = loop {
            attempt += 1;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match self.fetcher.fetch(&robots, &FollowAll).await {
                Ok(fetched) => {
                    let body = decode_body(
                        fetched.raw_body.clone(),
                        fetched.content_encoding(),
                        ROBOTS_WIRE_MAX,
                    )
                    .map(|b| b.head(ROBOTS_MAX_BYTES).into_owned());
                    break match body {
                        Ok(body) => RobotsStatus::from_http(fetched.status, &body),
                        // A body we cannot decode is a robots.txt we cannot read.
                        Err(_) => RobotsStatus::Unreachable,
                    };
                }
                // The page fetch will be refused for the same reason and say so; do not
                // report it as a robots problem.
                Err(failure) if failure.kind == FailureKind::PrivateAddress => {
                    break RobotsStatus::Unavailable;
                }
                Err(failure) if failure.kind.is_retryable() && attempt <= self.policy.retries => {
                    let wait = failure
                        .retry_after
                        .unwrap_or_else(|| {
                            backoff(attempt, self.policy.backoff_base, self.policy.backoff_max)
                        })
                        .min(self.policy.max_retry_after);
                    tokio::time::sleep(wait).await;
                }
                Err(failure) => {
                    break match failure.kind {
                        FailureKind::Status(code) => RobotsStatus::from_http(code, &[]),
                        _ => RobotsStatus::Unreachable,
                    };
                }
            }
        };
        tracing::debug!(message = "robots.txt read.", url = %robots, unreachable = matches!(status, RobotsStatus::Unreachable));
        let ttl = match status {
            RobotsStatus::Unreachable => ROBOTS_UNREACHABLE_TTL,
            _ => ROBOTS_TTL,
        };
        Entry {
            status,
            expires: Instant::now() + ttl,
        }
    }
}
