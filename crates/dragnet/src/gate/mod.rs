//! The politeness gate: a request may start only while the global limit, its host's limit
//! and its host's pause (Retry-After) all allow it.
//!
//! The scheduler asks with [`Gate::try_acquire`] so a busy host never blocks requests to
//! other hosts; a retry waits with [`Gate::acquire`]. A [`Permit`] gives its slot back when
//! dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::control::Ramp;

/// Why a request cannot start now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The global limit is reached: nothing can start until a slot is returned.
    GlobalFull,
    /// This host's limit is reached.
    HostBusy,
    /// This host is paused until then (it asked us to slow down).
    HostPaused(Instant),
}

/// Global and per-host concurrency limits, and per-host pauses.
#[derive(Debug)]
pub struct Gate {
    /// A plain mutex: every critical section is a few map operations, never across an await.
    state: Mutex<GateState>,
    released: Notify,
}

#[derive(Debug)]
struct GateState {
    global_limit: usize,
    per_host_limit: usize,
    in_flight: usize,
    peak: usize,
    /// Minimum gap between request starts to any one host (`--delay`).
    min_interval: Duration,
    /// The limit of a host that has no controlled limit yet (the controller's starting
    /// point); the configured per-host limit when no controller runs.
    new_host_limit: usize,
    /// ... and how it grows until its controller decides (slow start from the first
    /// answer, not from the first control window).
    new_host_ramp: Option<Ramp>,
    /// Halve a host's limit on 429/503 by itself. Off when the adaptive controller drives
    /// the limits (it reacts to the same signals, and two reactions would double the cut).
    aimd: bool,
    /// Most requests in flight during the current control window, overall and per host.
    window_peak: usize,
    window_peaks: HashMap<String, usize>,
    /// Only hosts with requests in flight or a pending pause: the map stays as small as the
    /// active set, not the crawl.
    hosts: HashMap<String, HostSlot>,
}

#[derive(Debug, Default)]
struct HostSlot {
    in_flight: usize,
    paused_until: Option<Instant>,
    /// Lowered after the host said it was overloaded (429/503): halved per overload, raised
    /// by one after as many successes as the limit (AIMD). `None`: the configured limit.
    /// The slot is kept while this is set, so the host's lesson is not forgotten.
    reduced_limit: Option<usize>,
    successes: usize,
    /// Minimum gap between request starts to this host (robots.txt Crawl-delay), on top of
    /// the gate-wide `min_interval`; kept with the slot like `reduced_limit`.
    interval: Option<Duration>,
    last_start: Option<Instant>,
    /// Set by the adaptive controller; replaces the configured per-host limit.
    controlled_limit: Option<usize>,
    /// The controller's slow start: `controlled_limit` grows per successful answer.
    ramp: Option<Ramp>,
}

impl HostSlot {
    /// Whether the slot holds nothing worth remembering once the host is idle.
    fn is_forgettable(&self, now: Instant, min_interval: Duration) -> bool {
        let gap = self.interval.unwrap_or_default().max(min_interval);
        self.in_flight == 0
            && self.paused_until.is_none_or(|until| until <= now)
            && self.reduced_limit.is_none()
            && self.interval.is_none()
            && self.controlled_limit.is_none()
            && self.last_start.is_none_or(|start| start + gap <= now)
    }
}

/// One host's share of a control window: the most requests in flight, and the limit at
/// the window's end as the controller left it or the slow-start ramp grew it (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostWindow {
    /// The most requests in flight to the host during the window.
    pub peak: usize,
    /// The host's controlled limit at the window's end (0: none).
    pub limit: usize,
}

/// A started request's slot; returned when dropped.
#[derive(Debug)]
pub struct Permit {
    gate: Arc<Gate>,
    host: String,
}

impl Gate {
    /// A gate with these limits (each at least 1).
    pub fn new(global_limit: usize, per_host_limit: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(GateState {
                global_limit: global_limit.max(1),
                per_host_limit: per_host_limit.max(1),
                in_flight: 0,
                peak: 0,
                min_interval: Duration::ZERO,
                aimd: true,
                new_host_limit: per_host_limit.max(1),
                new_host_ramp: None,
                window_peak: 0,
                window_peaks: HashMap::new(),
                hosts: HashMap::new(),
            }),
            released: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, GateState> {
        // A panic while holding this lock leaves only counters behind; keep going with them.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes a slot for `host` if one is free right now.
    ///
    /// # Errors
    /// [`Wait`] saying what to wait for.
    pub fn try_acquire(self: &Arc<Self>, host: &str) -> Result<Permit, Wait> {
        let mut state = self.lock();
        let now = Instant::now();
        let per_host_limit = state.per_host_limit.min(state.new_host_limit);
        let min_interval = state.min_interval;
        if let Some(slot) = state.hosts.get_mut(host) {
            match slot.paused_until {
                Some(until) if until > now => return Err(Wait::HostPaused(until)),
                Some(_) => slot.paused_until = None,
                None => {}
            }
            let gap = slot.interval.unwrap_or_default().max(min_interval);
            if let Some(next) = slot
                .last_start
                .map(|start| start + gap)
                .filter(|next| *next > now)
            {
                return Err(Wait::HostPaused(next));
            }
            let limit = slot
                .controlled_limit
                .unwrap_or(per_host_limit)
                .min(slot.reduced_limit.unwrap_or(usize::MAX));
            if slot.in_flight >= limit {
                return Err(Wait::HostBusy);
            }
        }
        if state.in_flight >= state.global_limit {
            return Err(Wait::GlobalFull);
        }
        state.in_flight += 1;
        state.peak = state.peak.max(state.in_flight);
        state.window_peak = state.window_peak.max(state.in_flight);
        let slot = state.hosts.entry(host.to_owned()).or_default();
        slot.in_flight += 1;
        slot.last_start = Some(now);
        let in_flight = slot.in_flight;
        let peak = state.window_peaks.entry(host.to_owned()).or_default();
        *peak = (*peak).max(in_flight);
        Ok(Permit {
            gate: Arc::clone(self),
            host: host.to_owned(),
        })
    }

    /// Waits until a slot for `host` is free and takes it.
    pub async fn acquire(self: &Arc<Self>, host: &str) -> Permit {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Register before checking, so a release between the check and the wait is seen.
            released.as_mut().enable();
            match self.try_acquire(host) {
                Ok(permit) => return permit,
                Err(Wait::HostPaused(until)) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        () = released => {}
                    }
                }
                Err(Wait::GlobalFull | Wait::HostBusy) => released.await,
            }
        }
    }

    /// Resolves when any slot is returned or a pause may have changed. The scheduler waits on
    /// this; call it before re-checking to avoid missing a wake-up.
    pub fn released(&self) -> tokio::sync::futures::Notified<'_> {
        self.released.notified()
    }

    /// The host said it is overloaded (429, 503): pause it until `until` and halve its
    /// concurrency. Answers from the same burst arrive while the pause is on; they extend
    /// the pause but do not halve again, so one burst is one decrease.
    pub fn overloaded(&self, host: &str, until: Instant) {
        let mut state = self.lock();
        let per_host_limit = state.per_host_limit;
        let new_host_limit = state.per_host_limit.min(state.new_host_limit);
        let aimd = state.aimd;
        let slot = state.hosts.entry(host.to_owned()).or_default();
        let already_paused = slot.paused_until.is_some_and(|old| old > Instant::now());
        if !already_paused && aimd {
            let current = slot.reduced_limit.unwrap_or(per_host_limit);
            slot.reduced_limit = Some((current / 2).max(1));
            slot.successes = 0;
        }
        if !aimd {
            // Slow start ends here, not at the end of the control window: every answer
            // until then would send more requests into the refusal.
            slot.ramp = None;
            slot.controlled_limit.get_or_insert(new_host_limit);
        }
        slot.paused_until = Some(slot.paused_until.map_or(until, |old| old.max(until)));
        drop(state);
        self.released.notify_waiters();
    }

    /// A request to `host` succeeded: a reduced limit grows back by one per limit's worth
    /// of successes, until it is the configured limit again; under a controller in slow
    /// start, the limit grows by its ramp.
    pub fn succeeded(&self, host: &str, latency: Duration) {
        let mut state = self.lock();
        if !state.aimd {
            let grew = state.ramp(host, latency);
            drop(state);
            if grew {
                self.released.notify_waiters();
            }
            return;
        }
        let per_host_limit = state.per_host_limit;
        let Some(slot) = state.hosts.get_mut(host) else {
            return;
        };
        let Some(limit) = slot.reduced_limit else {
            return;
        };
        slot.successes += 1;
        if slot.successes >= limit {
            slot.successes = 0;
            slot.reduced_limit = (limit + 1 < per_host_limit).then_some(limit + 1);
        }
    }

    /// The limit in force for `host` now.
    pub fn host_limit(&self, host: &str) -> usize {
        let state = self.lock();
        state
            .hosts
            .get(host)
            .and_then(|s| s.reduced_limit)
            .unwrap_or(state.per_host_limit)
    }

    /// Hands the limits to the adaptive controller: the gate stops halving hosts on 429/503
    /// itself (the controller does).
    pub fn set_adaptive(&self) {
        self.lock().aimd = false;
    }

    /// The limit for hosts the controller has not seen yet, and its slow start.
    pub fn set_default_host_limit(&self, limit: usize, ramp: Option<Ramp>) {
        let mut state = self.lock();
        state.new_host_limit = limit.max(1);
        state.new_host_ramp = ramp;
    }

    /// Sets the global limit (the controller's decision).
    pub fn set_global_limit(&self, limit: usize) {
        self.lock().global_limit = limit.max(1);
        self.released.notify_waiters();
    }

    /// Sets one host's limit and slow-start ramp (its controller's decision), capped by
    /// the configured per-host limit; `None` forgets them (the host went idle).
    ///
    /// While the ramp goes on, growth since the window closed is kept: the decision was
    /// made on the window, the answers since are newer. A host paused since (it refused a
    /// request) gets no ramp: its next window will show why.
    pub fn set_host_limit(&self, host: &str, limit: Option<(usize, Option<Ramp>)>) {
        let mut state = self.lock();
        let cap = state.per_host_limit;
        match limit {
            Some((limit, ramp)) => {
                let slot = state.hosts.entry(host.to_owned()).or_default();
                let paused = slot
                    .paused_until
                    .is_some_and(|until| until > Instant::now());
                let ramp = ramp.filter(|_| !paused);
                let limit = match (ramp, slot.controlled_limit) {
                    (Some(_), Some(current)) => limit.max(current),
                    _ => limit,
                };
                slot.controlled_limit = Some(limit.clamp(1, cap));
                slot.ramp = ramp;
            }
            None => {
                if let Some(slot) = state.hosts.get_mut(host) {
                    slot.controlled_limit = None;
                    slot.ramp = None;
                }
            }
        }
        drop(state);
        self.released.notify_waiters();
    }

    /// The most requests in flight since the last call, overall and per host, with each
    /// host's limit now (0: none set by a controller); starts a new control window (peaks
    /// restart from what is in flight now).
    pub fn take_window_peaks(&self) -> (usize, HashMap<String, HostWindow>) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let global = std::mem::replace(&mut state.window_peak, state.in_flight);
        let peaks = std::mem::take(&mut state.window_peaks);
        let mut hosts: HashMap<String, HostWindow> = peaks
            .into_iter()
            .map(|(host, peak)| (host, HostWindow { peak, limit: 0 }))
            .collect();
        for (host, slot) in &state.hosts {
            if slot.in_flight > 0 {
                let window = hosts.entry(host.clone()).or_default();
                window.peak = window.peak.max(slot.in_flight);
                state.window_peaks.insert(host.clone(), slot.in_flight);
            }
            if let (Some(limit), Some(window)) = (slot.controlled_limit, hosts.get_mut(host)) {
                window.limit = limit;
            }
        }
        (global.max(state.in_flight), hosts)
    }

    /// Records a request start to `host` made elsewhere (a previous run), so the per-host gap
    /// counts from now.
    pub fn note_start(&self, host: &str) {
        let mut state = self.lock();
        state.hosts.entry(host.to_owned()).or_default().last_start = Some(Instant::now());
    }

    /// Sets the minimum gap between request starts to any one host (`--delay`).
    pub fn set_min_interval(&self, interval: Duration) {
        self.lock().min_interval = interval;
    }

    /// Sets a host's own minimum gap (robots.txt Crawl-delay); the larger of this and the
    /// gate-wide gap applies.
    pub fn set_host_interval(&self, host: &str, interval: Duration) {
        let mut state = self.lock();
        state.hosts.entry(host.to_owned()).or_default().interval = Some(interval);
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight
    }

    /// The most requests that were ever in flight at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// The current global limit.
    pub fn global_limit(&self) -> usize {
        self.lock().global_limit
    }

    fn release(&self, host: &str) {
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let min_interval = state.min_interval;
        if let Some(slot) = state.hosts.get_mut(host) {
            slot.in_flight = slot.in_flight.saturating_sub(1);
            if slot.is_forgettable(Instant::now(), min_interval) {
                state.hosts.remove(host);
            }
        }
        drop(state);
        self.released.notify_waiters();
    }
}

impl GateState {
    /// Slow start's growth after a successful answer from `host`; whether the limit grew.
    fn ramp(&mut self, host: &str, latency: Duration) -> bool {
        let now = Instant::now();
        let (new_limit, new_ramp) = (
            self.per_host_limit.min(self.new_host_limit),
            self.new_host_ramp,
        );
        let cap = self.per_host_limit;
        let slot = self.hosts.get(host);
        let (limit, ramp) = match slot.and_then(|s| s.controlled_limit) {
            Some(limit) => (limit, slot.and_then(|s| s.ramp)),
            None => (new_limit, new_ramp),
        };
        let paused = slot.is_some_and(|s| s.paused_until.is_some_and(|until| until > now));
        let Some(ramp) = ramp.filter(|_| !paused) else {
            return false;
        };
        // The answer's own slot was returned just before: it counts as still out.
        let in_flight = slot.map_or(0, |s| s.in_flight) + 1;
        let grown = ramp.grown(limit, in_flight, latency).min(cap);
        if grown <= limit {
            return false;
        }
        let slot = self.hosts.entry(host.to_owned()).or_default();
        slot.controlled_limit = Some(grown);
        slot.ramp = Some(ramp);
        true
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(&self.host);
    }
}

#[cfg(test)]
mod tests;
