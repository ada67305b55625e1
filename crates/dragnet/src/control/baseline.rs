//! The unloaded latency: the lowest window median seen over a sliding horizon.

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding-window minimum of per-window median latencies.
///
/// Medians, not minimums: with jittery latency (100 ± 30 ms) the fastest request of a busy
/// window is far below the typical one, so comparing a median with a minimum would read
/// jitter as queueing. The lowest median over the horizon is the typical latency at the
/// lightest load seen lately.
///
/// The horizon lets the baseline rise when the server really got slower; the controller's
/// probes keep it from rising merely because the controller queued requests for a while.
#[derive(Clone, Debug)]
pub(crate) struct Baseline {
    horizon: Duration,
    /// `(time, median)` with strictly increasing medians: the front is the minimum, and an
    /// entry is dropped once a later, lower one makes it useless. Amortised O(1).
    window: VecDeque<(Duration, Duration)>,
}

impl Baseline {
    pub(crate) fn new(horizon: Duration) -> Self {
        Self {
            horizon,
            window: VecDeque::new(),
        }
    }

    /// The baseline now, if anything was observed within the horizon.
    pub(crate) fn get(&self) -> Option<Duration> {
        self.window.front().map(|&(_, p50)| p50)
    }

    /// Adds the median of the window ending at `now`.
    pub(crate) fn observe(&mut self, now: Duration, p50: Duration) {
        while self.window.back().is_some_and(|&(_, old)| old >= p50) {
            self.window.pop_back();
        }
        self.window.push_back((now, p50));
        self.expire(now);
    }

    /// Forgets everything but `p50`: evidence showed the old baseline is stale.
    pub(crate) fn reset(&mut self, now: Duration, p50: Duration) {
        self.window.clear();
        self.window.push_back((now, p50));
    }

    /// Drops medians older than the horizon, but never the newest: a baseline is always
    /// there once one window was measured.
    pub(crate) fn expire(&mut self, now: Duration) {
        while self.window.len() > 1
            && self
                .window
                .front()
                .is_some_and(|&(at, _)| now.saturating_sub(at) > self.horizon)
        {
            self.window.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn keeps_the_minimum_over_the_horizon_then_lets_it_rise() {
        let mut b = Baseline::new(ms(1000));
        assert_eq!(b.get(), None);
        b.observe(ms(0), ms(100));
        b.observe(ms(500), ms(150));
        assert_eq!(b.get(), Some(ms(100)));
        b.observe(ms(1200), ms(140));
        assert_eq!(b.get(), Some(ms(140)), "100 expired; 140 replaced 150");
        b.observe(ms(1300), ms(90));
        assert_eq!(b.get(), Some(ms(90)), "lower values count at once");
        b.reset(ms(1400), ms(300));
        assert_eq!(b.get(), Some(ms(300)));
        b.expire(ms(99_000));
        assert_eq!(b.get(), Some(ms(300)), "the newest value never expires");
    }
}
