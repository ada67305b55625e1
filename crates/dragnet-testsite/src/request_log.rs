//! The per-host request log: every request in arrival order, so tests can prove politeness
//! (the gap between request starts to one host) and what was fetched.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Entries kept by the request log; later requests are not recorded and
/// [`RequestLog::truncated`] is set.
pub const REQUEST_LOG_LIMIT: usize = 200_000;

/// One request as the site saw it arrive.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// Index of the host (listener) that received it.
    pub host: usize,
    /// Path and query, raw, as requested (e.g. `/session/1?sid=abc`).
    pub path: String,
    /// When the request arrived, since the site started: taken before any latency, capacity
    /// queue or 429 decision. Never decreases along the log. In JSON: `started_ns`.
    #[serde(rename = "started_ns", with = "nanos")]
    pub started: Duration,
    /// Status sent; 0 when the client went away before the response headers were ready.
    pub status: u16,
}

/// The whole log (also served as `GET /__requests.json`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestLog {
    /// Requests in arrival order.
    pub entries: Vec<RequestLogEntry>,
    /// True when more than [`REQUEST_LOG_LIMIT`] requests arrived since the last reset.
    pub truncated: bool,
}

/// `Duration` as whole nanoseconds.
mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_nanos)
    }
}

/// Where an arriving request was written, to fill in its status later.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    index: usize,
    generation: u64,
}

#[derive(Debug, Default)]
struct Inner {
    log: RequestLog,
    /// Bumped by every reset, so a request that arrived before a reset does not write its
    /// status into an entry of the new log.
    generation: u64,
}

/// The live log, shared by every connection.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

impl Recorder {
    /// An empty log whose clock starts now.
    pub(crate) fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Records an arriving request: where (`None` once the log is full) and when, since the
    /// site started (the clock rate limits read, so the log shows what they saw).
    pub(crate) fn arrive(&self, host: usize, path: &str) -> (Option<Slot>, Duration) {
        // Poisoning would only follow a panic while pushing: the log is still usable.
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        // Read the clock under the lock, so `started` never decreases along the log.
        let started = self.start.elapsed();
        if inner.log.entries.len() >= REQUEST_LOG_LIMIT {
            inner.log.truncated = true;
            return (None, started);
        }
        inner.log.entries.push(RequestLogEntry {
            host,
            path: path.to_owned(),
            started,
            status: 0,
        });
        let slot = Slot {
            index: inner.log.entries.len() - 1,
            generation: inner.generation,
        };
        (Some(slot), started)
    }

    /// Fills in the status of the request recorded at `slot`.
    pub(crate) fn finish(&self, slot: Option<Slot>, status: u16) {
        let Some(slot) = slot else { return };
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation == slot.generation
            && let Some(entry) = inner.log.entries.get_mut(slot.index)
        {
            entry.status = status;
        }
    }

    /// A copy of the log.
    pub(crate) fn snapshot(&self) -> RequestLog {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .log
            .clone()
    }

    /// Forgets every entry (the clock keeps running from the site's start).
    pub(crate) fn reset(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.log = RequestLog::default();
        inner.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_in_order_and_fills_status() {
        let r = Recorder::new();
        let (a, _) = r.arrive(0, "/a");
        let (b, _) = r.arrive(1, "/b?x=1");
        r.finish(b, 404);
        r.finish(a, 200);
        let log = r.snapshot();
        assert_eq!(log.entries.len(), 2);
        assert_eq!(
            (
                log.entries[0].host,
                log.entries[0].path.as_str(),
                log.entries[0].status
            ),
            (0, "/a", 200)
        );
        assert_eq!(
            (
                log.entries[1].host,
                log.entries[1].path.as_str(),
                log.entries[1].status
            ),
            (1, "/b?x=1", 404)
        );
        assert!(log.entries[0].started <= log.entries[1].started);
        assert!(!log.truncated);
    }

    #[test]
    fn reset_forgets_and_ignores_late_statuses() {
        let r = Recorder::new();
        let (a, _) = r.arrive(0, "/a");
        r.reset();
        let (b, _) = r.arrive(0, "/b");
        r.finish(a, 500);
        let log = r.snapshot();
        assert_eq!(log.entries.len(), 1);
        assert_eq!(
            (log.entries[0].path.as_str(), log.entries[0].status),
            ("/b", 0)
        );
        r.finish(b, 200);
        assert_eq!(r.snapshot().entries[0].status, 200);
    }

    #[test]
    fn bounded_with_a_flag() {
        let r = Recorder::new();
        for _ in 0..REQUEST_LOG_LIMIT {
            assert!(r.arrive(0, "/").0.is_some());
        }
        assert!(r.arrive(0, "/late").0.is_none());
        let log = r.snapshot();
        assert_eq!(log.entries.len(), REQUEST_LOG_LIMIT);
        assert!(log.truncated);
        r.reset();
        assert!(!r.snapshot().truncated);
    }

    #[test]
    fn json_round_trip_is_exact() {
        let log = RequestLog {
            entries: vec![RequestLogEntry {
                host: 2,
                path: "/x?y=1".to_owned(),
                started: Duration::new(3, 123_456_789),
                status: 429,
            }],
            truncated: true,
        };
        let json = serde_json::to_string(&log).expect("json");
        assert!(json.contains("\"started_ns\":3123456789"), "{json}");
        assert_eq!(
            serde_json::from_str::<RequestLog>(&json).expect("parse"),
            log
        );
    }
}
