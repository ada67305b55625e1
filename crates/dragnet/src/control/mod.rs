//! Adaptive concurrency: finds how many requests to keep in flight, per host and overall,
//! from what the crawl observes. A pure algorithm: [`Sample`] in, [`Decision`] out; no
//! tokio, no clock, no I/O. A small task in the pipeline applies it.
//!
//! # The algorithm
//!
//! Every window the [`Controller`] gets counts and latencies and answers a new limit. In
//! the order it looks at them:
//!
//! 1. **Hard signals** (429/503, or transport errors above 5 % of the window's requests):
//!    the level the server saw (`min(limit, in_flight_peak)`) becomes the *ceiling*, and
//!    the limit drops to the highest level that recently ran a whole window without
//!    pushback, or, when none is known (or the pushback came at or below it), is halved
//!    (multiplicative decrease). At most one hard decrease per latency: answers to requests
//!    sent before a cut say nothing about the new limit.
//! 2. **Settling**: a change shows in the latencies only after about one latency, so the
//!    latency is judged once `p50 + window/2` has passed since the last change (every
//!    window when the window is at least twice the latency).
//! 3. **Latency** (TCP Vegas, Netflix's gradient limiter): the *baseline* is the lowest
//!    window median over the last 30 s, the unloaded latency. Medians, because with
//!    100 ± 30 ms of jitter the fastest request of a busy window is far below a typical one.
//!    Above 1.6 × baseline the server is queueing and more requests do not add throughput:
//!    the limit goes to what the measured throughput needs at 1.425 × baseline (Little's
//!    law: in flight = throughput × latency), by a tenth to a half. Between 1.25 × and
//!    1.6 × it holds (hysteresis: no oscillation around one threshold); below 1.25 × it may
//!    grow.
//! 4. **CPU** (global controller): when pages wait for the CPU pool (backlog above the
//!    thread count) fetching faster only lengthens the queue, so growth stops; when the
//!    backlog stays above 2 per thread for two windows, the limit comes down to the level
//!    that fetches as fast as the pool processes (from the backlog's balance).
//! 5. **App-limited**: when fewer requests were in flight than allowed, a higher limit was
//!    not tested, so it does not grow (TCP's congestion window validation).
//! 6. **Growth**: slow start doubles each window until the first signal (from the initial 8
//!    to 256 in five windows); then, below a known ceiling, the limit halves the distance to
//!    it without touching it (a binary search: a 429 cap of 24 is found in about four
//!    pushbacks and then held at 24); with no ceiling it adds 1, 2, 4, 8, ... so a capacity
//!    rise is found in a few windows while the first step past an old ceiling is small.
//!
//! **Following the server back up and down.** A ceiling is forgotten 30 s after the last
//! pushback, so a site whose cap rose again is probed (one small step, then growing steps).
//! The baseline must be able to rise too, without rising merely because the controller
//! kept a queue: when no window's median came within 1.1 × baseline for 10 s, the
//! controller *probes* (like BBR's ProbeRTT): for one settled window the limit drops to
//! 0.75 × throughput × baseline, which empties the server's queue, and the median measured
//! there confirms the baseline, lowers it (then it probes again 2 s later, in case the
//! queue was not empty yet) or, if it is clearly higher, replaces it: the server got
//! slower. A probe costs about one window at three quarters of the throughput every 10 s,
//! and only while the limit sits on a queue. Likewise a latency decrease of a quarter or
//! more is an experiment: if the latency does not fall with the load, it was not ours, so
//! the baseline is reset and the cut undone.
//!
//! **Thin windows** (fewer than 5 completions, e.g. a slow host) are merged into the next
//! window before anything but a hard signal is judged: a median of two is noise.
//!
//! # Why these constants
//!
//! - Band 1.25 / 1.6: with ± 30 % jitter a window median moves a few percent, so 1.25
//!   leaves room for noise; a server with K workers settles at 1.25–1.6 K requests, which
//!   keeps it busy (full throughput from K on) with a median latency below 1.6 × the
//!   unloaded one.
//! - Halving (0.5) on a hard signal with no safe level known, like TCP Reno and like the
//!   gate's own per-host halving: a cap that dropped from 32 to 8 is under it in two steps.
//!   With a safe level known the cut goes there directly, which is gentler and exact.
//! - Ceiling memory 30 s: each probe past a 429 cap costs one 429 and a Retry-After pause
//!   (1 s on the testsite), so about 3 % of the time at most; shorter would pay that more
//!   often, longer would find a raised cap later.
//! - Baseline horizon 30 s, probe after 10 s unconfirmed: probes refresh the baseline
//!   three times per horizon, so the minimum never ages out while the server is steady.
//!
//! # Applying it
//!
//! One tokio task ticks every window (250 ms–1 s; 500 ms is what the scenarios use): it
//! takes the window's deltas per host and overall from the stats, calls
//! [`Controller::update`] on each host's controller and on the global one, and applies the
//! answers with `Gate::set_limits` (global) and a per-host limit setter. Per host, the
//! sample carries the host's completions, latency median and minimum, 429/503s, transport
//! errors and in-flight peak; `cpu_backlog` and `cpu_threads` are 0. Globally, the sample
//! carries the completions, `in_flight_peak` and the CPU pool's backlog and thread count,
//! but no overloads or errors (one host's 429s must not slow the others) and no latency
//! (`latency_p50: None`: latencies of different hosts do not compare; each host's
//! controller already watches its own). The global controller then limits what is local:
//! the CPU pool, and the user's `--max-concurrency` as `max`.
//!
//! Retry-After pauses stay in the gate; an overload sample is what makes the controller
//! cut. Hosts without a controller start at `initial`; a host's controller can be dropped
//! when the host is idle for longer than `ceiling_memory` (it would have forgotten
//! everything but the baseline by then).

mod baseline;
mod config;
mod limiter;
mod sample;

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

pub use config::ControllerConfig;
pub use limiter::Controller;
pub use sample::{Decision, Reason, Sample};
