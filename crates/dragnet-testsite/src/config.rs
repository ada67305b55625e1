//! What a test site serves and how badly it behaves.

use std::path::PathBuf;
use std::time::Duration;

use crate::limits::Behaviour;
use crate::rng;

/// Everything that shapes a [`TestSite`](crate::TestSite): the content (profile and seed) and
/// the faults (latency, rate limits, capacity, errors, drops, bandwidth, robots.txt).
///
/// Every random choice is a pure function of `seed`, the request path and the attempt number
/// for that path, so two sites with the same config behave the same way.
#[derive(Clone, Debug)]
pub struct SiteConfig {
    /// Which synthetic site to serve.
    pub profile: Profile,
    /// Seed for every deterministic choice (default 1).
    pub seed: u64,
    /// Delay added before the response headers.
    pub latency: Latency,
    /// Per host: a request that arrives while this many are already in flight gets an
    /// immediate 429 with `Retry-After`.
    pub cap_429: Option<usize>,
    /// Seconds sent in `Retry-After` with a 429 (default 1).
    pub retry_after_secs: u64,
    /// Per host: at most this many requests are worked on at once (latency and body
    /// included); the others wait in a FIFO queue, so latency grows with load.
    pub capacity: Option<usize>,
    /// Share of requests answered with a 500 (deterministic per path and attempt).
    pub error_rate: f64,
    /// Share of requests whose connection is dropped mid-body: the headers promise the full
    /// `Content-Length`, about half the body is sent, then the connection is closed.
    pub drop_rate: f64,
    /// After this many injected failures (500s and drops) on one path, that path always
    /// succeeds (default 2), so a client that retries enough always gets through.
    pub max_errors_per_path: u32,
    /// Per connection: the body is streamed at this many bytes per second.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Served at `/robots.txt`; `None` answers 404. Every `{origin}` in it is replaced by the
    /// serving host's `http://127.0.0.1:PORT`, so it can name the site's sitemaps
    /// (`Sitemap: {origin}/sitemap.xml`) before the port is known.
    pub robots_txt: Option<String>,
    /// When set, `/robots.txt` answers this status (e.g. 403 or 503) with a short text body,
    /// whatever `robots_bytes` and `robots_txt` say. A code that is not a valid HTTP status
    /// answers 500.
    pub robots_status: Option<u16>,
    /// When set (and `robots_status` is not), `/robots.txt` is an oversized file of exactly
    /// this many bytes instead of `robots_txt`: `User-agent: *` and `Disallow: /private/`, then
    /// comment lines. When it is at least 520,000 bytes, a `Disallow: /late/` line starts at
    /// the first line boundary at or after [`ROBOTS_READ_LIMIT`](crate::ROBOTS_READ_LIMIT)
    /// (500 KiB), so only a reader that ignores the RFC 9309 limit sees it.
    pub robots_bytes: Option<usize>,
    /// Rate-limit behaviours per host: host `i` serves `behaviours[i % len]`, which then
    /// sets its latency, capacity and limit (`latency`, `capacity`, `cap_429` and
    /// `retry_after_secs` do not apply to it). Empty: every host behaves as the fields
    /// above say.
    pub behaviours: Vec<Behaviour>,
}

impl Default for SiteConfig {
    /// The countries profile, seed 1, no latency, no limits, no errors.
    fn default() -> Self {
        SiteConfig {
            profile: Profile::Countries,
            seed: 1,
            latency: Latency::none(),
            cap_429: None,
            retry_after_secs: 1,
            capacity: None,
            error_rate: 0.0,
            drop_rate: 0.0,
            max_errors_per_path: 2,
            bandwidth_bytes_per_sec: None,
            robots_txt: None,
            robots_status: None,
            robots_bytes: None,
            behaviours: Vec::new(),
        }
    }
}

impl SiteConfig {
    /// The number of hosts (listeners) the profile needs.
    pub fn host_count(&self) -> usize {
        match self.profile {
            Profile::Countries | Profile::Real { .. } => 1,
            Profile::Web { hosts, .. } => hosts.max(1),
        }
    }

    /// Whether per-path attempt numbers are needed to make faults and latency deterministic.
    pub(crate) fn tracks_attempts(&self) -> bool {
        self.error_rate > 0.0
            || self.drop_rate > 0.0
            || self.latency.is_random()
            || self.behaviours.iter().any(|b| b.latency().is_random())
    }

    /// The rate-limit behaviour of `host`, if the site has any.
    pub fn behaviour(&self, host: usize) -> Option<&Behaviour> {
        match self.behaviours.len() {
            0 => None,
            n => self.behaviours.get(host % n),
        }
    }

    /// The capacity of `host`: its behaviour's, or the site's.
    pub(crate) fn host_capacity(&self, host: usize) -> Option<usize> {
        match self.behaviour(host) {
            Some(b) => b.capacity,
            None => self.capacity,
        }
    }
}

/// The synthetic site a [`TestSite`](crate::TestSite) serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A copy of the tutorial's job: `/wiki/List_of_countries_and_dependencies_by_population`
    /// with 233 flag-icon rows, and one Wikipedia-like page of 150 KB to 1.2 MB per country.
    Countries,
    /// A synthetic web of `pages` pages `/p/{id}`, spread over `hosts` listeners
    /// (page `id` lives on host `id % hosts`), each linking to about `links_per_page` others.
    /// Every page is reachable from `/p/0` on host 0. Pages are generated per request, so
    /// this scales to millions of pages.
    Web {
        /// Number of pages (ids `0..pages`).
        pages: u64,
        /// Number of hosts (one listener each; at least 1).
        hosts: usize,
        /// Links per page (the two tree links to `2id+1` and `2id+2` are always included).
        links_per_page: usize,
        /// Mean body size; sizes are log-normal around it.
        mean_page_bytes: usize,
    },
    /// Real web pages: every `*.html` file of `dir` at `/real/{file name}`, byte for byte, with
    /// the charset from the folder's `INDEX.json` in `Content-Type` when known, and an index
    /// page `/real/` linking to all of them (`/` redirects there). One host. The files are
    /// read when the site starts; a missing folder fails the start.
    Real {
        /// The folder, e.g. `shared/data/real-pages`.
        dir: PathBuf,
    },
}

/// Delay added before the response headers, drawn per `(seed, path, attempt)`.
///
/// A request is a "tail" request with probability `tail_share` and then waits `tail_ms`;
/// otherwise it waits `mean_ms` plus a uniform offset in `[-jitter_ms, +jitter_ms]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Typical delay.
    pub mean_ms: u64,
    /// Half-width of the uniform jitter around `mean_ms`.
    pub jitter_ms: u64,
    /// Share of requests that take `tail_ms` instead.
    pub tail_share: f64,
    /// Delay of a tail request.
    pub tail_ms: u64,
}

impl Latency {
    /// No delay.
    pub fn none() -> Self {
        Latency::default()
    }

    /// `mean_ms` ± `jitter_ms`, no tail.
    pub fn new(mean_ms: u64, jitter_ms: u64) -> Self {
        Latency {
            mean_ms,
            jitter_ms,
            tail_share: 0.0,
            tail_ms: 0,
        }
    }

    /// Adds a heavy tail: `share` of the requests take `tail_ms`.
    pub fn with_tail(self, share: f64, tail_ms: u64) -> Self {
        Latency {
            tail_share: share,
            tail_ms,
            ..self
        }
    }

    /// True when the delay varies between requests.
    pub(crate) fn is_random(&self) -> bool {
        self.jitter_ms > 0 || self.tail_share > 0.0
    }

    /// The delay for one request, a pure function of its inputs.
    pub fn delay(&self, seed: u64, path_hash: u64, attempt: u32) -> Duration {
        if self.mean_ms == 0 && !self.is_random() {
            return Duration::ZERO;
        }
        let h = rng::key(seed, path_hash, u64::from(attempt), 0x1a7e);
        if self.tail_share > 0.0 && rng::unit(h) < self.tail_share {
            return Duration::from_millis(self.tail_ms);
        }
        if self.jitter_ms == 0 {
            return Duration::from_millis(self.mean_ms);
        }
        let width = 2 * self.jitter_ms + 1;
        let offset = rng::mix(h) % width;
        let ms = (self.mean_ms + offset).saturating_sub(self.jitter_ms);
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_deterministic_and_bounded() {
        let l = Latency::new(100, 20);
        for attempt in 0..200 {
            let d = l.delay(1, 42, attempt);
            assert_eq!(d, l.delay(1, 42, attempt));
            assert!((80..=120).contains(&(d.as_millis() as u64)), "{d:?}");
        }
        assert_eq!(Latency::none().delay(1, 2, 3), Duration::ZERO);
        assert_eq!(
            Latency::new(50, 0).delay(1, 2, 3),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn latency_tail_share_is_respected() {
        let l = Latency::new(10, 0).with_tail(0.1, 1000);
        let tails = (0..10_000u64)
            .filter(|p| l.delay(7, *p, 0) == Duration::from_millis(1000))
            .count();
        assert!((800..1200).contains(&tails), "{tails}");
    }
}
