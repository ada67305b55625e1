//! The adaptive concurrency algorithm: one [`Sample`] in, one [`Decision`] out. The module
//! docs ([`crate::control`]) explain the algorithm and its constants.

use std::time::Duration;

use super::baseline::Baseline;
use super::config::ControllerConfig;
use super::sample::{Decision, Ramp, Reason, Sample};

/// A probe drops the limit to this share of the level at which the latency would be the
/// baseline if the excess were all queueing: deep enough to empty the server's queue,
/// shallow enough that a probe costs a few percent of throughput.
const PROBE_DEPTH: f64 = 0.75;
/// A probe's median this much below the baseline means the baseline was measured with a
/// queue.
const PROBE_LOWER: f64 = 1.1;
/// After a probe that found a clearly lower baseline, the next probe comes this soon: the
/// queue may not have been fully drained yet (a limit that started above the server's
/// capacity never saw the unloaded latency). Also the first probe after slow start ends on
/// latency, for the same reason.
const REPROBE_SOON: Duration = Duration::from_secs(2);
/// A second latency decrease in a row, to at most this share of the limit where the high
/// latency started, is also an experiment: the latency must fall with the load, or it was
/// not caused by the load. Not the first decrease: its window may straddle the moment the
/// server changed, so its latency is not yet the new level to compare with.
const EXPERIMENT_CUT: f64 = 0.75;
/// ... and it counts as having fallen when the median is below this share of the median
/// before the cut.
const EXPERIMENT_DROP: f64 = 0.95;
/// Transport errors are a hard signal when their count is this many standard deviations
/// above what the tolerated share would give: in small windows a few random resets are a
/// large share (2 in 35 is 5.7 %, which a 2 % background gives one window in eight).
const ERROR_SIGMAS: f64 = 3.0;
/// A latency decrease needs more than this many requests waiting at the server. With a
/// few requests in flight the ratio band has no integer in it (2 workers: 2 in flight read
/// 1.0, 3 read 1.5 or, with a noisy baseline, 1.7), and one waiting request is not worth
/// a third of the throughput.
const MIN_QUEUE: f64 = 1.5;
/// One soft decrease (latency, CPU) lowers the limit by at most half ...
const CUT_MAX: f64 = 0.5;
/// ... and by at least a tenth (smaller changes are noise, and only hold up the settling).
const CUT_MIN: f64 = 0.9;
/// The CPU pool must look saturated in this many windows in a row before the limit comes
/// down: one busy moment (a burst of large pages) is not a bottleneck.
const CPU_STREAK: u32 = 2;
/// While the CPU backlog grows, aim this much below the rate the pool keeps up with, so
/// the backlog drains instead of staying at its peak.
const CPU_DRAIN: f64 = 0.9;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Growing per answer ([`Ramp`]) until the first sign of a limit.
    SlowStart,
    /// Small steps, holds and decreases.
    Steady,
    /// Lowered to re-measure the unloaded latency; `resume` is the limit to go back to.
    Probe { resume: usize },
}

/// A level at which the server pushed back, and when.
#[derive(Clone, Copy, Debug)]
struct Ceiling {
    level: usize,
    at: Duration,
}

/// A deep latency decrease, to check whether the latency follows the load.
#[derive(Clone, Copy, Debug)]
struct Experiment {
    p50_before: Duration,
    limit_before: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hard {
    Overload,
    Errors,
}

/// What the CPU pool says about fetching more.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cpu {
    /// Not a bottleneck.
    Free,
    /// Busy with a queue: fetching more would only lengthen it.
    Busy,
    /// Saturated for a while: this many requests in flight would feed it just enough.
    Bound(f64),
}

/// An adaptive concurrency limit for one host or for the whole crawl. Pure: no clock, no
/// I/O; the caller feeds it one [`Sample`] per window and applies the [`Decision`].
#[derive(Clone, Debug)]
pub struct Controller {
    config: ControllerConfig,
    limit: usize,
    phase: Phase,
    /// The sum of all windows seen: the controller's own clock.
    now: Duration,
    /// When the limit last changed, to tell when its effect shows in the latencies.
    changed_at: Duration,
    /// The median latency when the limit last changed: requests in flight then take about
    /// this long to leave, and until they have, windows still show the old limit.
    flush: Duration,
    /// When the last hard decrease happened: one burst of 429s is one decrease.
    hard_cut_at: Option<Duration>,
    baseline: Baseline,
    /// When a window's median was last near the baseline. Long ago means the limit has
    /// been queueing requests for a while: time to probe.
    confirmed_at: Duration,
    /// The lowest level at which the server recently pushed back.
    ceiling: Option<Ceiling>,
    /// The highest level that ran a whole window without pushback since the last pushback
    /// at or below it (0: none known).
    good: usize,
    /// The next additive step when no ceiling is known: 1, 2, 4, ... while growth goes on.
    step: usize,
    /// Thin windows waiting to be judged together with the next one.
    pending: Option<Sample>,
    /// The CPU backlog at the end of the previous window ...
    prev_backlog: u64,
    /// ... and before the first window of the sample being gathered.
    span_backlog: u64,
    /// A probe to make soon, whatever the baseline's confirmations say ...
    probe_due: Option<Duration>,
    /// ... and no higher than this.
    deeper_probe: Option<usize>,
    cpu_streak: u32,
    experiment: Option<Experiment>,
    /// The limit before the current run of windows with latency above the band.
    high_since: Option<usize>,
    /// The latest median latency: how long a change takes to show.
    last_p50: Duration,
}

impl Controller {
    /// A controller starting at `config.initial` in slow start.
    pub fn new(config: ControllerConfig) -> Self {
        let config = config.normalized();
        Self {
            limit: config.initial,
            baseline: Baseline::new(config.baseline_horizon),
            config,
            phase: Phase::SlowStart,
            now: Duration::ZERO,
            changed_at: Duration::ZERO,
            flush: Duration::ZERO,
            hard_cut_at: None,
            confirmed_at: Duration::ZERO,
            ceiling: None,
            good: 0,
            step: 1,
            pending: None,
            prev_backlog: 0,
            span_backlog: 0,
            probe_due: None,
            deeper_probe: None,
            cpu_streak: 0,
            experiment: None,
            high_since: None,
            last_p50: Duration::ZERO,
        }
    }

    /// The limit in force: requests allowed in flight.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The unloaded latency the controller compares against, once measured.
    pub fn baseline(&self) -> Option<Duration> {
        self.baseline.get()
    }

    /// Whether the controller is still in slow start (no limit found yet).
    pub fn in_slow_start(&self) -> bool {
        self.phase == Phase::SlowStart
    }

    /// How the limit grows by itself until the next update: in slow start, per answer
    /// faster than the top of the latency band. Until the unloaded latency is known nothing
    /// tells a queue from jitter, so growth stops at 3× per window then (a window may be
    /// many round trips long); with it, the answers' latency stops the ramp where a queue
    /// starts, however long the window.
    pub fn ramp(&self) -> Option<Ramp> {
        let per_success = self.config.ramp_per_success;
        let baseline = self.baseline.get();
        let up_to = match baseline {
            Some(_) => self.config.max,
            None => self
                .limit
                .saturating_mul(per_success + 1)
                .min(self.config.max),
        };
        // Above the band's top a single answer is queueing, not jitter.
        let latency_below = baseline.map(|base| base.mul_f64(self.config.shrink_above));
        (self.phase == Phase::SlowStart && self.limit < up_to).then_some(Ramp {
            up_to,
            per_success,
            latency_below,
        })
    }

    /// The configuration in use (bounds made consistent).
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Takes one window's observations and returns the limit for the next window.
    pub fn update(&mut self, sample: &Sample) -> Decision {
        let start = self.now;
        self.now += sample.window;
        if self.phase == Phase::SlowStart && sample.limit_now > self.limit {
            // The applier followed the ramp. Not a change to settle from: growth is judged
            // window by window, only a decrease needs the old requests gone.
            self.limit = sample.limit_now.min(self.config.max);
        }
        let probing = matches!(self.phase, Phase::Probe { .. });
        // Requests in flight at the last change take about `flush` to leave; until then a
        // window still shows the old limit. Judge windows of which at most half can (for a
        // probe's measurement: none), and gather thin windows only from there on.
        let flushed_at = self.changed_at + self.flush.max(self.last_p50);
        let clean_from = if probing {
            flushed_at
        } else {
            flushed_at.saturating_sub(sample.window / 2)
        };
        let usable = start >= clean_from;
        let merged = match self.pending.take() {
            Some(earlier) if usable => earlier.merge(sample),
            _ => {
                self.span_backlog = self.prev_backlog;
                *sample
            }
        };
        self.prev_backlog = sample.cpu_backlog;
        let hard = self.hard_signal(&merged);
        if hard.is_some() {
            return self.decide(&merged, hard);
        }
        if merged.completed == 0 && merged.in_flight_peak == 0 {
            return self.keep(Reason::Idle);
        }
        if !usable {
            return self.keep(if probing {
                Reason::Probe
            } else {
                Reason::Settle
            });
        }
        if merged.completed < self.config.min_samples.max(1) {
            self.pending = Some(merged);
            return self.keep(Reason::Thin);
        }
        self.decide(&merged, None)
    }

    fn hard_signal(&self, s: &Sample) -> Option<Hard> {
        if s.overloads > 0 {
            return Some(Hard::Overload);
        }
        let tolerated = self.config.error_share * (s.completed + s.errors) as f64;
        (s.errors as f64 > tolerated + ERROR_SIGMAS * tolerated.sqrt().max(1.0))
            .then_some(Hard::Errors)
    }

    fn decide(&mut self, s: &Sample, hard: Option<Hard>) -> Decision {
        let p50 = s.latency_p50.filter(|_| s.completed > 0);
        if let Some(p50) = p50 {
            self.last_p50 = p50;
        }
        // The level the server actually saw: a limit that was not filled was not tested.
        let level = usize::try_from(s.in_flight_peak)
            .unwrap_or(usize::MAX)
            .min(self.limit)
            .max(1);
        if let Some(kind) = hard {
            return self.on_hard(kind, level, s.overloads);
        }
        self.good = self.good.max(level);
        self.expire_ceiling();
        let cpu = self.cpu_state(s, level);
        let baseline_before = self.baseline.get();
        if let Some(p50) = p50 {
            self.baseline.observe(self.now, p50);
        }
        if let Phase::Probe { resume } = self.phase {
            return self.finish_probe(resume, p50, baseline_before);
        }
        let baseline = self.baseline.get();
        if let (Some(experiment), Some(p50)) = (self.experiment.take(), p50)
            && p50.as_secs_f64() >= experiment.p50_before.as_secs_f64() * EXPERIMENT_DROP
        {
            // The load fell by a quarter or more and the latency did not: it was not our
            // queue. The server or the path got slower; that is the new unloaded latency,
            // and the cuts were a mistake.
            self.baseline.reset(self.now, p50);
            self.confirmed_at = self.now;
            self.high_since = None;
            let back = experiment.limit_before.max(self.limit);
            return self.set(back, Reason::Increase);
        }
        let ratio = match (p50, baseline) {
            (Some(p50), Some(base)) => Some(p50.as_secs_f64() / base.as_secs_f64().max(1e-6)),
            _ => None,
        };
        // A window where growth would be allowed confirms the baseline. Not a tighter
        // threshold: medians of small windows scatter, the baseline is their minimum, so an
        // unloaded server often reads 1.1-1.2 × baseline, and probing it would be wasted.
        if ratio.is_some_and(|r| r < self.config.grow_below) {
            self.confirmed_at = self.now;
        }
        if let (Some(ratio), Some(p50)) = (ratio, p50) {
            // Vegas's view: this many requests wait at the server.
            let queued = level as f64 * (1.0 - 1.0 / ratio);
            if ratio > self.config.shrink_above && queued > MIN_QUEUE {
                return self.shrink_for_latency(level, ratio, p50);
            }
        }
        self.high_since = None;
        match cpu {
            Cpu::Free => {}
            Cpu::Busy => return self.stop_growing(Reason::CpuBound),
            Cpu::Bound(fed) => {
                let target = fed.max(self.limit as f64 * CUT_MAX);
                if target < self.limit as f64 * CUT_MIN {
                    self.phase = Phase::Steady;
                    self.step = 1;
                    return self.set(target.floor() as usize, Reason::CpuBound);
                }
                return self.stop_growing(Reason::CpuBound);
            }
        }
        if let Some(ratio) = ratio {
            let unconfirmed =
                self.now.saturating_sub(self.confirmed_at) >= self.config.probe_interval;
            let due = self.probe_due.is_some_and(|at| self.now >= at);
            let stale = self.baseline.is_stale(self.now);
            if self.phase == Phase::Steady
                && (unconfirmed || due || stale)
                && let Some(probe) = self.start_probe(level, ratio)
            {
                return probe;
            }
        }
        if level < self.limit {
            return self.keep(Reason::AppLimited);
        }
        if ratio.is_some_and(|r| r >= self.config.grow_below) {
            self.latency_ends_slow_start();
            return self.stop_growing(Reason::Hold);
        }
        self.grow()
    }

    /// 429/503 or an error storm: back to the highest level known to be safe, or a
    /// multiplicative cut when none is, and remember where the server pushed back.
    fn on_hard(&mut self, kind: Hard, level: usize, overloads: u64) -> Decision {
        // Answers to requests sent before the last cut may still arrive for about one
        // latency: they say nothing about the new limit.
        if self
            .hard_cut_at
            .is_some_and(|at| self.now.saturating_sub(at) < self.last_p50)
        {
            return self.keep(Reason::Settle);
        }
        let reason = match kind {
            Hard::Overload => Reason::DecreaseOverload,
            Hard::Errors => Reason::DecreaseErrors,
        };
        self.phase = Phase::Steady;
        self.experiment = None;
        self.high_since = None;
        self.step = 1;
        if self.good >= level {
            // The safe level is stale: the server's capacity went down.
            self.good = 0;
        }
        let mut pushed_at = level;
        if kind == Hard::Overload {
            // The gate pauses the host at the first 429, so about one request per request
            // beyond the server's cap is refused: the cap is near `level - overloads`. Trust
            // that only between the safe level and the level seen.
            let refused = usize::try_from(overloads).unwrap_or(usize::MAX);
            pushed_at = (level + 1)
                .saturating_sub(refused)
                .clamp(self.good + 1, level);
        }
        let ceiling = self.ceiling.map_or(pushed_at, |c| c.level.min(pushed_at));
        self.ceiling = Some(Ceiling {
            level: ceiling,
            at: self.now,
        });
        let new = if self.good > 0 {
            self.good
        } else {
            (level as f64 * self.config.backoff).floor() as usize
        };
        self.hard_cut_at = Some(self.now);
        let new = new.min(ceiling.saturating_sub(1));
        self.set(new.min(self.limit.saturating_sub(1)), reason)
    }

    fn expire_ceiling(&mut self) {
        if let Some(c) = self.ceiling {
            let old = self.now.saturating_sub(c.at) > self.config.ceiling_memory;
            if old || self.good >= c.level {
                self.ceiling = None;
                self.step = 1;
            }
        }
    }

    fn cpu_state(&mut self, s: &Sample, level: usize) -> Cpu {
        if s.cpu_threads == 0 {
            self.cpu_streak = 0;
            return Cpu::Free;
        }
        let saturated = s.cpu_backlog > s.cpu_threads * self.config.cpu_backlog_per_thread;
        self.cpu_streak = if saturated { self.cpu_streak + 1 } else { 0 };
        if self.cpu_streak >= CPU_STREAK && s.completed > 0 {
            // Pages the pool finished in the window, from the backlog's balance; fetches
            // scale with requests in flight (Little's law), so this many in flight would
            // fetch as fast as the pool processes.
            let processed = (s.completed + self.span_backlog).saturating_sub(s.cpu_backlog);
            let mut fed = level as f64 * processed as f64 / s.completed as f64;
            if s.cpu_backlog > self.span_backlog {
                fed *= CPU_DRAIN;
            }
            return Cpu::Bound(fed);
        }
        if s.cpu_backlog > s.cpu_threads {
            Cpu::Busy
        } else {
            Cpu::Free
        }
    }

    /// Latency well above the baseline: requests queue at the server, and beyond its
    /// capacity the latency grows in proportion to the requests in flight (Little's law at
    /// constant throughput). Scale the level by the latency gradient to bring the median to
    /// the middle of the tolerated band. Not `throughput × baseline`: with a heavy tail the
    /// mean latency is well above the median, and that would undershoot.
    fn shrink_for_latency(&mut self, level: usize, ratio: f64, p50: Duration) -> Decision {
        self.latency_ends_slow_start();
        self.step = 1;
        let band_middle = (self.config.grow_below + self.config.shrink_above) / 2.0;
        let limit = self.limit as f64;
        // Rounded, not floored: from 3 in flight, 1.94 is 2, not 1.
        let new = ((level as f64 * band_middle / ratio)
            .clamp(limit * CUT_MAX, limit * CUT_MIN)
            .round() as usize)
            .min(self.limit.saturating_sub(1));
        match self.high_since {
            None => self.high_since = Some(self.limit),
            Some(from) if (new as f64) <= from as f64 * EXPERIMENT_CUT => {
                self.experiment = Some(Experiment {
                    p50_before: p50,
                    limit_before: from,
                });
            }
            Some(_) => {}
        }
        self.set(new, Reason::DecreaseLatency)
    }

    /// Lowers the limit to re-measure the unloaded latency; `None` when it cannot go lower.
    fn start_probe(&mut self, level: usize, ratio: f64) -> Option<Decision> {
        // The level at which the latency would be the baseline, if it is all queueing.
        let unqueued = level as f64 / ratio.max(1.0);
        let mut probe = (unqueued * PROBE_DEPTH).floor() as usize;
        if let Some(deeper) = self.deeper_probe.take() {
            probe = probe.min(deeper);
        }
        let probe = probe.max(self.config.min);
        self.probe_due = None;
        if probe >= self.limit {
            // Cannot go lower usefully: the queue (if any) is as short as it gets, so
            // today's latencies are as unloaded as they get.
            self.confirmed_at = self.now;
            self.baseline.expire(self.now);
            return None;
        }
        self.phase = Phase::Probe { resume: self.limit };
        Some(self.set(probe, Reason::Probe))
    }

    fn finish_probe(
        &mut self,
        resume: usize,
        p50: Option<Duration>,
        before: Option<Duration>,
    ) -> Decision {
        self.phase = Phase::Steady;
        self.confirmed_at = self.now;
        // The probe measured the unloaded latency afresh (it is in the baseline already):
        // older medians may go now. If they were lower and the server has slowed down a
        // little since, this is how the baseline rises.
        self.baseline.expire(self.now);
        if let (Some(p50), Some(before)) = (p50, before) {
            let (p, b) = (p50.as_secs_f64(), before.as_secs_f64());
            if p > b * self.config.shrink_above {
                // Even with the queue drained the latency stays well up: the server got
                // slower. (Not for less: the baseline is a minimum of noisy medians, so an
                // unloaded window often reads a fifth above it.) Or the server's capacity
                // fell below the probe's level just now: look again soon to tell.
                self.baseline.reset(self.now, p50);
                self.probe_due = Some(self.now + REPROBE_SOON);
            } else if p * PROBE_LOWER < b {
                // Clearly lower than thought: the old baseline was measured with a queue.
                // Look again soon, whatever the windows in between say (they are judged
                // against the baseline still too high), and twice as deep: the queue may
                // not have been empty yet.
                self.probe_due = Some(self.now + REPROBE_SOON);
                self.deeper_probe = Some(self.limit / 2);
            }
        }
        self.set(resume, Reason::Probe)
    }

    /// Slow start ends on latency: the baseline so far was measured at the initial limit,
    /// which may already have queued at a small server. Probe soon to find out.
    fn latency_ends_slow_start(&mut self) {
        if self.phase == Phase::SlowStart {
            self.phase = Phase::Steady;
            self.probe_due.get_or_insert(self.now + REPROBE_SOON);
        }
    }

    fn stop_growing(&mut self, reason: Reason) -> Decision {
        self.phase = Phase::Steady;
        self.step = 1;
        self.keep(reason)
    }

    /// Latency holds and nothing pushes back: in slow start the ramp grows the limit; below a known ceiling,
    /// halve the distance to it (a binary search that never touches it); with no ceiling,
    /// add 1, 2, 4, ... so that a capacity rise is found in a few windows while the first
    /// step past an old ceiling stays small.
    fn grow(&mut self) -> Decision {
        let ceiling = self.ceiling.map(|c| c.level);
        let (target, reason) = match (self.phase, ceiling) {
            // The ramp grows the limit answer by answer; nothing to add here.
            (Phase::SlowStart, None) if self.limit < self.config.max => {
                return self.keep(Reason::SlowStart);
            }
            (Phase::SlowStart, None) => (self.limit, Reason::SlowStart),
            (_, Some(c)) => ((self.limit + c) / 2, Reason::Increase),
            (_, None) => {
                // At most half the limit per step: from 3, +2 would be two thirds more load
                // on what may be a very small server.
                let target = self
                    .limit
                    .saturating_add(self.step.min((self.limit / 2).max(1)));
                self.step = (self.step * 2).min(self.limit.max(1));
                (target, Reason::Increase)
            }
        };
        let mut target = target.min(self.config.max);
        if let Some(c) = ceiling {
            target = target.min(c.saturating_sub(1));
        }
        if target <= self.limit {
            return self.stop_growing(Reason::Hold);
        }
        self.set(target, reason)
    }

    fn keep(&self, reason: Reason) -> Decision {
        Decision {
            limit: self.limit,
            reason,
            ramp: self.ramp(),
        }
    }

    fn set(&mut self, limit: usize, reason: Reason) -> Decision {
        let limit = limit.clamp(self.config.min, self.config.max);
        if limit != self.limit {
            self.limit = limit;
            self.changed_at = self.now;
            self.flush = self.last_p50;
        }
        self.keep(reason)
    }
}
