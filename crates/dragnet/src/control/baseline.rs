//! The unloaded latency: the lowest window median seen over a sliding horizon.

use std::collections::VecDeque;
use std::time::Duration;

/// A sliding-window minimum of per-window median latencies.
///
/// Medians, not minimums: with jittery latency (100 ± 30 ms) the fastest request of a busy
/// window is far below the typical one, so comparing a median with a minimum would read
/// jitter as queueing. The lowest median seen lately is the typical latency at the lightest
/// load seen lately.
///
/// Old medians leave only when the controller says so ([`Baseline::expire`], after a
/// probe), never by themselves: if they did, a limit holding a small queue for a whole
/// horizon would see its own queueing become the baseline, grow by a step, and creep on.
/// A median close to the minimum renews it, so a steady server is not probed for nothing.
#[derive(Clone, Debug)]
pub(crate) struct Baseline {
    horizon: Duration,
    /// `(time, median)` with strictly increasing medians: the front is the minimum, and an
    /// entry is dropped once a later, lower one makes it useless. Amortised O(1).
    window: VecDeque<(Duration, Duration)>,
}

/// A median within this factor of the minimum renews it.
const RENEW: f64 = 1.1;

impl Baseline {
    pub(crate) fn new(horizon: Duration) -> Self {
        Self {
            horizon,
            window: VecDeque::new(),
        }
    }

    /// The baseline now, if anything was observed.
    pub(crate) fn get(&self) -> Option<Duration> {
        self.window.front().map(|&(_, p50)| p50)
    }

    /// Whether the minimum was last seen or renewed longer ago than the horizon.
    pub(crate) fn is_stale(&self, now: Duration) -> bool {
        self.window
            .front()
            .is_some_and(|&(at, _)| now.saturating_sub(at) > self.horizon)
    }

    /// Adds the median of the window ending at `now`.
    pub(crate) fn observe(&mut self, now: Duration, p50: Duration) {
        if let Some(front) = self.window.front_mut()
            && p50.as_secs_f64() <= front.1.as_secs_f64() * RENEW
        {
            front.0 = now;
        }
        while self.window.back().is_some_and(|&(_, old)| old >= p50) {
            self.window.pop_back();
        }
        self.window.push_back((now, p50));
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
    fn keeps_the_minimum_until_told_to_let_old_ones_go() {
        let mut b = Baseline::new(ms(1000));
        assert_eq!(b.get(), None);
        b.observe(ms(0), ms(100));
        b.observe(ms(500), ms(150));
        assert_eq!(b.get(), Some(ms(100)));
        b.observe(ms(1200), ms(140));
        assert_eq!(b.get(), Some(ms(100)), "nothing leaves by itself");
        assert!(b.is_stale(ms(1200)));
        b.expire(ms(1200));
        assert_eq!(b.get(), Some(ms(140)), "100 expired; 140 replaced 150");
        b.observe(ms(1300), ms(90));
        assert_eq!(b.get(), Some(ms(90)), "lower values count at once");
        b.observe(ms(2500), ms(95));
        assert!(!b.is_stale(ms(2600)), "a median near the minimum renews it");
        b.reset(ms(2600), ms(300));
        assert_eq!(b.get(), Some(ms(300)));
        b.expire(ms(99_000));
        assert_eq!(b.get(), Some(ms(300)), "the newest value never expires");
    }
}
