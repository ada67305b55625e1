//! The end-of-crawl summary: what the CLI prints and `--summary-json` writes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::stats::Stats;

/// What a finished crawl did.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// Pages fetched and processed.
    pub pages_ok: u64,
    /// URLs given up on.
    pub pages_failed: u64,
    /// Failed URLs by reason label (`http_404`, `timeout`, ...).
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Distinct URLs queued (seeds and discovered links in scope).
    pub discovered: u64,
    /// URLs skipped by the crawl's rules (robots.txt, redirects out of scope).
    pub pages_skipped: u64,
    /// Skipped URLs by reason (`robots_disallowed`, `out_of_scope`, ...).
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Discovered links not queued, by reason (`out_of_scope`, `trap_repeated_path`,
    /// `host_budget`, ...).
    pub links_dropped_by_reason: BTreeMap<String, u64>,
    /// Pages saved without parsing although served as HTML, by reason (`binary_as_html`:
    /// the first bytes are binary data, as browsers sniff them).
    pub not_parsed_by_reason: BTreeMap<String, u64>,
    /// Pages fetched but not saved by the files sink, by reason (`symlink_in_output`, ...):
    /// the output folder held something dragnet will not write through.
    pub outputs_refused_by_reason: BTreeMap<String, u64>,
    /// Links found on pages: every element the follow rule matched. Adds up as
    /// `links_found = links_queued + links_duplicate + Σ links_dropped_by_reason`
    /// (see [`Summary::links_unaccounted`]).
    pub links_found: u64,
    /// Found links queued as new URLs (`discovered` is these plus the seeds queued).
    pub links_queued: u64,
    /// Found links the frontier already knew (queued, fetched, or reached by a redirect).
    pub links_duplicate: u64,
    /// Start tags the parser dropped to stay linear (nesting past 512, element budget): zero
    /// on real pages.
    pub tags_dropped: u64,
    /// Results dropped because the URL's lease had gone to another worker (a shared or
    /// resumed frontier); that worker records the URL.
    pub stale_leases: u64,
    /// HTTP requests attempted, every redirect hop one. Adds up as `requests =
    /// pages_requested + retries + robots_requests + redirects_followed` (sitemap files,
    /// read before the crawl, come on top; see [`Summary::requests_unaccounted`]).
    pub requests: u64,
    /// URLs requested at least once (the others were skipped before any request).
    pub pages_requested: u64,
    /// Attempts at robots.txt files.
    pub robots_requests: u64,
    /// Redirects followed.
    pub redirects_followed: u64,
    /// Retries made.
    pub retries: u64,
    /// Pages whose body (by sha256) was already seen under another URL.
    pub duplicates: u64,
    /// Decoded body bytes of successful pages.
    pub bytes: u64,
    /// Wall time, seconds.
    pub wall_secs: f64,
    /// URLs (ok, failed or skipped) per second of wall time.
    pub pages_per_sec: f64,
    /// Successful fetch latency, ms (first request to last body byte, redirects included).
    pub latency_ms: Latency,
    /// Most requests in flight at once.
    pub peak_in_flight: usize,
    /// The concurrency setting: a number, or `auto`.
    pub concurrency: String,
    /// The adaptive controller's decisions over time (empty with a fixed concurrency).
    pub limit_history: Vec<LimitPoint>,
    /// Threads in the CPU pool.
    pub threads: usize,
    /// Share of the CPU pool's capacity spent processing (0–1).
    pub cpu_busy_share: f64,
    /// Whether the crawl stopped early (interrupted or a fatal output error).
    pub interrupted: bool,
}

/// One control window's decision.
#[derive(Clone, Debug, Serialize)]
pub struct LimitPoint {
    /// Seconds since the start.
    pub t: f64,
    /// The global limit decided.
    pub limit: usize,
    /// Requests completed per second in the window.
    pub throughput: f64,
    /// Median latency of the busiest host's window, ms.
    pub latency_ms: Option<u64>,
    /// 429/503 answers in the window, all hosts.
    pub overloads: u64,
    /// Per-host limits of the hosts active in the window (the busiest few).
    pub hosts: BTreeMap<String, usize>,
    /// Why the global limit moved.
    pub reason: &'static str,
}

/// Latency percentiles, ms.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// Slowest.
    pub max: u64,
}

fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

/// The request counters kept outside [`Stats`] (by the fetcher and the robots.txt cache).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestTotals {
    pub(crate) sent: u64,
    pub(crate) redirects: u64,
    pub(crate) robots: u64,
}

impl Summary {
    /// Requests not accounted for as a page's first request, a retry, a robots.txt attempt
    /// or a redirect: zero when the counters add up and no sitemap was read.
    pub fn requests_unaccounted(&self) -> i128 {
        i128::from(self.requests)
            - i128::from(self.pages_requested)
            - i128::from(self.retries)
            - i128::from(self.robots_requests)
            - i128::from(self.redirects_followed)
    }

    /// Found links not accounted for as queued, duplicate or dropped by a reason: zero when
    /// the counters add up (a crawl stopped early may leave pages' links uncounted).
    pub fn links_unaccounted(&self) -> i128 {
        let dropped: u64 = self.links_dropped_by_reason.values().sum();
        i128::from(self.links_found)
            - i128::from(self.links_queued)
            - i128::from(self.links_duplicate)
            - i128::from(dropped)
    }

    pub(crate) fn from_stats(
        stats: &Stats,
        requests: RequestTotals,
        concurrency: String,
        threads: usize,
        interrupted: bool,
    ) -> Self {
        let snapshot = stats.snapshot();
        let (p50, p95, max) = stats.latency_ms();
        let wall_secs = snapshot.elapsed.as_secs_f64();
        Self {
            pages_ok: snapshot.pages_ok,
            pages_failed: snapshot.pages_failed,
            failures_by_reason: stats.failures(),
            discovered: snapshot.discovered,
            pages_skipped: snapshot.pages_skipped,
            skipped_by_reason: stats.skips(),
            links_dropped_by_reason: stats.dropped_links(),
            not_parsed_by_reason: stats.not_parsed(),
            outputs_refused_by_reason: stats.outputs_refused(),
            requests: requests.sent,
            pages_requested: load(&stats.pages_requested),
            robots_requests: requests.robots,
            redirects_followed: requests.redirects,
            links_found: load(&stats.links_found),
            links_queued: load(&stats.links_queued),
            links_duplicate: load(&stats.links_duplicate),
            tags_dropped: load(&stats.tags_dropped),
            stale_leases: load(&stats.stale_leases),
            retries: snapshot.retries,
            duplicates: stats.duplicates.load(std::sync::atomic::Ordering::Relaxed),
            bytes: snapshot.bytes,
            wall_secs,
            pages_per_sec: snapshot.rate(),
            latency_ms: Latency { p50, p95, max },
            peak_in_flight: stats.peak_in_flight(),
            concurrency,
            limit_history: stats.history(),
            threads,
            cpu_busy_share: stats.cpu_busy_share(),
            interrupted,
        }
    }
}
