//! Adaptive concurrency: finds how many requests to keep in flight, per host and overall,
//! from what the crawl observes. A pure algorithm: [`Sample`] in, [`Decision`] out; no
//! tokio, no clock, no I/O. A small task in the pipeline applies it.
//!
//! # The algorithm
//!
//! Every window the [`Controller`] gets counts and latencies and answers a new limit. In
//! the order it looks at them:
//!
//! 1. **Hard signals** (429/503; transport errors clearly above 5 % of the window's
//!    requests, 3 σ beyond chance): the level the server saw (`min(limit,
//!    in_flight_peak)`) becomes the *ceiling*, or less: the gate pauses a host at its first
//!    429, so about one request per request beyond the server's cap is refused, and the
//!    cap is near `level - overloads`. The limit drops to the highest level that recently
//!    ran a whole window without pushback or, when none is known (or the pushback came at
//!    or below it), is halved. At most one hard decrease per latency: answers to requests
//!    sent before a cut say nothing about the new limit.
//! 2. **Settling**: requests in flight at a change take about one latency to leave, so a
//!    window is judged only when at most half of it can still show the old limit, and
//!    thin windows (fewer than 10 completions: a median of two is noise) are gathered into
//!    one sample only from then on.
//! 3. **Latency** (TCP Vegas, Netflix's gradient limiter): the *baseline* is the lowest
//!    window median seen lately, the unloaded latency. Medians, because with 100 ± 30 ms
//!    of jitter the fastest request of a busy window is far below a typical one. Above
//!    1.6 × baseline (and with more than 1.5 requests estimated waiting, Vegas's
//!    `in_flight × (1 - baseline / latency)`), the server queues and more requests do not
//!    add throughput: beyond its capacity latency grows in proportion to the requests in
//!    flight (Little's law), so the limit is scaled by the gradient to bring the median to
//!    1.425 × baseline, by a tenth to a half. Between 1.25 × and 1.6 × it holds
//!    (hysteresis: no oscillation around one threshold); below 1.25 × it may grow.
//! 4. **CPU** (global controller): when pages wait for the CPU pool (backlog above the
//!    thread count) fetching faster only lengthens the queue, so growth stops; when the
//!    backlog stays above 2 per thread for two windows, the limit comes down to the level
//!    that fetches as fast as the pool processes (from the backlog's balance).
//! 5. **App-limited**: when fewer requests were in flight than allowed, a higher limit was
//!    not tested, so it does not grow (TCP's congestion window validation).
//! 6. **Growth**: slow start grows until the first signal, clocked by the answers as TCP's
//!    is by acknowledgements: the [`Decision`] carries a [`Ramp`], and the applier adds 2
//!    to the limit per successful answer (3× per round trip, from the initial 8 to 256 in
//!    four), while at least half the limit is in flight, and by at most 3× per window (a
//!    long window must not run further than the latencies it will judge). New requests
//!    leave one or two at a time as answers arrive, so a hard cap refuses one or two of
//!    them, not a window's growth, and the first refusal stops the ramp at once. The
//!    controller adopts the limit the ramp reached (`Sample::limit_now`) and judges every
//!    window of slow start: growth needs no settling, only a decrease does. Then, below a known ceiling, the limit halves the distance to
//!    it without touching it (a binary search: a 429 cap of 24 is held at 24 after one to
//!    three pushbacks); with no ceiling it adds 1, 2, 4, 8, ... (at most half the limit), so
//!    a capacity rise is found in a few windows while the first step past an old ceiling is
//!    small.
//!
//! **Following the server down and back up.** Down is the hard signals and the latency
//! gradient. Up: a ceiling is forgotten 30 s after the last pushback, and the gentle
//! growth above finds the new level. The baseline must be able to move both ways without
//! creeping up merely because the controller kept a queue: old medians leave the baseline
//! only after a *probe* (like BBR's ProbeRTT): for one clean window the limit drops to
//! 0.75 × the level at which the latency would be the baseline, which empties the
//! server's queue, and the median there confirms the baseline, lowers it (then another
//! probe, twice as deep, 2 s later: the queue may not have been empty), or, when well above
//! it, replaces it (the server got slower; checked again 2 s later). A probe happens when
//! no window allowed growth for 20 s (the limit sits on a queue), when no median came
//! within 1.1 × of the baseline for 30 s, and 2 s after slow start ends on latency (the
//! baseline so far was measured at the initial limit, which may already queue at a small
//! server). It costs one or two windows at about three quarters of the throughput. A
//! second latency decrease in a row is also an experiment: if the latency does not fall
//! with the load, it was not ours, so the baseline is reset and the cuts undone.
//!
//! # Why these constants
//!
//! - Ramp 2 per answer (3× per round trip) from 8: TCP's 1 (2×) reaches 256 in five
//!   round trips, and most crawls of one site are a few hundred pages: the reference job
//!   (234 pages, 100 ms) would spend half its time getting there. Faster costs little
//!   where it matters: a 429 cap still sees one or two refusals (the ramp is paced by the
//!   answers), and a queueing server sees at most 3× its level for one round trip.
//!   Starting higher than 8 would not be polite to a site nobody has measured yet.
//! - Band 1.25 / 1.6: with ± 30 % jitter and 10-sample windows, window medians scatter by
//!   several percent and the baseline is their minimum, so an unloaded server reads up to
//!   about 1.2 × baseline; 1.25 leaves room for that. A server with K workers settles at
//!   1.25–1.6 K requests: busy all the time (full throughput from K on), median latency
//!   below 1.6 × unloaded.
//! - Halving (0.5) on a hard signal with no safe level known, like TCP Reno and the gate's
//!   own per-host halving: a cap that dropped from 32 to 8 is under it in two steps. With a
//!   safe level known the cut goes there directly: gentler, and exact.
//! - Ceiling memory 30 s: each probe past a 429 cap costs a 429 or two and a Retry-After
//!   pause (1 s on the testsite), about 3 % of the time at most; shorter would pay that
//!   more often, longer would find a raised cap later.
//! - Probes at 20 s / 30 s: the baseline stays honest within a horizon, and a steady
//!   server that keeps renewing its baseline is never probed.
//!
//! # Applying it
//!
//! One tokio task closes a window every one or two round trips (100 ms–1 s; the scenarios
//! use 250, 500 and 1000): it
//! takes the window's deltas per host and overall from the stats, calls
//! [`Controller::update`] on each host's controller and on the global one, and applies the
//! answers with `Gate::set_global_limit` and `Gate::set_host_limit` (the gate runs the
//! ramp: `Gate::succeeded` grows the limit, `Gate::overloaded` stops it). Per host, the
//! sample carries the host's completions, latency median and minimum, 429/503s, transport
//! errors and in-flight peak; `cpu_backlog` and `cpu_threads` are 0. Globally, the sample
//! carries the completions, `in_flight_peak` and the CPU pool's backlog and thread count,
//! but no overloads or errors (one host's 429s must not slow the others) and no latency
//! (`latency_p50: None`: latencies of different hosts do not compare; each host's
//! controller already watches its own). The global controller then limits what is local:
//! the CPU pool, and the user's `--max-concurrency` as `max`.
//!
//! Windows may vary in length (the controller's only clock is the sum of
//! `Sample::window`); counts are the window's deltas; `in_flight_peak` includes the
//! requests already in flight when the window opened. Retry-After pauses stay in the gate,
//! but its own halving on overload should be off while a controller drives the host:
//! an overload sample is what makes the controller cut, and two cuts would compound. Hosts without a controller start at `initial`; a host's controller can be dropped
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
pub use sample::{Decision, Ramp, Reason, Sample};
