//! The controller's bounds and tuning constants.

use std::time::Duration;

/// Bounds and tuning for a [`Controller`](super::Controller).
///
/// Only the bounds are meant to be set by users (`--max-concurrency` is `max`); the rest
/// are the algorithm's constants, exposed so tests and experiments can vary them. Why each
/// default is what it is is in the [module docs](super).
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerConfig {
    /// The lowest limit (at least 1).
    pub min: usize,
    /// The highest limit: the user's `--max-concurrency`.
    pub max: usize,
    /// The limit before anything is known; slow start grows from here.
    pub initial: usize,
    /// Slow start's growth per successful answer (see [`Ramp`](super::Ramp)): 1 doubles
    /// the limit per round trip, as TCP does; 2 triples it.
    pub ramp_per_success: usize,
    /// Grow only while the window's median latency is below this multiple of the baseline.
    pub grow_below: f64,
    /// Shrink when the window's median latency is above this multiple of the baseline.
    /// Between the two the limit holds: the hysteresis that keeps it from oscillating.
    pub shrink_above: f64,
    /// Multiplicative decrease on a hard signal (429/503, errors) when no lower level is
    /// known to be safe.
    pub backoff: f64,
    /// Transport errors count as a hard signal when clearly (beyond chance) above this
    /// share of the window's requests, so a site with a few random resets is not throttled
    /// to nothing.
    pub error_share: f64,
    /// A baseline not renewed (a median within 1.1 × of it) for this long is re-measured
    /// by a probe, and medians older than this leave it after a probe.
    pub baseline_horizon: Duration,
    /// When no window allowed growth (latency below `grow_below` × baseline) for this
    /// long, the limit sits on a queue: the controller lowers it for a moment to measure
    /// the unloaded latency again.
    pub probe_interval: Duration,
    /// How long the level at which the server last pushed back (429/503, errors) caps
    /// growth. After that the controller probes above it again, gently.
    pub ceiling_memory: Duration,
    /// The CPU pool counts as the bottleneck when more than this many pages per thread wait
    /// for or are in it.
    pub cpu_backlog_per_thread: u64,
    /// Windows with fewer completions are merged into the next one before the latency is
    /// judged (a median of two requests is noise).
    pub min_samples: u64,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            min: 1,
            max: 256,
            initial: 8,
            ramp_per_success: 2,
            grow_below: 1.25,
            shrink_above: 1.6,
            backoff: 0.5,
            error_share: 0.05,
            baseline_horizon: Duration::from_secs(30),
            probe_interval: Duration::from_secs(20),
            ceiling_memory: Duration::from_secs(30),
            cpu_backlog_per_thread: 2,
            min_samples: 10,
        }
    }
}

impl ControllerConfig {
    /// The default tuning with these bounds.
    pub fn with_bounds(min: usize, max: usize, initial: usize) -> Self {
        Self {
            min,
            max,
            initial,
            ..Self::default()
        }
    }

    /// The same config with the bounds made consistent: `1 ≤ min ≤ initial ≤ max`, and the
    /// latency band ordered.
    pub(crate) fn normalized(mut self) -> Self {
        self.min = self.min.max(1);
        self.max = self.max.max(self.min);
        self.initial = self.initial.clamp(self.min, self.max);
        self.ramp_per_success = self.ramp_per_success.max(1);
        self.grow_below = self.grow_below.max(1.0);
        self.shrink_above = self.shrink_above.max(self.grow_below);
        self.backoff = self.backoff.clamp(0.1, 0.9);
        self
    }
}
