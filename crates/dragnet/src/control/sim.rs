//! A deterministic discrete-event simulation of one client and one server, to test the
//! [`Controller`] under simulated time (no tokio, no clock).
//!
//! The client keeps `limit` requests in flight (an endless supply of URLs), like the
//! pipeline does. The server answers after its latency (± jitter, with an optional heavy
//! tail), works on at most `capacity` requests at once with a FIFO queue for the rest
//! (so latency grows with load, like the testsite's capacity), and answers 429 at once to a
//! request arriving while `cap_429` are in flight. A 429 pauses the client for
//! `retry_after_ms`, as the gate does. Fetched pages can go through a CPU pool of
//! `threads` × `cost_ms`, and the number of tasks (fetching or waiting for the pool) is
//! capped at `limit + backlog_per_thread × threads`, as the pipeline's scheduler does.
//! Every window the simulation builds the [`Sample`] the apply-task would, feeds the
//! controller and applies its decision.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

use serde::Deserialize;

use super::{Controller, ControllerConfig, Decision, Ramp, Reason, Sample};

/// The server model. Every field can change over time through [`Change`].
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Server {
    /// Typical time to answer, in ms, when not queued.
    pub(crate) latency_ms: f64,
    /// Uniform jitter as a share of the latency (0.3: 100 ms is 70..130 ms).
    #[serde(default)]
    pub(crate) jitter: f64,
    /// Share of requests that take `tail_ms` instead.
    #[serde(default)]
    pub(crate) tail_share: f64,
    #[serde(default)]
    pub(crate) tail_ms: f64,
    /// 429 when a request arrives while this many are in flight (queued ones included).
    #[serde(default)]
    pub(crate) cap_429: Option<usize>,
    /// Requests worked on at once; the rest wait in a FIFO queue.
    #[serde(default)]
    pub(crate) capacity: Option<usize>,
    #[serde(default = "default_retry_after")]
    pub(crate) retry_after_ms: f64,
    /// Share of requests that fail in transport (a reset after the latency).
    #[serde(default)]
    pub(crate) error_rate: f64,
}

fn default_retry_after() -> f64 {
    1000.0
}

/// New values for some server fields from `at_s` on. A cap or capacity of 0 removes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Change {
    pub(crate) at_s: f64,
    #[serde(default)]
    pub(crate) latency_ms: Option<f64>,
    #[serde(default)]
    pub(crate) cap_429: Option<usize>,
    #[serde(default)]
    pub(crate) capacity: Option<usize>,
    #[serde(default)]
    pub(crate) error_rate: Option<f64>,
}

/// The CPU pool model.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Cpu {
    pub(crate) threads: u64,
    pub(crate) cost_ms: f64,
    /// The pipeline's `CPU_BACKLOG_PER_THREAD`.
    #[serde(default = "default_backlog_per_thread")]
    pub(crate) backlog_per_thread: u64,
}

fn default_backlog_per_thread() -> u64 {
    4
}

/// One simulation run.
#[derive(Clone, Debug)]
pub(crate) struct SimConfig {
    pub(crate) duration: Duration,
    pub(crate) window: Duration,
    pub(crate) seed: u64,
    pub(crate) server: Server,
    pub(crate) changes: Vec<Change>,
    pub(crate) cpu: Option<Cpu>,
    pub(crate) controller: ControllerConfig,
}

/// What happened in one window.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// When the window started, in seconds.
    pub(crate) start_s: f64,
    /// The limit in force during the window.
    pub(crate) limit: usize,
    /// Whether that limit was a probe's temporary dip.
    pub(crate) probing: bool,
    pub(crate) sample: Sample,
    /// Pages fully done (fetched, and processed when there is a CPU pool).
    pub(crate) useful: u64,
    /// The best rate any fixed limit could reach with the server as it was.
    pub(crate) optimal_rate: f64,
    /// The server's unloaded latency at the time.
    pub(crate) base_latency: Duration,
    /// The controller's answer at the end of the window.
    pub(crate) decision: Decision,
    /// The controller's baseline after it.
    pub(crate) baseline: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The server answered a request sent at `sent`; its worker is free again.
    Answered { sent: u64 },
    /// A 429.
    Rejected,
    /// A transport failure (reset, timeout).
    Failed,
    /// The CPU pool finished a page.
    CpuDone,
    /// A Retry-After pause is over.
    Wake,
}

struct Engine {
    config: SimConfig,
    server: Server,
    controller: Controller,
    /// Simulated time in microseconds.
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    rng: u64,
    server_in_flight: usize,
    busy: usize,
    queue: VecDeque<(u64, u64)>,
    limit: usize,
    /// Slow start's per-answer growth, as the gate applies it.
    ramp: Option<Ramp>,
    in_flight: u64,
    paused_until: u64,
    cpu_busy: u64,
    cpu_queue: u64,
    // The window being measured.
    latencies: Vec<u64>,
    overloads: u64,
    errors: u64,
    peak: u64,
    useful: u64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn ms_to_us(ms: f64) -> u64 {
    (ms * 1000.0).round().max(1.0) as u64
}

/// Runs the simulation; one [`Window`] per control window.
pub(crate) fn run(config: &SimConfig) -> Vec<Window> {
    let controller = Controller::new(config.controller.clone());
    let mut engine = Engine {
        server: config.server.clone(),
        limit: controller.limit(),
        ramp: controller.ramp(),
        controller,
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        rng: config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
        server_in_flight: 0,
        busy: 0,
        queue: VecDeque::new(),
        in_flight: 0,
        paused_until: 0,
        cpu_busy: 0,
        cpu_queue: 0,
        latencies: Vec::new(),
        overloads: 0,
        errors: 0,
        peak: 0,
        useful: 0,
        config: config.clone(),
    };
    engine.run()
}

impl Engine {
    fn run(&mut self) -> Vec<Window> {
        let window = micros(self.config.window).max(1);
        let count = micros(self.config.duration) / window;
        let mut changes = self.config.changes.clone();
        changes.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        let mut changes = changes.into_iter().peekable();
        let mut out = Vec::with_capacity(count as usize);
        let mut probing = false;
        for w in 0..count {
            let start = w * window;
            while let Some(change) = changes.next_if(|c| ms_to_us(c.at_s * 1000.0) <= start) {
                self.apply(&change);
            }
            self.peak = self.in_flight;
            self.fill();
            let end = start + window;
            while let Some(&Reverse((at, _, event))) = self.events.peek() {
                if at > end {
                    break;
                }
                self.events.pop();
                self.now = at;
                self.handle(event);
            }
            self.now = end;
            let sample = self.sample();
            let decision = self.controller.update(&sample);
            out.push(Window {
                start_s: start as f64 / 1e6,
                limit: self.limit,
                probing,
                sample,
                useful: self.useful,
                optimal_rate: self.optimal_rate(),
                base_latency: Duration::from_secs_f64(self.server.latency_ms / 1000.0),
                decision,
                baseline: self.controller.baseline(),
            });
            // A probe lowers the limit and holds it (whatever the reasons meanwhile) until
            // it restores it or a hard signal changes it.
            probing = (decision.reason == Reason::Probe && decision.limit < self.limit)
                || (probing && decision.limit == self.limit);
            self.limit = decision.limit;
            self.ramp = decision.ramp;
            self.latencies.clear();
            (self.overloads, self.errors, self.useful) = (0, 0, 0);
        }
        out
    }

    fn apply(&mut self, change: &Change) {
        let s = &mut self.server;
        if let Some(v) = change.latency_ms {
            s.latency_ms = v;
        }
        if let Some(v) = change.cap_429 {
            s.cap_429 = (v > 0).then_some(v);
        }
        if let Some(v) = change.capacity {
            s.capacity = (v > 0).then_some(v);
        }
        if let Some(v) = change.error_rate {
            s.error_rate = v;
        }
        self.start_queued();
    }

    fn sample(&mut self) -> Sample {
        let (p50, min) = if self.latencies.is_empty() {
            (None, None)
        } else {
            let mid = self.latencies.len() / 2;
            let (_, &mut p50, _) = self.latencies.select_nth_unstable(mid);
            let min = self.latencies.iter().copied().min().unwrap_or(p50);
            (
                Some(Duration::from_micros(p50)),
                Some(Duration::from_micros(min)),
            )
        };
        let (backlog, threads) = match &self.config.cpu {
            Some(cpu) => (self.cpu_busy + self.cpu_queue, cpu.threads),
            None => (0, 0),
        };
        Sample {
            window: self.config.window,
            completed: self.latencies.len() as u64,
            latency_p50: p50,
            latency_min: min,
            overloads: self.overloads,
            errors: self.errors,
            in_flight_peak: self.peak,
            cpu_backlog: backlog,
            cpu_threads: threads,
            limit_now: self.limit,
        }
    }

    fn optimal_rate(&self) -> f64 {
        let s = &self.server;
        let latency =
            ((1.0 - s.tail_share) * s.latency_ms + s.tail_share * s.tail_ms).max(1e-3) / 1000.0;
        let mut in_flight = self.config.controller.max as f64;
        if let Some(cap) = s.cap_429 {
            in_flight = in_flight.min(cap as f64);
        }
        if let Some(k) = s.capacity {
            in_flight = in_flight.min(k as f64);
        }
        let mut rate = in_flight / latency * (1.0 - s.error_rate);
        if let Some(cpu) = &self.config.cpu {
            rate = rate.min(cpu.threads as f64 * 1000.0 / cpu.cost_ms);
        }
        rate
    }

    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    /// Uniform in [0, 1), xorshift64*: deterministic per seed.
    fn unit(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn service_time(&mut self) -> u64 {
        let s = &self.server;
        let (tail_share, tail_ms, latency_ms, jitter) =
            (s.tail_share, s.tail_ms, s.latency_ms, s.jitter);
        if tail_share > 0.0 && self.unit() < tail_share {
            return ms_to_us(tail_ms);
        }
        let offset = (self.unit() * 2.0 - 1.0) * jitter;
        ms_to_us(latency_ms * (1.0 + offset))
    }

    fn tasks_allowed(&self) -> bool {
        match &self.config.cpu {
            Some(cpu) => {
                let tasks = self.in_flight + self.cpu_busy + self.cpu_queue;
                tasks < self.limit as u64 + cpu.backlog_per_thread * cpu.threads
            }
            None => true,
        }
    }

    /// Sends requests while the limit, the pause and the task cap allow.
    fn fill(&mut self) {
        while self.now >= self.paused_until
            && self.in_flight < self.limit as u64
            && self.tasks_allowed()
        {
            self.send();
        }
    }

    fn send(&mut self) {
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
        let now = self.now;
        if self.server.error_rate > 0.0 && self.unit() < self.server.error_rate {
            let after = self.service_time();
            self.push(now + after, Event::Failed);
            return;
        }
        if self
            .server
            .cap_429
            .is_some_and(|cap| self.server_in_flight >= cap)
        {
            // The testsite answers before any latency; 1 ms stands for the round trip.
            self.push(now + 1000, Event::Rejected);
            return;
        }
        self.server_in_flight += 1;
        let service = self.service_time();
        self.queue.push_back((now, service));
        self.start_queued();
    }

    fn start_queued(&mut self) {
        let capacity = self.server.capacity.unwrap_or(usize::MAX);
        while self.busy < capacity {
            let Some((sent, service)) = self.queue.pop_front() else {
                break;
            };
            self.busy += 1;
            self.push(self.now + service, Event::Answered { sent });
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Answered { sent } => {
                self.busy -= 1;
                self.server_in_flight -= 1;
                self.start_queued();
                if let Some(ramp) = self.ramp {
                    let latency = Duration::from_micros(self.now - sent);
                    self.limit = ramp.grown(self.limit, self.in_flight as usize, latency);
                }
                self.in_flight -= 1;
                self.latencies.push(self.now - sent);
                match &self.config.cpu {
                    Some(cpu) if self.cpu_busy < cpu.threads => {
                        self.cpu_busy += 1;
                        let done = self.now + ms_to_us(cpu.cost_ms);
                        self.push(done, Event::CpuDone);
                    }
                    Some(_) => self.cpu_queue += 1,
                    None => self.useful += 1,
                }
            }
            Event::Rejected => {
                // The gate stops the ramp at the first refusal.
                self.ramp = None;
                self.in_flight -= 1;
                self.overloads += 1;
                let until = self.now + ms_to_us(self.server.retry_after_ms);
                if until > self.paused_until {
                    self.paused_until = until;
                    self.push(until, Event::Wake);
                }
            }
            Event::Failed => {
                self.in_flight -= 1;
                self.errors += 1;
            }
            Event::CpuDone => {
                self.useful += 1;
                if self.cpu_queue > 0 {
                    self.cpu_queue -= 1;
                    let cost = self.config.cpu.as_ref().map_or(1, |c| ms_to_us(c.cost_ms));
                    self.push(self.now + cost, Event::CpuDone);
                } else {
                    self.cpu_busy -= 1;
                }
            }
            Event::Wake => {}
        }
        self.fill();
    }
}
