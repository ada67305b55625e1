//! What the controller is told about one window ([`Sample`]) and what it answers
//! ([`Decision`], [`Reason`]).

use std::time::Duration;

/// What happened during one control window, for one host or for the whole crawl.
///
/// Counts are for the window only (deltas, not totals). Latencies are of the requests that
/// completed OK in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Length of the window (the controller's only clock: it never reads the time).
    pub window: Duration,
    /// Requests that finished OK in the window.
    pub completed: u64,
    /// Median latency of those requests; `None` when none completed, or when this
    /// controller should not react to latency (see the module docs on the global one).
    pub latency_p50: Option<Duration>,
    /// Fastest of those requests.
    pub latency_min: Option<Duration>,
    /// Answers saying the server is overloaded: 429 and 503.
    pub overloads: u64,
    /// Requests that failed in transport: timeouts, connection refused or reset. Not HTTP
    /// errors such as 404 or 500: those say nothing about load.
    pub errors: u64,
    /// The most requests in flight at once during the window.
    pub in_flight_peak: u64,
    /// Pages waiting for or in the CPU pool at the end of the window (global only; 0 for a
    /// host).
    pub cpu_backlog: u64,
    /// Threads in the CPU pool (global only; 0 turns the CPU signal off).
    pub cpu_threads: u64,
    /// The limit in force at the window's end, when the applier raised it by itself
    /// following a [`Decision::ramp`]; 0 when it did not (the controller's limit holds).
    pub limit_now: usize,
}

impl Sample {
    /// Completed requests per second.
    pub fn throughput(&self) -> f64 {
        self.completed as f64 / self.window_secs()
    }

    /// The window in seconds, never zero (a zero window would make every rate infinite).
    pub(crate) fn window_secs(&self) -> f64 {
        self.window.as_secs_f64().max(1e-3)
    }

    /// This sample followed by `next`, as one longer window. Used to gather thin windows
    /// (a host with a few requests per window) until the latency means something.
    ///
    /// The merged median is the completion-weighted mean of the two medians: not exact,
    /// but between them, which is all the controller needs.
    pub(crate) fn merge(&self, next: &Sample) -> Sample {
        let latency_p50 = match (self.latency_p50, next.latency_p50) {
            (Some(a), Some(b)) => {
                let (wa, wb) = (self.completed.max(1) as f64, next.completed.max(1) as f64);
                Some(Duration::from_secs_f64(
                    (a.as_secs_f64() * wa + b.as_secs_f64() * wb) / (wa + wb),
                ))
            }
            (a, b) => a.or(b),
        };
        let latency_min = match (self.latency_min, next.latency_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Sample {
            window: self.window + next.window,
            completed: self.completed + next.completed,
            latency_p50,
            latency_min,
            overloads: self.overloads + next.overloads,
            errors: self.errors + next.errors,
            in_flight_peak: self.in_flight_peak.max(next.in_flight_peak),
            cpu_backlog: next.cpu_backlog,
            cpu_threads: next.cpu_threads,
            limit_now: self.limit_now.max(next.limit_now),
        }
    }
}

/// The limit to apply from now on, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Requests allowed in flight.
    pub limit: usize,
    /// Why the limit is what it is.
    pub reason: Reason,
    /// During slow start: raise the limit by itself, per successful answer, until the next
    /// decision. `None`: hold the limit as given.
    pub ramp: Option<Ramp>,
}

/// Slow start's growth, clocked by the answers rather than by the control windows (as TCP
/// grows its window per acknowledgement): after each successful answer, while at least
/// half the limit is in flight (a limit not used is not tested), the limit rises by
/// `per_success`, up to `up_to`. New requests then leave one or two at a time as answers
/// come back, never in a burst: a server with a hard cap refuses one or two requests, not
/// a whole window's growth, before the first refusal stops the ramp. An answer slower than
/// `latency_below` does not grow it (HyStart's delay signal): a queue is forming, and the
/// window's end will judge by how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ramp {
    /// The limit the ramp stops at.
    pub up_to: usize,
    /// Added per successful answer.
    pub per_success: usize,
    /// Only answers faster than this grow the limit; `None` until a baseline is known.
    pub latency_below: Option<Duration>,
}

impl Ramp {
    /// The limit after one successful answer that took `latency` and arrived with
    /// `in_flight` requests out (itself included).
    pub fn grown(&self, limit: usize, in_flight: usize, latency: Duration) -> usize {
        let slow = self.latency_below.is_some_and(|below| latency >= below);
        if limit >= self.up_to || in_flight.saturating_mul(2) < limit || slow {
            return limit;
        }
        limit.saturating_add(self.per_success).min(self.up_to)
    }
}

/// Why the controller chose a limit. Several reasons keep the limit where it was; the
/// names say what the controller saw, for the run report and the progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Growing with every answer: no limit found yet, and the growth costs no latency.
    SlowStart,
    /// Raised: latency holds and nothing pushed back.
    Increase,
    /// Kept: latency is in the tolerated band, or the limit is just under a known ceiling,
    /// or at the configured maximum.
    Hold,
    /// Kept: the last change has not had time to show in the latencies yet.
    Settle,
    /// Kept: too few requests completed to judge; the window is carried into the next one.
    Thin,
    /// Kept: nothing was in flight, so nothing was learned.
    Idle,
    /// Kept: fewer requests were in flight than allowed (too few URLs, or another limit
    /// binds), so a higher limit would not have been tested.
    AppLimited,
    /// Lowered for a moment to measure the unloaded latency again, or restored after it.
    Probe,
    /// Lowered: latency rose well above the unloaded baseline, so requests queue at the
    /// server and more of them would not add throughput.
    DecreaseLatency,
    /// Lowered: the server answered 429 or 503.
    DecreaseOverload,
    /// Lowered: too many timeouts or connection failures.
    DecreaseErrors,
    /// Kept or lowered: the CPU pool is the bottleneck, so fetching faster would only grow
    /// its queue.
    CpuBound,
}

impl Reason {
    /// A short stable name, for the summary JSON and logs.
    pub fn label(self) -> &'static str {
        match self {
            Reason::SlowStart => "slow_start",
            Reason::Increase => "increase",
            Reason::Hold => "hold",
            Reason::Settle => "settle",
            Reason::Thin => "thin",
            Reason::Idle => "idle",
            Reason::AppLimited => "app_limited",
            Reason::Probe => "probe",
            Reason::DecreaseLatency => "decrease_latency",
            Reason::DecreaseOverload => "decrease_overload",
            Reason::DecreaseErrors => "decrease_errors",
            Reason::CpuBound => "cpu_bound",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_keeps_latencies_between() {
        let a = Sample {
            window: Duration::from_millis(250),
            completed: 1,
            latency_p50: Some(Duration::from_millis(100)),
            latency_min: Some(Duration::from_millis(100)),
            in_flight_peak: 2,
            cpu_backlog: 5,
            ..Sample::default()
        };
        let b = Sample {
            window: Duration::from_millis(250),
            completed: 3,
            latency_p50: Some(Duration::from_millis(200)),
            latency_min: Some(Duration::from_millis(150)),
            overloads: 1,
            in_flight_peak: 1,
            cpu_backlog: 7,
            ..Sample::default()
        };
        let m = a.merge(&b);
        assert_eq!(m.window, Duration::from_millis(500));
        assert_eq!((m.completed, m.overloads, m.in_flight_peak), (4, 1, 2));
        assert_eq!(m.latency_p50, Some(Duration::from_millis(175)));
        assert_eq!(m.latency_min, Some(Duration::from_millis(100)));
        assert_eq!(m.cpu_backlog, 7, "the backlog is a level: the latest wins");
        assert!((m.throughput() - 8.0).abs() < 1e-9);
    }
}
