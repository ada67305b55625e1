//! The fetch stage: one attempt at a URL, following redirects, with every body read capped.
//! Retrying is the pipeline's job (it owns the politeness gate that a retry must pass again).

mod address;
mod attempts;
pub mod body;
pub use body::Body;
use body::{BodyBudget, Overflow};
mod failure;
mod resolve;
pub mod retry;
mod tls;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::header::{
    ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, RETRY_AFTER,
};
use http::{HeaderMap, HeaderValue};
use tokio::time::Instant;
use url::Url;

pub use address::is_private;
pub use attempts::{Attempted, Retrier, RetryPolicy, fetch_with_retries};
use failure::by_deadline;
pub use failure::{FailureKind, FetchFailure};

use crate::config::Config;
use crate::error::Error;

/// What we accept: HTML first, anything else after. We decode gzip and deflate ourselves,
/// under our own size cap, so only those are offered.
const ACCEPT_VALUE: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
const ACCEPT_ENCODING_VALUE: &str = "gzip, deflate";
/// Bytes of an error response read (and dropped) so the connection can be reused.
const ERROR_BODY_DRAIN: u64 = 64 * 1024;
/// Idle connections kept per host for the next request. Few: hyper sizes a connection's read
/// buffer to its largest reads (up to ~400 KB when a page arrives faster than it is read,
/// as over a fast link) and keeps that buffer for as long as the connection lives, idle or
/// reused, and reqwest has no setting to cap it. A connection handed back to a pool that
/// already holds this many is closed, so a burst of completions does not leave as many
/// large buffers behind; in steady flow a returned connection is taken again at once, so
/// keep-alive still works. With the pool as large as the per-host limit, this was 20-30 MB
/// of the reference job's peak at 128-256 in flight (zero latency).
const MAX_IDLE_PER_HOST: usize = 4;

/// Decides whether a redirect may be followed: the same checks (scope, robots.txt, traps)
/// a discovered link passes. Async because robots.txt may have to be fetched.
pub trait RedirectGuard: Send + Sync {
    /// `Ok` to follow the redirect to `target`; otherwise the failure to record.
    fn check<'a>(
        &'a self,
        target: &'a Url,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchFailure>> + Send + 'a>>;
}

/// Follows every redirect (the `links` command, robots.txt itself).
#[derive(Clone, Copy, Debug, Default)]
pub struct FollowAll;

impl RedirectGuard for FollowAll {
    fn check<'a>(
        &'a self,
        _target: &'a Url,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchFailure>> + Send + 'a>>
    {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A successful response, body still as received (content-encoded).
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The URL requested.
    pub url: Url,
    /// The URL that answered, after redirects.
    pub final_url: Url,
    /// The final status (2xx).
    pub status: u16,
    /// The final response's headers.
    pub headers: HeaderMap,
    /// The body as received, before content decoding.
    pub raw_body: Body,
    /// Redirect hops followed.
    pub redirects: u32,
    /// Time from the first request to the last body byte, less any wait for room in the
    /// body memory budget ([`body::BODY_MEMORY`]): that wait is ours, not the server's.
    pub elapsed: Duration,
    /// The HTTP version of the final response.
    pub version: http::Version,
    /// The headers sent with the final request, as an archive records them.
    pub request_headers: HeaderMap,
    /// The address that answered, when known.
    pub remote_addr: Option<std::net::SocketAddr>,
}

impl Fetched {
    /// The Content-Type header, if it is valid text.
    pub fn content_type(&self) -> Option<&str> {
        header_str(&self.headers, CONTENT_TYPE.as_str())
    }

    /// The Content-Encoding header, if it is valid text.
    pub fn content_encoding(&self) -> Option<&str> {
        header_str(&self.headers, CONTENT_ENCODING.as_str())
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The HTTP client with the crawl's limits.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    max_body: u64,
    /// Keep the first `max_body` bytes of a longer body instead of failing (robots.txt:
    /// RFC 9309 reads the first 500 KiB).
    truncate: bool,
    /// What every request carries (User-Agent, Accept, Accept-Encoding), for archives.
    default_headers: HeaderMap,
    max_redirects: u32,
    /// Refuses what the web sends toward private addresses (what the user typed is trusted).
    address_guard: resolve::AddressGuard,
    /// Bodies in memory at once, shared by every clone (robots.txt, sitemaps).
    budget: BodyBudget,
    /// The system's roots, read before the first https request.
    tls: Arc<tls::LazyRoots>,
    /// Requests sent and redirects followed, shared by every clone, for the summary.
    counts: Arc<RequestCounts>,
}

/// What a [`Fetcher`] and its clones sent, for the summary's request accounting.
#[derive(Debug, Default)]
pub struct RequestCounts {
    /// HTTP requests attempted (every redirect hop is one), including those refused before
    /// they left (a private address, no time left).
    pub sent: std::sync::atomic::AtomicU64,
    /// Redirects followed (each led to one more request).
    pub redirects: std::sync::atomic::AtomicU64,
}

impl Fetcher {
    /// Builds the client: a few idle connections kept per host ([`MAX_IDLE_PER_HOST`]), our
    /// own redirect handling (so every hop is checked), the guarded resolver, and the
    /// memory budget for bodies ([`body::BODY_MEMORY`]).
    ///
    /// # Errors
    /// [`Error::Client`] when the client cannot be built; [`Error::Config`] when the TLS
    /// configuration cannot (an installed crypto provider without TLS 1.2 or 1.3 suites).
    pub fn new(config: &Config) -> Result<Self, Error> {
        // reqwest is built without a default crypto provider (no C toolchain needed for
        // aws-lc); install ring once. A second call finds one installed, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let tls = Arc::new(tls::LazyRoots::new(provider));
        let tls_config = tls
            .client_config()
            .map_err(|e| Error::Config(format!("TLS setup: {e}")))?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(ACCEPT_VALUE));
        headers.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static(ACCEPT_ENCODING_VALUE),
        );
        let user_agent = HeaderValue::from_str(&config.user_agent).map_err(|_| {
            Error::Config(format!(
                "user agent {:?} is not a valid header value",
                config.user_agent
            ))
        })?;
        headers.insert(http::header::USER_AGENT, user_agent);
        let guard = resolve::AddressGuard::new(config, Arc::new(resolve::SystemLookup));
        let mut builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config)
            .default_headers(headers.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .pool_max_idle_per_host(
                MAX_IDLE_PER_HOST
                    .min(config.per_host)
                    .min(config.concurrency),
            )
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .dns_resolver(Arc::new(guard.resolver()));
        for (host, addr) in &config.resolve {
            builder = builder.resolve(host, *addr);
        }
        let client = builder.build().map_err(Error::Client)?;
        Ok(Self {
            client,
            timeout: config.timeout,
            max_body: config.max_body,
            max_redirects: config.max_redirects,
            address_guard: guard,
            truncate: false,
            default_headers: headers,
            budget: BodyBudget::new(body::BODY_MEMORY),
            tls,
            counts: Arc::default(),
        })
    }

    /// The headers a GET of `url` is sent with (hyper adds Host; we add it here too, so the
    /// record is complete).
    fn request_headers(&self, url: &Url) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.default_headers.len() + 1);
        let host = match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => String::new(),
        };
        if let Ok(value) = HeaderValue::from_str(&host) {
            headers.insert(http::header::HOST, value);
        }
        headers.extend(self.default_headers.clone());
        headers
    }

    /// Requests sent and redirects followed so far by this fetcher and its clones.
    pub fn request_counts(&self) -> &RequestCounts {
        &self.counts
    }

    /// The same client (same connection pool) reading at most `max_body` bytes and keeping
    /// that prefix of longer bodies.
    pub fn truncating(&self, max_body: u64) -> Self {
        Self {
            max_body,
            truncate: true,
            ..self.clone()
        }
    }

    /// One attempt at `url`: redirects followed (each hop checked), body read under the
    /// size cap, all within the time limit.
    ///
    /// # Errors
    /// A [`FetchFailure`] saying what went wrong; the caller decides about retrying.
    pub async fn fetch(
        &self,
        url: &Url,
        guard: &dyn RedirectGuard,
    ) -> Result<Fetched, FetchFailure> {
        let started = Instant::now();
        let deadline = started + self.timeout;
        let mut current = url.clone();
        let mut visited = vec![current.clone()];
        loop {
            self.counts
                .sent
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = self.fetch_hop(&current, deadline).await;
            let hop = match result {
                Ok(hop) => hop,
                Err(mut failure) => {
                    failure.elapsed = started.elapsed();
                    return Err(failure);
                }
            };
            match hop {
                Hop::Done {
                    status,
                    headers,
                    raw_body,
                    version,
                    remote_addr,
                    budget_wait,
                } => {
                    return Ok(Fetched {
                        url: url.clone(),
                        request_headers: self.request_headers(&current),
                        final_url: current,
                        status,
                        headers,
                        raw_body,
                        redirects: visited.len() as u32 - 1,
                        elapsed: started.elapsed().saturating_sub(budget_wait),
                        version,
                        remote_addr,
                    });
                }
                Hop::Redirect(next) => {
                    let limit = if visited.contains(&next) {
                        Some(format!("redirect loop at {next}"))
                    } else if visited.len() as u32 > self.max_redirects {
                        Some(format!("more than {} redirects", self.max_redirects))
                    } else {
                        None
                    };
                    if let Some(message) = limit {
                        let mut failure =
                            FetchFailure::new(FailureKind::RedirectLimit, message, &current);
                        failure.elapsed = started.elapsed();
                        return Err(failure);
                    }
                    // The address guard first: a redirect toward a refused address is
                    // logged as such, never as a claim on a page it may not reach.
                    if let Err((kind, message)) = self.address_guard.check_redirect(&next).await {
                        let mut failure = FetchFailure::new(kind, message, &next);
                        failure.elapsed = started.elapsed();
                        return Err(failure);
                    }
                    if let Err(mut failure) = guard.check(&next).await {
                        failure.elapsed = started.elapsed();
                        return Err(failure);
                    }
                    self.counts
                        .redirects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    visited.push(next.clone());
                    current = next;
                }
            }
        }
    }

    async fn fetch_hop(&self, url: &Url, deadline: Instant) -> Result<Hop, FetchFailure> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchFailure::new(
                FailureKind::BadUrl,
                "not an http(s) URL",
                url,
            ));
        }
        self.address_guard
            .check(url)
            .await
            .map_err(|(kind, message)| FetchFailure::new(kind, message, url))?;
        if deadline <= Instant::now() {
            return Err(FetchFailure::new(FailureKind::Timeout, "no time left", url));
        }
        if url.scheme() == "https" {
            self.tls.warm().await;
        }
        // The deadline is kept here rather than by reqwest (whose timeout would also run
        // while the body waits for room in the memory budget, which is not the server's time).
        let request = self.client.get(url.clone());
        let response = by_deadline(deadline, request.send(), "no response in time", url).await?;
        let status = response.status();
        if status.is_redirection() && status != http::StatusCode::NOT_MODIFIED {
            let location = header_str(response.headers(), LOCATION.as_str()).map(str::to_owned);
            drain(response, deadline, url).await;
            let Some(location) = location else {
                return Err(FetchFailure::new(
                    FailureKind::BadRedirect,
                    "redirect without Location",
                    url,
                ));
            };
            return url.join(location.trim()).map(Hop::Redirect).map_err(|e| {
                FetchFailure::new(
                    FailureKind::BadRedirect,
                    format!("bad Location {location:?}: {e}"),
                    url,
                )
            });
        }
        if !status.is_success() {
            let retry_after = header_str(response.headers(), RETRY_AFTER.as_str())
                .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
            drain(response, deadline, url).await;
            let mut failure = FetchFailure::new(
                FailureKind::Status(status.as_u16()),
                format!("server answered {status}"),
                url,
            );
            failure.retry_after = retry_after;
            return Err(failure);
        }
        let headers = response.headers().clone();
        let version = response.version();
        let remote_addr = response.remote_addr();
        let overflow = if self.truncate {
            Overflow::KeepPrefix
        } else {
            Overflow::Fail
        };
        let read = body::read_body(
            response,
            self.max_body,
            overflow,
            deadline,
            Some(&self.budget),
            url,
        )
        .await?;
        Ok(Hop::Done {
            version,
            remote_addr,
            status: status.as_u16(),
            headers,
            raw_body: read.body,
            budget_wait: read.waited,
        })
    }
}

/// Reads (and drops) the start of a response we will not use, so its connection can be
/// reused for the next request.
async fn drain(response: reqwest::Response, deadline: Instant, url: &Url) {
    let _ = body::read_body(
        response,
        ERROR_BODY_DRAIN,
        Overflow::KeepPrefix,
        deadline,
        None,
        url,
    )
    .await;
}

enum Hop {
    Done {
        status: u16,
        headers: HeaderMap,
        raw_body: Body,
        version: http::Version,
        remote_addr: Option<std::net::SocketAddr>,
        /// Time the body waited for room in the memory budget.
        budget_wait: Duration,
    },
    Redirect(Url),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_a_fetcher_reads_no_certificate_roots() {
        let fetcher = Fetcher::new(&Config::new(Vec::new())).unwrap();
        assert!(!fetcher.tls.is_loaded());
    }
}
