//! The reference job end to end: the real binary against the local countries site.

mod common;

use std::collections::BTreeMap;

use common::*;
use dragnet_testsite::{Latency, SiteConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_exactly_the_233_country_pages_byte_identical() {
    let site = site(SiteConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("countries");
    let summary = dir.path().join("summary.json");
    let output = dragnet(reference_job(
        &site,
        &out,
        &["--summary-json", summary.to_str().unwrap()],
    ))
    .await;
    assert_ok(&output);

    let expected = expected_pages(&site);
    let saved = saved_pages(&out);
    assert_eq!(saved.len(), 234, "233 countries and the list page");
    assert_same_pages(&saved, &expected);
    assert!(
        saved.contains_key("Côte_d'Ivoire.html"),
        "names are percent-decoded"
    );

    let log = pages_log(&out);
    assert_eq!(log.len(), 234, "one pages-log line per URL");
    for line in &log {
        assert_eq!(line["status"], 200, "{line}");
        assert!(line["sha256"].as_str().is_some_and(|h| h.len() == 64));
        assert!(line["error"].is_null());
        assert_eq!(line["attempts"], 1);
    }
    assert_eq!(log.iter().filter(|l| l["depth"] == 1).count(), 233);

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["pages_ok"], 234);
    assert_eq!(summary["pages_failed"], 0);
    assert_eq!(summary["links_queued"], 233);
    assert_counters_add_up(&summary);
    assert!(summary["latency_ms"]["p50"].is_u64());
    assert!(summary["peak_in_flight"].as_u64().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_prints_exactly_the_233_country_urls() {
    let site = site(SiteConfig::default()).await;
    let output = dragnet(args(&[
        "links",
        site.list_url().as_str(),
        "--select",
        COUNTRY_LINKS,
        "--allow-private",
    ]))
    .await;
    assert_ok(&output);
    let printed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let expected: Vec<String> = country_urls(&site);
    assert_eq!(
        printed, expected,
        "the 233 country URLs, resolved, in table order"
    );

    let all = dragnet(args(&[
        "links",
        site.list_url().as_str(),
        "--allow-private",
    ]))
    .await;
    assert_ok(&all);
    assert!(
        all.stdout.iter().filter(|&&b| b == b'\n').count() > 2 * 233,
        "the page has many distracting links"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_and_64_in_flight_save_the_same_and_respect_the_limits() {
    let site = site(SiteConfig {
        latency: Latency::new(5, 2),
        ..SiteConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut results: Vec<BTreeMap<String, String>> = Vec::new();
    for (flags, limit) in [
        (&["--sequential"][..], 1),
        (&["--concurrency", "64"][..], 64),
        (&["--concurrency", "64", "--per-host", "8"][..], 8),
    ] {
        site.reset_stats();
        let out = dir.path().join(format!("run{}", results.len()));
        assert_ok(&dragnet(reference_job(&site, &out, flags)).await);
        let stats = site.stats();
        assert!(
            stats.peak_concurrency <= limit,
            "{flags:?}: server saw {} at once",
            stats.peak_concurrency
        );
        assert!(stats.peak_concurrency >= 1);
        results.push(saved_pages(&out));
    }
    assert_same_pages(&results[0], &expected_pages(&site));
    assert_same_pages(&results[1], &results[0]);
    assert_same_pages(&results[2], &results[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_and_dropped_connections_are_retried_until_everything_is_saved() {
    let site = site(SiteConfig {
        error_rate: 0.1,
        drop_rate: 0.05,
        ..SiteConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary = dir.path().join("summary.json");
    let output = dragnet(reference_job(
        &site,
        &out,
        &[
            "--retries",
            "3",
            "--summary-json",
            summary.to_str().unwrap(),
        ],
    ))
    .await;
    assert_ok(&output);
    assert_same_pages(&saved_pages(&out), &expected_pages(&site));
    let stats = site.stats();
    assert!(
        stats.sent_500 > 0 && stats.dropped > 0,
        "faults were injected: {stats:?}"
    );
    let log = pages_log(&out);
    let retried = log
        .iter()
        .filter(|l| l["attempts"].as_u64().unwrap() > 1)
        .count() as u64;
    assert!(retried > 0, "the pages log records the extra attempts");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(
        summary["retries"].as_u64().unwrap(),
        stats.sent_500 + stats.dropped,
        "one retry per injected fault"
    );
    assert_counters_add_up(&summary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_cap_is_honoured_with_retry_after_and_every_page_is_saved() {
    let site = site(SiteConfig {
        cap_429: Some(8),
        retry_after_secs: 1,
        latency: Latency::new(20, 5),
        ..SiteConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let output = dragnet(reference_job(
        &site,
        &out,
        &["--concurrency", "32", "--retries", "10"],
    ))
    .await;
    assert_ok(&output);
    let log = pages_log(&out);
    assert_eq!(failures(&log), Vec::<String>::new());
    assert_same_pages(&saved_pages(&out), &expected_pages(&site));
    let stats = site.stats();
    assert!(stats.sent_429 > 0, "the cap was hit: {stats:?}");
    let attempts: u64 = log.iter().map(|l| l["attempts"].as_u64().unwrap()).sum();
    assert_eq!(
        attempts,
        234 + stats.sent_429,
        "every 429 was retried, and nothing else was"
    );
}
