//! Scenario tests: every `tests/data/control/*.json` file is one simulated site with pass
//! criteria. Adding a scenario is adding a file.
//!
//! A file holds `description`, `duration_s`, `window_ms` (default 500), `seeds` (default
//! `[1, 2, 3]`; every check must pass with each),
//! optional `bounds` (`min`, `max`, `initial` of the controller), `server` (see
//! [`sim::Server`]), optional `changes` (see [`sim::Change`]), optional `cpu` (see
//! [`sim::Cpu`]) and `checks`: time ranges, each with any of
//!
//! - `limit: [lo, hi]`: the median limit in the range (probe dips excluded) is within;
//! - `limit_max`: no window's limit is above;
//! - `throughput_min`: pages done / what the best fixed limit would do, at least;
//! - `overload_share_max`: 429s / requests, at most;
//! - `p50_max`: the median window's median latency / the server's unloaded latency, at most;
//! - `swing_max`: no limit (probe dips excluded) is further than this share (plus one) from
//!   the median;
//! - `backlog_max`: the CPU backlog never above.
//!
//! `cargo test -p dragnet --lib control -- --nocapture` prints the table.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::ControllerConfig;
use super::sim::{self, Change, Cpu, Server, SimConfig, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    duration_s: f64,
    #[serde(default = "default_window_ms")]
    window_ms: u64,
    #[serde(default = "default_seeds")]
    seeds: Vec<u64>,
    #[serde(default)]
    bounds: Option<Bounds>,
    server: Server,
    #[serde(default)]
    changes: Vec<Change>,
    #[serde(default)]
    cpu: Option<Cpu>,
    checks: Vec<Check>,
}

fn default_window_ms() -> u64 {
    500
}

/// Every scenario runs with several jitter seeds: a controller tuned to one random
/// sequence would pass by luck.
fn default_seeds() -> Vec<u64> {
    vec![1, 2, 3]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bounds {
    min: usize,
    max: usize,
    initial: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    from_s: f64,
    to_s: f64,
    #[serde(default)]
    limit: Option<[f64; 2]>,
    #[serde(default)]
    limit_max: Option<usize>,
    #[serde(default)]
    throughput_min: Option<f64>,
    #[serde(default)]
    overload_share_max: Option<f64>,
    #[serde(default)]
    p50_max: Option<f64>,
    #[serde(default)]
    swing_max: Option<f64>,
    #[serde(default)]
    backlog_max: Option<u64>,
}

/// What one check measured.
#[derive(Debug)]
struct Measured {
    median_limit: f64,
    min_limit: usize,
    max_limit: usize,
    throughput: f64,
    overload_share: f64,
    p50: f64,
    swing: f64,
    probe_share: f64,
    backlog_max: u64,
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn measure(windows: &[Window]) -> Measured {
    let steady: Vec<&Window> = windows.iter().filter(|w| !w.probing).collect();
    let mut limits: Vec<f64> = steady.iter().map(|w| w.limit as f64).collect();
    let median_limit = median(&mut limits);
    // Limits are integers: one step is never a swing (2 → 3 would be ±50 %).
    let swing = steady
        .iter()
        .map(|w| ((w.limit as f64 - median_limit).abs() - 1.0).max(0.0) / median_limit)
        .fold(0.0, f64::max);
    let useful: u64 = windows.iter().map(|w| w.useful).sum();
    let optimal: f64 = windows
        .iter()
        .map(|w| w.optimal_rate * w.sample.window.as_secs_f64())
        .sum();
    let overloads: u64 = windows.iter().map(|w| w.sample.overloads).sum();
    let requests: u64 = windows
        .iter()
        .map(|w| w.sample.completed + w.sample.overloads + w.sample.errors)
        .sum();
    let mut p50s: Vec<f64> = windows
        .iter()
        .filter_map(|w| {
            let p50 = w.sample.latency_p50?;
            Some(p50.as_secs_f64() / w.base_latency.as_secs_f64())
        })
        .collect();
    Measured {
        median_limit,
        min_limit: windows.iter().map(|w| w.limit).min().unwrap_or(0),
        max_limit: windows.iter().map(|w| w.limit).max().unwrap_or(0),
        throughput: useful as f64 / optimal.max(1e-9),
        overload_share: overloads as f64 / requests.max(1) as f64,
        p50: median(&mut p50s),
        swing,
        probe_share: 1.0 - steady.len() as f64 / windows.len().max(1) as f64,
        backlog_max: windows
            .iter()
            .map(|w| w.sample.cpu_backlog)
            .max()
            .unwrap_or(0),
    }
}

/// The criteria `m` misses, as readable reasons.
fn failures(check: &Check, m: &Measured) -> Vec<String> {
    let mut out = Vec::new();
    if let Some([lo, hi]) = check.limit
        && !(lo..=hi).contains(&m.median_limit)
    {
        out.push(format!(
            "median limit {} not in [{lo}, {hi}]",
            m.median_limit
        ));
    }
    if let Some(max) = check.limit_max.filter(|&max| m.max_limit > max) {
        out.push(format!("limit reached {} > {max}", m.max_limit));
    }
    if let Some(min) = check.throughput_min.filter(|&min| m.throughput < min) {
        out.push(format!("throughput {:.3} < {min}", m.throughput));
    }
    if let Some(max) = check
        .overload_share_max
        .filter(|&max| m.overload_share > max)
    {
        out.push(format!("429 share {:.4} > {max}", m.overload_share));
    }
    if let Some(max) = check.p50_max.filter(|&max| m.p50.is_nan() || m.p50 > max) {
        out.push(format!("p50/base {:.2} > {max}", m.p50));
    }
    if let Some(max) = check.swing_max.filter(|&max| m.swing > max) {
        out.push(format!("swing ±{:.2} > ±{max}", m.swing));
    }
    if let Some(max) = check.backlog_max.filter(|&max| m.backlog_max > max) {
        out.push(format!("CPU backlog {} > {max}", m.backlog_max));
    }
    out
}

fn sim_config(s: &Scenario, seed: u64) -> SimConfig {
    let mut controller = ControllerConfig::default();
    if let Some(b) = &s.bounds {
        controller = ControllerConfig::with_bounds(b.min, b.max, b.initial);
    }
    SimConfig {
        duration: Duration::from_secs_f64(s.duration_s),
        window: Duration::from_millis(s.window_ms),
        seed,
        server: s.server.clone(),
        changes: s.changes.clone(),
        cpu: s.cpu.clone(),
        controller,
    }
}

/// Runs one scenario file: the table rows, and whether every check passed.
fn run_file(path: &Path) -> (String, bool) {
    let name = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scenario: Scenario =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !scenario.checks.is_empty(),
        "{name}: a scenario needs checks"
    );
    let mut rows = String::new();
    let mut passed = true;
    let mut traced = None;
    // DRAGNET_CONTROL_SEEDS=1-20 runs every scenario with those seeds instead.
    let seeds = match std::env::var("DRAGNET_CONTROL_SEEDS") {
        Ok(range) => {
            let (a, b) = range.split_once('-').unwrap_or((&range, &range));
            let (a, b) = (a.parse().unwrap_or(1), b.parse().unwrap_or(1));
            (a..=b).collect()
        }
        Err(_) => scenario.seeds.clone(),
    };
    for &seed in &seeds {
        let windows = sim::run(&sim_config(&scenario, seed));
        for check in &scenario.checks {
            let range: Vec<Window> = windows
                .iter()
                .filter(|w| w.start_s >= check.from_s && w.start_s < check.to_s)
                .cloned()
                .collect();
            assert!(
                !range.is_empty(),
                "{name}: check {}..{} s is empty",
                check.from_s,
                check.to_s
            );
            let m = measure(&range);
            let failed = failures(check, &m);
            passed &= failed.is_empty();
            let _ = writeln!(
                rows,
                "{name:<24} {seed:>2} {:>4}-{:<4} {:>6.1} {:>4}-{:<4} {:>6.3} {:>7.4} {:>5.2} {:>5.2} {:>5.2} {:>5} {}",
                check.from_s,
                check.to_s,
                m.median_limit,
                m.min_limit,
                m.max_limit,
                m.throughput,
                m.overload_share,
                m.p50,
                m.swing,
                m.probe_share,
                m.backlog_max,
                if failed.is_empty() {
                    "ok".to_owned()
                } else {
                    format!("FAIL: {}", failed.join("; "))
                },
            );
        }
        // DRAGNET_CONTROL_TRACE=name or name:seed prints that run window by window.
        let wanted = std::env::var("DRAGNET_CONTROL_TRACE").unwrap_or_default();
        if wanted == name || wanted == format!("{name}:{seed}") {
            traced.get_or_insert((seed, windows));
        }
    }
    if let Some((seed, windows)) = traced {
        let _ = writeln!(rows, "  seed {seed}: {}", scenario.description);
        for w in &windows {
            let _ = writeln!(
                rows,
                "  t={:6.2} limit={:4} done={:5} p50={:?} 429={} err={} peak={} backlog={} -> {} {} base={:?}",
                w.start_s,
                w.limit,
                w.sample.completed,
                w.sample.latency_p50.map(|d| d.as_millis()),
                w.sample.overloads,
                w.sample.errors,
                w.sample.in_flight_peak,
                w.sample.cpu_backlog,
                w.decision.limit,
                w.decision.reason.label(),
                w.baseline.map(|d| d.as_millis()),
            );
        }
    }
    (rows, passed)
}

#[test]
fn scenarios_meet_their_criteria() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/control");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 6,
        "scenario files missing in {}",
        dir.display()
    );
    // Scenarios are independent: run them on all cores.
    let results: Vec<(String, bool)> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .map(|path| scope.spawn(move || run_file(path)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut table = format!(
        "{:<24} {:>2} {:>9} {:>6} {:>9} {:>6} {:>7} {:>5} {:>5} {:>5} {:>5} result\n",
        "scenario",
        "sd",
        "seconds",
        "limit",
        "min-max",
        "thr/op",
        "429",
        "p50/b",
        "swing",
        "probe",
        "cpuq"
    );
    for (rows, _) in &results {
        table.push_str(rows);
    }
    println!("{table}");
    assert!(
        results.iter().all(|(_, ok)| *ok),
        "scenario checks failed:\n{table}"
    );
}
