//! Request counters: totals, concurrency peaks, faults sent, per host and per path.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

/// Distinct paths counted in [`SiteStats::per_path`]; later new paths are not added (so a
/// million-page crawl does not grow the map without bound) and `per_path_truncated` is set.
pub const PER_PATH_LIMIT: usize = 100_000;

/// A snapshot of what the site has served (the `/__*` endpoints and `/robots.txt` excluded).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct SiteStats {
    /// Requests received, 429s included.
    pub requests: u64,
    /// Most requests in flight at once, over all hosts (from arrival to the end of the body,
    /// time spent queued for capacity included; immediate 429s excluded).
    pub peak_concurrency: u64,
    /// 429 responses sent.
    pub sent_429: u64,
    /// 503 refusals sent by hosts with a rate-limit behaviour.
    #[serde(default)]
    pub sent_503: u64,
    /// Injected 500 responses sent.
    pub sent_500: u64,
    /// Connections dropped mid-body.
    pub dropped: u64,
    /// One entry per host, in host order.
    pub per_host: Vec<HostStats>,
    /// Requests per path (raw, as requested, without the query), 429s included.
    pub per_path: BTreeMap<String, u64>,
    /// True when more than [`PER_PATH_LIMIT`] distinct paths were seen.
    #[serde(default)]
    pub per_path_truncated: bool,
}

/// Counters of one host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Requests received by this host, 429s included.
    pub requests: u64,
    /// Most requests in flight at once on this host (queued ones included).
    pub peak_concurrency: u64,
    /// 429 responses sent by this host.
    pub sent_429: u64,
    /// Most requests being worked on at once (holding a capacity slot; equals
    /// `peak_concurrency` when no capacity is set). Never above the configured capacity.
    #[serde(default)]
    pub peak_active: u64,
    /// 503 refusals sent by this host (its rate-limit behaviour's status).
    #[serde(default)]
    pub sent_503: u64,
    /// Most requests open on this host at once, counted at each arrival (the arriving one
    /// included) from the moment the host's first refusal was answered: admitted ones in
    /// flight and refusals not yet answered. What a client kept in flight once it could know
    /// it had hit the limit (a client that honours a cap of K shows at most K + 1). 0 when
    /// nothing was refused.
    #[serde(default)]
    pub peak_after_refusal: u64,
}

#[derive(Debug, Default)]
struct HostCounters {
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak: AtomicU64,
    sent_429: AtomicU64,
    sent_503: AtomicU64,
    active: AtomicU64,
    peak_active: AtomicU64,
    /// Requests open: admitted and in flight, or refused and not yet answered.
    open: AtomicU64,
    /// Whether a refusal has been answered (since the last reset).
    refusal_answered: AtomicBool,
    peak_after_refusal: AtomicU64,
}

/// Live counters, shared by every connection.
#[derive(Debug)]
pub(crate) struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak: AtomicU64,
    sent_429: AtomicU64,
    sent_503: AtomicU64,
    sent_500: AtomicU64,
    dropped: AtomicU64,
    hosts: Vec<HostCounters>,
    per_path: Mutex<HashMap<String, u64>>,
    per_path_truncated: AtomicBool,
}

impl Stats {
    pub(crate) fn new(hosts: usize) -> Stats {
        Stats {
            requests: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            sent_429: AtomicU64::new(0),
            sent_503: AtomicU64::new(0),
            sent_500: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            hosts: (0..hosts).map(|_| HostCounters::default()).collect(),
            per_path: Mutex::new(HashMap::new()),
            per_path_truncated: AtomicBool::new(false),
        }
    }

    /// Counts an arriving request.
    pub(crate) fn arrived(&self, host: usize, path: &str) {
        self.requests.fetch_add(1, Relaxed);
        self.hosts[host].requests.fetch_add(1, Relaxed);
        // Poisoning would only follow a panic while incrementing: the map is still usable.
        let mut map = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(path) {
            *n += 1;
        } else if map.len() < PER_PATH_LIMIT {
            map.insert(path.to_owned(), 1);
        } else {
            self.per_path_truncated.store(true, Relaxed);
        }
    }

    /// Opens an arriving request on `host`: counted as open until the guard drops.
    pub(crate) fn open(self: &Arc<Self>, host: usize) -> Open {
        let h = &self.hosts[host];
        let open = h.open.fetch_add(1, Relaxed) + 1;
        if h.refusal_answered.load(Relaxed) {
            h.peak_after_refusal.fetch_max(open, Relaxed);
        }
        Open {
            stats: Arc::clone(self),
            host,
        }
    }

    /// Requests in flight on `host` now (admitted ones, queued included).
    pub(crate) fn in_flight(&self, host: usize) -> usize {
        usize::try_from(self.hosts[host].in_flight.load(Relaxed)).unwrap_or(usize::MAX)
    }

    /// Counts a refusal with `status` (429 or 503) sent by `host`'s rate-limit behaviour.
    pub(crate) fn refused(&self, host: usize, status: u16) {
        let h = &self.hosts[host];
        if status == 503 {
            h.sent_503.fetch_add(1, Relaxed);
            self.sent_503.fetch_add(1, Relaxed);
        } else {
            h.sent_429.fetch_add(1, Relaxed);
            self.sent_429.fetch_add(1, Relaxed);
        }
    }

    /// A refusal on `host` is being answered: from now on, arrivals count towards
    /// `peak_after_refusal`.
    pub(crate) fn refusal_answered(&self, host: usize) {
        self.hosts[host].refusal_answered.store(true, Relaxed);
    }

    /// Admits a request on `host` unless `cap` requests are already in flight there.
    /// Returns `None` (and counts a 429) when the cap is reached.
    pub(crate) fn admit(self: &Arc<Self>, host: usize, cap: Option<usize>) -> Option<InFlight> {
        let Some(cap) = cap else {
            return Some(self.enter(host));
        };
        let h = &self.hosts[host];
        match h
            .in_flight
            .fetch_update(Relaxed, Relaxed, |n| (n < cap as u64).then_some(n + 1))
        {
            Ok(prev) => Some(self.entered(host, prev + 1)),
            Err(_) => {
                h.sent_429.fetch_add(1, Relaxed);
                self.sent_429.fetch_add(1, Relaxed);
                None
            }
        }
    }

    /// Admits a request on `host` whatever is in flight there.
    pub(crate) fn enter(self: &Arc<Self>, host: usize) -> InFlight {
        let now = self.hosts[host].in_flight.fetch_add(1, Relaxed) + 1;
        self.entered(host, now)
    }

    /// Counts the peaks of a request just admitted with `in_flight` on its host.
    fn entered(self: &Arc<Self>, host: usize, in_flight: u64) -> InFlight {
        self.hosts[host].peak.fetch_max(in_flight, Relaxed);
        let total = self.in_flight.fetch_add(1, Relaxed) + 1;
        self.peak.fetch_max(total, Relaxed);
        InFlight {
            stats: Arc::clone(self),
            host,
            active: false,
        }
    }

    pub(crate) fn sent_500(&self) {
        self.sent_500.fetch_add(1, Relaxed);
    }

    pub(crate) fn dropped(&self) {
        self.dropped.fetch_add(1, Relaxed);
    }

    /// A snapshot of the counters.
    pub(crate) fn snapshot(&self) -> SiteStats {
        let per_path = self.per_path.lock().unwrap_or_else(|e| e.into_inner());
        SiteStats {
            requests: self.requests.load(Relaxed),
            peak_concurrency: self.peak.load(Relaxed),
            sent_429: self.sent_429.load(Relaxed),
            sent_503: self.sent_503.load(Relaxed),
            sent_500: self.sent_500.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            per_host: self
                .hosts
                .iter()
                .map(|h| HostStats {
                    requests: h.requests.load(Relaxed),
                    peak_concurrency: h.peak.load(Relaxed),
                    sent_429: h.sent_429.load(Relaxed),
                    peak_active: h.peak_active.load(Relaxed),
                    sent_503: h.sent_503.load(Relaxed),
                    peak_after_refusal: h.peak_after_refusal.load(Relaxed),
                })
                .collect(),
            per_path: per_path.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            per_path_truncated: self.per_path_truncated.load(Relaxed),
        }
    }

    /// Zeroes the counters; peaks restart from what is in flight now.
    pub(crate) fn reset(&self) {
        for c in [
            &self.requests,
            &self.sent_429,
            &self.sent_503,
            &self.sent_500,
            &self.dropped,
        ] {
            c.store(0, Relaxed);
        }
        self.peak.store(self.in_flight.load(Relaxed), Relaxed);
        for h in &self.hosts {
            h.requests.store(0, Relaxed);
            h.sent_429.store(0, Relaxed);
            h.sent_503.store(0, Relaxed);
            h.refusal_answered.store(false, Relaxed);
            h.peak_after_refusal.store(0, Relaxed);
            h.peak.store(h.in_flight.load(Relaxed), Relaxed);
            h.peak_active.store(h.active.load(Relaxed), Relaxed);
        }
        self.per_path
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.per_path_truncated.store(false, Relaxed);
    }
}

/// A request in flight: counted until dropped (the body owns it, so it lasts until the body
/// has been sent or the connection is gone).
#[derive(Debug)]
pub(crate) struct InFlight {
    stats: Arc<Stats>,
    host: usize,
    active: bool,
}

impl InFlight {
    /// Marks the request as being worked on (it has its capacity slot).
    pub(crate) fn activate(&mut self) {
        if !self.active {
            self.active = true;
            let h = &self.stats.hosts[self.host];
            let n = h.active.fetch_add(1, Relaxed) + 1;
            h.peak_active.fetch_max(n, Relaxed);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let h = &self.stats.hosts[self.host];
        h.in_flight.fetch_sub(1, Relaxed);
        if self.active {
            h.active.fetch_sub(1, Relaxed);
        }
        self.stats.in_flight.fetch_sub(1, Relaxed);
    }
}

/// A request open on a host (admitted or being refused): counted until dropped.
#[derive(Debug)]
pub(crate) struct Open {
    stats: Arc<Stats>,
    host: usize,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.stats.hosts[self.host].open.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_and_peaks() {
        let s = Arc::new(Stats::new(2));
        let a = s.admit(0, Some(2));
        let mut b = s.admit(0, Some(2)).expect("second fits");
        b.activate();
        assert!(a.is_some());
        assert!(s.admit(0, Some(2)).is_none());
        let c = s.admit(1, Some(2));
        assert!(c.is_some());
        let snap = s.snapshot();
        assert_eq!(snap.sent_429, 1);
        assert_eq!(snap.per_host[0].sent_429, 1);
        assert_eq!(snap.per_host[0].peak_concurrency, 2);
        assert_eq!(snap.per_host[0].peak_active, 1);
        assert_eq!(snap.peak_concurrency, 3);
        drop((a, b, c));
        s.reset();
        assert_eq!(s.snapshot().peak_concurrency, 0);
        assert!(s.admit(0, Some(2)).is_some());
    }

    #[test]
    fn peak_after_refusal_counts_from_the_first_answered_refusal() {
        let s = Arc::new(Stats::new(1));
        let early: Vec<Open> = (0..5).map(|_| s.open(0)).collect();
        assert_eq!(s.snapshot().per_host[0].peak_after_refusal, 0);
        s.refused(0, 503);
        s.refusal_answered(0);
        drop(early);
        let a = s.open(0);
        let b = s.open(0);
        drop((a, b));
        let snap = s.snapshot();
        assert_eq!(snap.per_host[0].peak_after_refusal, 2);
        assert_eq!((snap.sent_503, snap.per_host[0].sent_503), (1, 1));
        assert_eq!(snap.sent_429, 0);
        s.reset();
        drop(s.open(0));
        assert_eq!(s.snapshot().per_host[0].peak_after_refusal, 0);
    }

    #[test]
    fn per_path_counts() {
        let s = Stats::new(1);
        s.arrived(0, "/a");
        s.arrived(0, "/a");
        s.arrived(0, "/b");
        let snap = s.snapshot();
        assert_eq!(snap.requests, 3);
        assert_eq!(snap.per_path.get("/a"), Some(&2));
        assert_eq!(snap.per_host[0].requests, 3);
    }
}
