//! The gate's limits, pauses, intervals and slow-start ramp.

use super::*;

#[tokio::test(start_paused = true)]
async fn request_starts_to_one_host_keep_the_interval() {
    let gate = Gate::new(10, 10);
    gate.set_min_interval(Duration::from_millis(100));
    gate.set_host_interval("slow", Duration::from_secs(2));
    let mut starts = Vec::new();
    for _ in 0..3 {
        drop(gate.acquire("fast").await);
        starts.push(Instant::now());
    }
    assert!(
        starts
            .windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_millis(100)),
        "{starts:?}"
    );
    let first = gate.acquire("slow").await;
    let t0 = Instant::now();
    drop(first);
    drop(gate.acquire("slow").await);
    assert!(
        Instant::now() - t0 >= Duration::from_secs(2),
        "crawl-delay wins over the smaller --delay"
    );
    assert!(
        gate.try_acquire("other").is_ok(),
        "other hosts are not held back"
    );
}

#[test]
fn limits_hold_and_slots_come_back() {
    let gate = Gate::new(3, 2);
    let a1 = gate.try_acquire("a").unwrap();
    let _a2 = gate.try_acquire("a").unwrap();
    assert_eq!(gate.try_acquire("a").unwrap_err(), Wait::HostBusy);
    let _b1 = gate.try_acquire("b").unwrap();
    assert_eq!(gate.try_acquire("c").unwrap_err(), Wait::GlobalFull);
    assert_eq!(gate.in_flight(), 3);
    drop(a1);
    assert!(gate.try_acquire("c").is_ok());
    assert_eq!(gate.peak(), 3);
}

#[tokio::test(start_paused = true)]
async fn overload_halves_once_per_burst_and_success_grows_back() {
    let gate = Gate::new(100, 16);
    let until = Instant::now() + Duration::from_secs(1);
    for _ in 0..10 {
        gate.overloaded("h", until);
    }
    assert_eq!(gate.host_limit("h"), 8, "one burst of 429s is one decrease");
    tokio::time::advance(Duration::from_secs(2)).await;
    gate.overloaded("h", Instant::now() + Duration::from_secs(1));
    assert_eq!(gate.host_limit("h"), 4);
    for _ in 0..4 {
        gate.succeeded("h", Duration::from_millis(100));
    }
    assert_eq!(
        gate.host_limit("h"),
        5,
        "additive increase after a limit's worth of successes"
    );
    for _ in 0..200 {
        gate.succeeded("h", Duration::from_millis(100));
    }
    assert_eq!(
        gate.host_limit("h"),
        16,
        "back to the configured limit, not beyond"
    );
    assert_eq!(gate.host_limit("other"), 16);
}

#[tokio::test(start_paused = true)]
async fn a_reduced_limit_is_enforced() {
    let gate = Gate::new(100, 8);
    gate.overloaded("h", Instant::now());
    tokio::time::advance(Duration::from_millis(1)).await;
    let held: Vec<Permit> = (0..4).map(|_| gate.try_acquire("h").unwrap()).collect();
    assert_eq!(gate.try_acquire("h").unwrap_err(), Wait::HostBusy);
    drop(held);
    assert!(
        gate.try_acquire("h").is_ok(),
        "the host's slot survives going idle"
    );
}

#[tokio::test(start_paused = true)]
async fn a_paused_host_waits_and_others_do_not() {
    let gate = Gate::new(10, 10);
    let until = Instant::now() + Duration::from_secs(5);
    gate.overloaded("slow", until);
    assert_eq!(
        gate.try_acquire("slow").unwrap_err(),
        Wait::HostPaused(until)
    );
    assert!(gate.try_acquire("other").is_ok());
    let started = Instant::now();
    let _permit = gate.acquire("slow").await;
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn slow_start_grows_per_answer_until_a_refusal() {
    let gate = Gate::new(100, 64);
    gate.set_adaptive();
    let ramp = Ramp {
        up_to: 12,
        per_success: 2,
        latency_below: None,
    };
    gate.set_default_host_limit(4, Some(ramp));
    let mut held: Vec<Permit> = (0..4).map(|_| gate.try_acquire("h").unwrap()).collect();
    assert_eq!(gate.try_acquire("h").unwrap_err(), Wait::HostBusy);
    // Each answer returns its slot and adds two more: requests leave one or two at a
    // time, as answers come back.
    held.pop();
    gate.succeeded("h", Duration::from_millis(100));
    held.extend((0..3).map(|_| gate.try_acquire("h").unwrap()));
    assert_eq!(gate.try_acquire("h").unwrap_err(), Wait::HostBusy);
    for _ in 0..2 {
        held.pop();
        gate.succeeded("h", Duration::from_millis(100));
    }
    for _ in 0..3 {
        held.pop();
        gate.succeeded("h", Duration::from_millis(100));
    }
    let (_, hosts) = gate.take_window_peaks();
    assert_eq!(
        hosts["h"].limit, 10,
        "3 of 10 in flight: an unused limit stops"
    );
    while let Ok(permit) = gate.try_acquire("h") {
        held.push(permit);
    }
    for _ in 0..3 {
        held.pop();
        gate.succeeded("h", Duration::from_millis(100));
    }
    let (_, hosts) = gate.take_window_peaks();
    assert_eq!(hosts["h"].limit, 12, "never past the ramp's end");
    gate.overloaded("h", Instant::now() + Duration::from_secs(1));
    gate.set_host_limit("h", Some((6, Some(ramp))));
    tokio::time::advance(Duration::from_secs(2)).await;
    held.clear();
    gate.succeeded("h", Duration::from_millis(100));
    let held: Vec<Permit> = (0..6).map(|_| gate.try_acquire("h").unwrap()).collect();
    assert_eq!(
        gate.try_acquire("h").unwrap_err(),
        Wait::HostBusy,
        "a refusal stopped the ramp: the controller's 6 holds"
    );
    drop(held);
}

#[tokio::test]
async fn acquire_wakes_when_a_slot_is_returned() {
    let gate = Gate::new(1, 1);
    let held = gate.try_acquire("a").unwrap();
    let waiter = {
        let gate = Arc::clone(&gate);
        tokio::spawn(async move { gate.acquire("b").await.host.clone() })
    };
    tokio::task::yield_now().await;
    drop(held);
    assert_eq!(waiter.await.unwrap(), "b");
}
