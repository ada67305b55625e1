//! Live counters shared by the stages. Cheap to update from any thread; read by the
//! progress display through [`Stats::snapshot`] and turned into the final
//! [`crate::Summary`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::gate::Gate;

mod window;

pub use window::{HostWindow, WindowRecorder};

/// Slowest latency the histogram tells apart (ms); slower ones are clamped to it.
const LATENCY_MAX_MS: u64 = 10 * 60 * 1000;

/// Counters for one crawl.
#[derive(Debug)]
pub struct Stats {
    started: Instant,
    threads: usize,
    gate: Arc<Gate>,
    pub(crate) pages_ok: AtomicU64,
    pub(crate) pages_failed: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) discovered: AtomicU64,
    pub(crate) pages_skipped: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    /// URLs requested at least once.
    pub(crate) pages_requested: AtomicU64,
    /// Links found on pages (every element the follow rule matched).
    pub(crate) links_found: AtomicU64,
    /// Found links the frontier took as new.
    pub(crate) links_queued: AtomicU64,
    /// Found links the frontier already knew.
    pub(crate) links_duplicate: AtomicU64,
    /// Start tags the parser dropped (nesting past its cap, element budget).
    pub(crate) tags_dropped: AtomicU64,
    /// Completions refused because the lease had gone to another worker.
    pub(crate) stale_leases: AtomicU64,
    pub(crate) cpu_busy_nanos: AtomicU64,
    pub(crate) cpu_backlog: AtomicU64,
    /// Failure label → count. Touched once per failed URL only.
    failures: Mutex<BTreeMap<String, u64>>,
    /// Skip label (robots.txt, scope of a redirect) → count.
    skips: Mutex<BTreeMap<String, u64>>,
    /// Why discovered links were not queued → count. Touched once per page.
    dropped_links: Mutex<BTreeMap<String, u64>>,
    /// Bodies saved without parsing although served as HTML (`binary_as_html`) → count.
    not_parsed: Mutex<BTreeMap<String, u64>>,
    /// Pages fetched but not saved by the files sink (a link in the output folder) → count.
    outputs_refused: Mutex<BTreeMap<String, u64>>,
    /// Per-successful-fetch latency in ms (3 significant digits).
    latency: Mutex<Histogram<u64>>,
    /// The current control window's attempts, for the concurrency controller.
    pub(crate) window: WindowRecorder,
    /// The controller's decisions over time, for the summary.
    history: Mutex<Vec<crate::report::LimitPoint>>,
}

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default)]
pub struct StatsSnapshot {
    /// Since the crawl started.
    pub elapsed: Duration,
    /// Pages fetched and processed.
    pub pages_ok: u64,
    /// URLs given up on.
    pub pages_failed: u64,
    /// URLs skipped by the crawl's rules (robots.txt, redirects out of scope).
    pub pages_skipped: u64,
    /// Distinct URLs queued so far (seeds included).
    pub discovered: u64,
    /// Requests in flight now.
    pub in_flight: usize,
    /// The current global concurrency limit.
    pub limit: usize,
    /// Bodies waiting for or in the CPU pool.
    pub cpu_backlog: u64,
    /// Decoded body bytes.
    pub bytes: u64,
    /// Retries made.
    pub retries: u64,
}

impl StatsSnapshot {
    /// Pages (ok or failed) per second of wall time.
    pub fn rate(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.pages_ok + self.pages_failed) as f64 / secs
        } else {
            0.0
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere; keep counting.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Stats {
    pub(crate) fn new(threads: usize, gate: Arc<Gate>) -> Self {
        Self {
            started: Instant::now(),
            threads,
            gate,
            pages_ok: AtomicU64::new(0),
            pages_failed: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            discovered: AtomicU64::new(0),
            pages_skipped: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            pages_requested: AtomicU64::new(0),
            links_found: AtomicU64::new(0),
            links_queued: AtomicU64::new(0),
            links_duplicate: AtomicU64::new(0),
            tags_dropped: AtomicU64::new(0),
            stale_leases: AtomicU64::new(0),
            cpu_busy_nanos: AtomicU64::new(0),
            cpu_backlog: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
            skips: Mutex::new(BTreeMap::new()),
            dropped_links: Mutex::new(BTreeMap::new()),
            outputs_refused: Mutex::new(BTreeMap::new()),
            not_parsed: Mutex::new(BTreeMap::new()),
            // Invariant: the bounds are constants that hdrhistogram accepts (1 ≤ low, 2·low ≤ high, sigfig ≤ 5).
            window: WindowRecorder::default(),
            history: Mutex::new(Vec::new()),
            latency: Mutex::new(
                Histogram::new_with_bounds(1, LATENCY_MAX_MS, 3).expect("valid histogram bounds"),
            ),
        }
    }

    pub(crate) fn record_ok(&self, bytes: u64, latency: Duration) {
        self.pages_ok.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let ms = (latency.as_millis() as u64).clamp(1, LATENCY_MAX_MS);
        // Cannot fail: the value is clamped into the histogram's bounds.
        let _ = lock(&self.latency).record(ms);
    }

    pub(crate) fn record_failure(&self, label: &str) {
        self.pages_failed.fetch_add(1, Ordering::Relaxed);
        *lock(&self.failures).entry(label.to_owned()).or_default() += 1;
    }

    pub(crate) fn record_skip(&self, label: &str) {
        self.pages_skipped.fetch_add(1, Ordering::Relaxed);
        *lock(&self.skips).entry(label.to_owned()).or_default() += 1;
    }

    pub(crate) fn record_not_parsed(&self, label: &str) {
        *lock(&self.not_parsed).entry(label.to_owned()).or_default() += 1;
    }

    pub(crate) fn not_parsed(&self) -> BTreeMap<String, u64> {
        lock(&self.not_parsed).clone()
    }

    pub(crate) fn record_output_refused(&self, label: &str) {
        *lock(&self.outputs_refused)
            .entry(label.to_owned())
            .or_default() += 1;
    }

    pub(crate) fn outputs_refused(&self) -> BTreeMap<String, u64> {
        lock(&self.outputs_refused).clone()
    }

    pub(crate) fn record_dropped_links_n(&self, label: &str, n: u64) {
        if n > 0 {
            *lock(&self.dropped_links)
                .entry(label.to_owned())
                .or_default() += n;
        }
    }

    pub(crate) fn record_dropped_links(&self, labels: Vec<String>) {
        if labels.is_empty() {
            return;
        }
        let mut dropped = lock(&self.dropped_links);
        for label in labels {
            *dropped.entry(label).or_default() += 1;
        }
    }

    /// Keeps a controller decision for the summary. Bounded: past `MAX_HISTORY` points every
    /// other point is dropped, so a week-long crawl keeps its whole shape at a coarser grain.
    pub(crate) fn record_limit(&self, point: crate::report::LimitPoint) {
        const MAX_HISTORY: usize = 2048;
        let mut history = lock(&self.history);
        if history.len() >= MAX_HISTORY {
            let mut keep = false;
            history.retain(|_| {
                keep = !keep;
                keep
            });
        }
        history.push(point);
    }

    pub(crate) fn history(&self) -> Vec<crate::report::LimitPoint> {
        lock(&self.history).clone()
    }

    /// The CPU pool's threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Since the crawl started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn skips(&self) -> BTreeMap<String, u64> {
        lock(&self.skips).clone()
    }

    pub(crate) fn dropped_links(&self) -> BTreeMap<String, u64> {
        lock(&self.dropped_links).clone()
    }

    pub(crate) fn add(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            elapsed: self.started.elapsed(),
            pages_ok: self.pages_ok.load(Ordering::Relaxed),
            pages_failed: self.pages_failed.load(Ordering::Relaxed),
            pages_skipped: self.pages_skipped.load(Ordering::Relaxed),
            discovered: self.discovered.load(Ordering::Relaxed),
            in_flight: self.gate.in_flight(),
            limit: self.gate.global_limit(),
            cpu_backlog: self.cpu_backlog.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn failures(&self) -> BTreeMap<String, u64> {
        lock(&self.failures).clone()
    }

    /// Latency percentiles in ms: (p50, p95, max); zeros when nothing succeeded.
    pub(crate) fn latency_ms(&self) -> (u64, u64, u64) {
        let histogram = lock(&self.latency);
        if histogram.is_empty() {
            return (0, 0, 0);
        }
        (
            histogram.value_at_quantile(0.50),
            histogram.value_at_quantile(0.95),
            histogram.max(),
        )
    }

    /// Share of the CPU pool's capacity spent processing pages, over the whole run.
    pub(crate) fn cpu_busy_share(&self) -> f64 {
        let capacity = self.started.elapsed().as_secs_f64() * self.threads as f64;
        if capacity > 0.0 {
            (self.cpu_busy_nanos.load(Ordering::Relaxed) as f64 / 1e9 / capacity).min(1.0)
        } else {
            0.0
        }
    }

    pub(crate) fn peak_in_flight(&self) -> usize {
        self.gate.peak()
    }
}
