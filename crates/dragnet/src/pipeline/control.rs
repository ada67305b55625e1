//! The task that applies the adaptive controller (`crate::control`): every window it turns
//! the window's counters into a `Sample` per host and one overall, asks each host's
//! controller and the global one for a limit, and sets them on the gate.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::control::{Controller, ControllerConfig, Sample};
use crate::gate::Gate;
use crate::report::LimitPoint;
use crate::stats::Stats;

/// How often the loop looks. A window closes after about two median latencies of the
/// busiest host (one during slow start, whose ramp may grow 3× per window: a window per
/// round trip lets it grow that much per round trip; two give the median something to
/// stand on), never shorter than `MIN_WINDOW` (the CPU signal needs a few completions to
/// mean anything) and never longer than `MAX_WINDOW`. The tick is finer than the windows
/// so a window closes within a quarter of a round trip of its target, not a whole one
/// later: a 233-page job at 100 ms is over in five round trips.
const TICK: Duration = Duration::from_millis(25);
const MIN_WINDOW: Duration = Duration::from_millis(100);
const MAX_WINDOW: Duration = Duration::from_secs(1);
/// Hosts listed per history point (the busiest), so the summary stays small on wide crawls.
const HISTORY_HOSTS: usize = 8;

struct HostControl {
    controller: Controller,
    last_active: Instant,
}

fn host_config(per_host_max: usize) -> ControllerConfig {
    let initial = crate::config::AUTO_INITIAL_CONCURRENCY;
    ControllerConfig::with_bounds(1, per_host_max, initial.min(per_host_max))
}

/// Hands the gate's limits to the controllers before the first request: new hosts start at
/// the controller's initial limit and in its slow start from their first answer.
pub(super) fn prepare_gate(gate: &Gate, per_host_max: usize) {
    let fresh = Controller::new(host_config(per_host_max));
    gate.set_adaptive();
    gate.set_default_host_limit(fresh.limit(), fresh.ramp());
}

/// Runs until aborted (the pipeline aborts it when the crawl ends).
pub(super) async fn control_loop(
    gate: Arc<Gate>,
    stats: Arc<Stats>,
    max: usize,
    per_host_max: usize,
) {
    let host_config = host_config(per_host_max);
    let idle_after = host_config.ceiling_memory;
    // The global controller starts at the cap: the hosts' controllers do the slow start
    // against their servers; the global one only brings the total down when the CPU pool
    // falls behind. Starting it low too would make each wait for the other every window.
    let mut global = Controller::new(ControllerConfig::with_bounds(1, max, max));
    let mut hosts: HashMap<String, HostControl> = HashMap::new();
    gate.set_global_limit(global.limit());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut last = Instant::now();
    let mut target = MIN_WINDOW;
    loop {
        tick.tick().await;
        let now = Instant::now();
        let window = now - last;
        if window < target {
            continue;
        }
        last = now;
        let mut windows = stats.window.take();
        let (global_peak, host_peaks) = gate.take_window_peaks();

        let mut completed = 0;
        let mut overloads = 0;
        let mut busiest: Vec<(u64, String, usize, Option<Duration>, bool)> = Vec::new();
        let active: HashSet<String> = windows.keys().chain(host_peaks.keys()).cloned().collect();
        for host in active {
            let mut counts = windows.remove(&host).unwrap_or_default();
            let (latency_p50, latency_min) = counts.latency_p50_min();
            let host_window = host_peaks.get(&host).copied().unwrap_or_default();
            let sample = Sample {
                window,
                completed: counts.completed,
                latency_p50,
                latency_min,
                overloads: counts.overloads,
                errors: counts.errors,
                in_flight_peak: host_window.peak as u64,
                cpu_backlog: 0,
                cpu_threads: 0,
                limit_now: host_window.limit,
            };
            completed += counts.completed;
            overloads += counts.overloads;
            let control = hosts.entry(host.clone()).or_insert_with(|| HostControl {
                controller: Controller::new(host_config.clone()),
                last_active: now,
            });
            control.last_active = now;
            let decision = control.controller.update(&sample);
            gate.set_host_limit(&host, Some((decision.limit, decision.ramp)));
            let slow_start = control.controller.in_slow_start();
            busiest.push((
                counts.completed,
                host,
                decision.limit,
                latency_p50,
                slow_start,
            ));
        }
        hosts.retain(|host, control| {
            let keep = now - control.last_active < idle_after;
            if !keep {
                gate.set_host_limit(host, None);
            }
            keep
        });

        let sample = Sample {
            window,
            completed,
            latency_p50: None,
            latency_min: None,
            overloads: 0,
            errors: 0,
            in_flight_peak: global_peak as u64,
            cpu_backlog: stats.cpu_backlog.load(std::sync::atomic::Ordering::Relaxed),
            cpu_threads: stats.threads() as u64,
            limit_now: 0,
        };
        let decision = global.update(&sample);
        gate.set_global_limit(decision.limit);

        busiest.sort_unstable_by_key(|b| Reverse(b.0));
        let busiest_latency = busiest.first().and_then(|b| b.3);
        if let Some(latency) = busiest_latency {
            // Slow start grows per window: one round trip each, as TCP does.
            let round_trips = if busiest.first().is_some_and(|b| b.4) {
                1
            } else {
                2
            };
            target = (latency * round_trips).clamp(MIN_WINDOW, MAX_WINDOW);
        }
        let latency_ms = busiest_latency.map(|l| l.as_millis() as u64);
        let host_limits: BTreeMap<String, usize> = busiest
            .into_iter()
            .take(HISTORY_HOSTS)
            .map(|(_, host, limit, _, _)| (host, limit))
            .collect();
        stats.record_limit(LimitPoint {
            t: stats.elapsed().as_secs_f64(),
            limit: decision.limit,
            throughput: sample.throughput(),
            latency_ms,
            overloads,
            hosts: host_limits,
            reason: decision.reason.label(),
        });
    }
}
