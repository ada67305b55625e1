//! Unit tests of single decisions; whole behaviours are in the scenarios.

use std::time::Duration;

use super::{Controller, ControllerConfig, Reason, Sample};

const WINDOW: Duration = Duration::from_millis(500);
const MS100: Duration = Duration::from_millis(100);

/// A window where `limit` requests of `p50_ms` each were kept in flight (in slow start,
/// the ramp took the limit there).
fn busy(limit: usize, p50_ms: u64) -> Sample {
    let p50 = Duration::from_millis(p50_ms);
    Sample {
        window: WINDOW,
        completed: (limit as u64 * 500 / p50_ms).max(1),
        latency_p50: Some(p50),
        latency_min: Some(p50 * 7 / 10),
        in_flight_peak: limit as u64,
        limit_now: limit,
        ..Sample::default()
    }
}

fn controller() -> Controller {
    Controller::new(ControllerConfig::default())
}

#[test]
fn slow_start_ramps_to_the_maximum_while_latency_holds() {
    let mut c = controller();
    assert_eq!(c.limit(), 8);
    let mut limits = vec![];
    let mut ramp = c.ramp();
    for _ in 0..6 {
        // The applier follows the ramp to its end within the window.
        let reached = ramp.map_or(c.limit(), |r| r.up_to);
        let d = c.update(&busy(reached, 100));
        assert_eq!(
            d.reason,
            if d.limit < 256 {
                Reason::SlowStart
            } else {
                Reason::Hold
            }
        );
        limits.push(d.limit);
        ramp = d.ramp;
    }
    // 3× in the first window (no baseline yet: nothing tells a queue from jitter), then
    // up to the maximum, answers permitting (the window is judged on its latency).
    assert_eq!(limits, [24, 256, 256, 256, 256, 256]);
    assert!(!c.in_slow_start(), "at the maximum slow start is over");
    assert_eq!(ramp, None);
}

#[test]
fn the_ramp_grows_per_answer_only_while_the_limit_is_used() {
    let ramp = controller().ramp().unwrap();
    assert_eq!((ramp.up_to, ramp.per_success), (24, 2));
    assert_eq!(ramp.grown(8, 8, MS100), 10);
    assert_eq!(
        ramp.grown(8, 4, MS100),
        10,
        "half the limit in flight is use"
    );
    assert_eq!(
        ramp.grown(8, 3, MS100),
        8,
        "app-limited: a higher limit is untested"
    );
    assert_eq!(ramp.grown(23, 23, MS100), 24, "never past its end");
    assert_eq!(
        ramp.latency_below, None,
        "no baseline yet: every answer counts"
    );
    let mut c = controller();
    let ramp = c.update(&busy(8, 100)).ramp.unwrap();
    assert_eq!(ramp.latency_below, Some(Duration::from_millis(160)));
    assert_eq!(ramp.grown(8, 8, Duration::from_millis(150)), 10);
    assert_eq!(
        ramp.grown(8, 8, Duration::from_millis(170)),
        8,
        "a queued answer does not grow it"
    );
}

#[test]
fn a_refusal_ends_slow_start_and_the_ramp() {
    let mut c = controller();
    c.update(&busy(20, 100));
    let d = c.update(&Sample {
        overloads: 2,
        ..busy(26, 100)
    });
    assert_eq!(d.reason, Reason::DecreaseOverload);
    assert_eq!(d.limit, 20, "back to the level that ran clean");
    assert_eq!(d.ramp, None);
    assert!(!c.in_slow_start());
}

#[test]
fn an_overload_halves_without_a_safe_level_and_returns_to_it_with_one() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 32));
    // 3 of 32 refused: the server's cap is about 29, so 30 is the ceiling.
    let d = c.update(&Sample {
        overloads: 3,
        ..busy(32, 100)
    });
    assert_eq!((d.limit, d.reason), (16, Reason::DecreaseOverload));
    // 16 runs clean, so growth goes halfway to the ceiling, and never reaches it.
    let d = c.update(&busy(16, 100));
    assert_eq!((d.limit, d.reason), (23, Reason::Increase));
    let d = c.update(&busy(23, 100));
    assert_eq!(d.limit, 26);
    let d = c.update(&Sample {
        overloads: 1,
        ..busy(26, 100)
    });
    assert_eq!(
        (d.limit, d.reason),
        (23, Reason::DecreaseOverload),
        "back to the last level that ran clean"
    );
    let d = c.update(&busy(23, 100));
    assert_eq!(d.limit, 24, "halfway to the new ceiling of 26");
    let d = c.update(&busy(24, 100));
    assert_eq!((d.limit, d.reason), (25, Reason::Increase));
    let d = c.update(&busy(25, 100));
    assert_eq!(
        (d.limit, d.reason),
        (25, Reason::Hold),
        "just under the ceiling"
    );
}

#[test]
fn a_remembered_ceiling_is_probed_again_later() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 20));
    c.update(&busy(20, 100));
    c.update(&Sample {
        overloads: 1,
        ..busy(40, 100)
    });
    assert_eq!(c.limit(), 20, "40 is the ceiling: the cap is about 39");
    let mut limits = vec![];
    for _ in 0..70 {
        limits.push(c.update(&busy(c.limit(), 100)).limit);
    }
    assert_eq!(limits[8], 39, "binary search up to just under the ceiling");
    assert_eq!(
        limits[55], 39,
        "held while the ceiling is remembered (30 s)"
    );
    assert!(limits[69] > 45, "then probed past it, growing: {limits:?}");
}

#[test]
fn one_burst_of_overloads_is_one_decrease() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 64));
    // Latency (2 s) longer than the window: 429s from before the cut keep arriving.
    let slow = |overloads| Sample {
        overloads,
        ..busy(64, 2000)
    };
    assert_eq!(c.update(&slow(5)).limit, 32);
    let d = c.update(&slow(5));
    assert_eq!((d.limit, d.reason), (32, Reason::Settle));
    for _ in 0..3 {
        c.update(&slow(0));
    }
    assert_eq!(
        c.update(&slow(5)).limit,
        16,
        "a new burst later is a new decrease"
    );
}

#[test]
fn latency_above_the_band_shrinks_to_what_the_throughput_needs() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 8));
    c.update(&busy(8, 100)); // baseline 100 ms; slow start to 16
    // A server with 8 workers: 16 in flight take 200 ms, throughput stays 80/s.
    let d = c.update(&busy(16, 200));
    assert_eq!(d.reason, Reason::DecreaseLatency);
    assert_eq!(d.limit, 11, "80/s × 100 ms × 1.425");
    // 11 in flight: 137 ms, inside the band: hold.
    let d = c.update(&busy(11, 137));
    assert_eq!((d.limit, d.reason), (11, Reason::Hold));
}

#[test]
fn latency_that_does_not_follow_the_load_becomes_the_new_baseline() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 64));
    c.update(&busy(64, 100)); // baseline 100 ms; slow start to 128
    // The server gets 3× slower for everyone.
    let d = c.update(&busy(128, 300));
    assert_eq!((d.limit, d.reason), (64, Reason::DecreaseLatency));
    // From now on a change shows only after a latency (300 ms): every other window.
    let mut decide = |limit, p50| {
        let settling = c.update(&busy(limit, p50));
        assert_eq!(settling.reason, Reason::Settle);
        c.update(&busy(limit, p50))
    };
    let d = decide(64, 300);
    assert_eq!(
        (d.limit, d.reason),
        (32, Reason::DecreaseLatency),
        "the second cut in a row is the experiment"
    );
    let d = decide(32, 300); // a quarter of the load, same latency: not our queue
    assert_eq!(
        (d.limit, d.reason),
        (128, Reason::Increase),
        "the cuts are undone"
    );
    assert_eq!(c.baseline(), Some(Duration::from_millis(300)));
}

#[test]
fn an_unfilled_limit_is_not_raised() {
    let mut c = controller();
    let d = c.update(&Sample {
        in_flight_peak: 3,
        ..busy(8, 100)
    });
    assert_eq!((d.limit, d.reason), (8, Reason::AppLimited));
    assert!(c.in_slow_start());
}

#[test]
fn thin_and_idle_windows_are_not_judged_alone() {
    let mut c = controller();
    let idle = Sample {
        window: WINDOW,
        ..Sample::default()
    };
    assert_eq!(c.update(&idle).reason, Reason::Idle);
    // The default needs 10 completions to judge.
    let thin = Sample {
        completed: 4,
        ..busy(8, 100)
    };
    let d = c.update(&thin);
    assert_eq!(d.reason, Reason::Thin);
    assert!(
        d.ramp.is_some(),
        "growth goes on while the latency is unknown"
    );
    assert_eq!(c.update(&thin).reason, Reason::Thin);
    let d = c.update(&thin);
    assert_eq!(
        (d.limit, d.reason),
        (8, Reason::SlowStart),
        "three thin windows make one"
    );
}

#[test]
fn a_few_errors_are_tolerated_and_many_cut() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 64));
    let d = c.update(&Sample {
        errors: 3,
        ..busy(64, 100)
    });
    assert_eq!(d.reason, Reason::SlowStart, "3 errors in 323 requests");
    let d = c.update(&Sample {
        errors: 100,
        ..busy(128, 100)
    });
    assert_eq!((d.limit, d.reason), (64, Reason::DecreaseErrors));
}

#[test]
fn a_busy_cpu_pool_stops_growth_and_a_saturated_one_cuts() {
    let mut c = Controller::new(ControllerConfig::with_bounds(1, 256, 64));
    let cpu = |backlog, p50| Sample {
        cpu_backlog: backlog,
        cpu_threads: 4,
        latency_p50: None,
        ..busy(64, p50)
    };
    let d = c.update(&cpu(6, 100));
    assert_eq!((d.limit, d.reason), (64, Reason::CpuBound));
    let d = c.update(&cpu(6, 100));
    assert_eq!(
        (d.limit, d.reason),
        (64, Reason::CpuBound),
        "not yet: no streak"
    );
    // Backlog above 2 per thread twice, growing from 6 to 26 with 320 fetched: the pool
    // did 300, so 60 in flight would do; 54 with the drain margin.
    c.update(&cpu(9, 100));
    let d = c.update(&Sample {
        completed: 320,
        ..cpu(29, 100)
    });
    assert_eq!((d.limit, d.reason), (54, Reason::CpuBound));
}

#[test]
fn bounds_hold_and_are_made_consistent() {
    let c = Controller::new(ControllerConfig::with_bounds(0, 4, 100));
    assert_eq!((c.config().min, c.config().max, c.limit()), (1, 4, 4));
    let mut c = Controller::new(ControllerConfig::with_bounds(3, 10, 3));
    for _ in 0..5 {
        c.update(&Sample {
            overloads: 1,
            ..busy(3, 100)
        });
    }
    assert_eq!(c.limit(), 3);
}
