//! `--concurrency auto` against the three server kinds it must handle: pure latency, a 429
//! cap, and a server with K workers that queues the rest. Bounds are loose on purpose: the
//! job is short (234 pages) and the machine is shared; the benchmark (`bench/auto.sh`)
//! measures how close auto comes to the best fixed setting.

mod common;

use common::*;
use dragnet_testsite::{Latency, SiteConfig};

async fn run_auto(config: SiteConfig) -> (serde_json::Value, dragnet_testsite::SiteStats) {
    let site = site(config).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary_path = dir.path().join("summary.json");
    let output = dragnet(reference_job(
        &site,
        &out,
        &[
            "--retries",
            "20",
            "--summary-json",
            summary_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_ok(&output);
    assert_same_pages(&saved_pages(&out), &expected_pages(&site));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert!(summary["concurrency"].as_str().unwrap().starts_with("auto"));
    assert!(
        !summary["limit_history"].as_array().unwrap().is_empty(),
        "the controller's history is in the summary"
    );
    (summary, site.stats())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_bound_site_the_limit_climbs() {
    let (summary, _) = run_auto(SiteConfig {
        latency: Latency::new(60, 10),
        ..SiteConfig::default()
    })
    .await;
    let peak = summary["peak_in_flight"].as_u64().unwrap();
    assert!(
        peak >= 32,
        "slow start grows past the initial 8 when latency holds: peak {peak}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cap_is_found_with_few_429s() {
    let (summary, stats) = run_auto(SiteConfig {
        latency: Latency::new(60, 10),
        cap_429: Some(16),
        retry_after_secs: 1,
        ..SiteConfig::default()
    })
    .await;
    let share = stats.sent_429 as f64 / stats.requests as f64;
    assert!(stats.sent_429 > 0, "slow start ran into the cap");
    // Slow start's growth is clocked by the answers, and the first 429 stops it: one or two
    // requests beyond the cap are refused, not a window's growth (about 1% here; 5% leaves
    // room for a loaded machine that answers late).
    assert!(
        share < 0.05,
        "429s are {:.1}% of {} requests",
        share * 100.0,
        stats.requests
    );
    let decreased = summary["limit_history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| {
            p["hosts"]
                .as_object()
                .unwrap()
                .values()
                .any(|l| l.as_u64().unwrap() <= 16)
        });
    assert!(
        decreased,
        "the host's limit came down to the cap: {}",
        summary["limit_history"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queueing_server_is_not_flooded() {
    let (summary, stats) = run_auto(SiteConfig {
        latency: Latency::new(60, 10),
        capacity: Some(8),
        ..SiteConfig::default()
    })
    .await;
    let host = &stats.per_host[0];
    assert!(
        host.peak_active <= 8,
        "the server never worked on more than its 8: {host:?}"
    );
    let final_limit = summary["limit_history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|p| {
            p["hosts"]
                .as_object()
                .unwrap()
                .values()
                .next()
                .and_then(serde_json::Value::as_u64)
        });
    assert!(
        final_limit.is_some_and(|l| l <= 64),
        "the limit does not run away on a queueing server: {final_limit:?}"
    );
}
