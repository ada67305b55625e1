//! The misbehaviour knobs over HTTP: 429 cap, capacity queue, injected 500s and drops,
//! latency and bandwidth.

use std::time::{Duration, Instant};

use dragnet_testsite::{Latency, Profile, SiteConfig, TestSite};
use url::Url;

mod common;
use common::{client, get};

/// Sends `n` GETs at once to `/files/{prefix}{i}`; returns (status, retry-after) per request.
async fn burst(site: &TestSite, prefix: &str, n: usize) -> Vec<(u16, Option<String>)> {
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let client = client.clone();
        let url = site
            .base_url()
            .join(&format!("/files/{prefix}{i}"))
            .unwrap();
        tasks.spawn(async move {
            let resp = client.get(url).send().await.expect("request");
            let retry = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = resp.status().as_u16();
            resp.bytes().await.expect("body");
            (status, retry)
        });
    }
    tasks.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_cap_get_429_with_retry_after() {
    let site = TestSite::start(SiteConfig {
        cap_429: Some(2),
        retry_after_secs: 3,
        latency: Latency::new(800, 0),
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let started = Instant::now();
    let results = burst(&site, "cap", 6).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let limited: Vec<_> = results.iter().filter(|r| r.0 == 429).collect();
    assert_eq!((ok, limited.len()), (2, 4), "{results:?}");
    assert!(limited.iter().all(|r| r.1.as_deref() == Some("3")));
    assert!(started.elapsed() < Duration::from_secs(5));
    let stats = site.stats();
    assert_eq!((stats.requests, stats.sent_429), (6, 4));
    assert_eq!(
        (
            stats.per_host[0].sent_429,
            stats.per_host[0].peak_concurrency
        ),
        (4, 2)
    );
    // Once the first two are done, there is room again.
    assert_eq!(
        burst(&site, "again", 2)
            .await
            .iter()
            .filter(|r| r.0 == 200)
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_queues_requests_so_latency_grows() {
    let site = TestSite::start(SiteConfig {
        capacity: Some(2),
        latency: Latency::new(150, 0),
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let started = Instant::now();
    let results = burst(&site, "q", 6).await;
    let elapsed = started.elapsed();
    assert!(results.iter().all(|r| r.0 == 200));
    // Three waves of two: about 450 ms instead of 150 ms.
    assert!(elapsed >= Duration::from_millis(440), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    let host = &site.stats().per_host[0];
    assert_eq!(host.peak_active, 2);
    assert!(
        host.peak_concurrency > 2 && host.peak_concurrency <= 6,
        "{host:?}"
    );
}

/// Fetches `url` until it succeeds (at most 10 times); returns every status seen.
async fn until_ok(client: &reqwest::Client, url: Url) -> Vec<u16> {
    let mut seen = Vec::new();
    for _ in 0..10 {
        let resp = client.get(url.clone()).send().await.expect("request");
        let status = resp.status().as_u16();
        let complete = resp.bytes().await.is_ok();
        seen.push(if complete { status } else { 0 });
        if status == 200 && complete {
            break;
        }
    }
    seen
}

#[tokio::test]
async fn injected_errors_are_deterministic_and_bounded() {
    let config = SiteConfig {
        error_rate: 0.5,
        drop_rate: 0.1,
        seed: 11,
        ..SiteConfig::default()
    };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let site = TestSite::start(config.clone()).await.expect("start");
        let client = client();
        let mut statuses = Vec::new();
        for i in 0..40 {
            statuses.push(
                until_ok(
                    &client,
                    site.base_url().join(&format!("/files/e{i}")).unwrap(),
                )
                .await,
            );
        }
        let stats = site.stats();
        let errors = statuses.iter().flatten().filter(|s| **s == 500).count() as u64;
        let drops = statuses.iter().flatten().filter(|s| **s == 0).count() as u64;
        assert_eq!((stats.sent_500, stats.dropped), (errors, drops));
        for (i, s) in statuses.iter().enumerate() {
            assert_eq!(s.last(), Some(&200), "path {i} ends in success");
            assert!(
                s.len() <= 3,
                "at most max_errors_per_path (2) failures: {s:?}"
            );
            assert_eq!(stats.per_path[&format!("/files/e{i}")], s.len() as u64);
        }
        assert!(errors > 10 && drops > 0, "{errors} errors, {drops} drops");
        // After a reset the same faults happen again.
        site.reset_stats();
        assert_eq!(
            until_ok(&client, site.base_url().join("/files/e0").unwrap()).await,
            statuses[0]
        );
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1], "same seed, same faults");
}

#[tokio::test]
async fn dropped_connection_fails_mid_body_then_succeeds() {
    let site = TestSite::start(SiteConfig {
        drop_rate: 1.0,
        max_errors_per_path: 1,
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let client = client();
    let url = site.list_url();
    let resp = client
        .get(url.clone())
        .send()
        .await
        .expect("headers arrive");
    assert_eq!(resp.status(), 200);
    let announced = resp.content_length().expect("content-length");
    assert!(announced > 100_000);
    assert!(resp.bytes().await.is_err(), "body is cut off");
    let (status, body) = get(&client, url).await;
    assert_eq!((status, body.len() as u64), (200, announced));
    let stats = site.stats();
    assert_eq!((stats.dropped, stats.requests), (1, 2));
}

#[tokio::test]
async fn latency_applies_to_content_but_not_to_internal_endpoints() {
    let site = TestSite::start(SiteConfig {
        latency: Latency::new(400, 20),
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let client = client();
    let started = Instant::now();
    get(&client, site.base_url().join("/files/slow").unwrap()).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(380), "{took:?}");
    let started = Instant::now();
    for path in ["/__stats.json", "/robots.txt"] {
        get(&client, site.base_url().join(path).unwrap()).await;
    }
    // Two delayed requests would take at least 760 ms.
    assert!(started.elapsed() < Duration::from_millis(700));
}

#[tokio::test]
async fn bandwidth_throttles_the_body() {
    let config = SiteConfig {
        profile: Profile::Web {
            pages: 10,
            hosts: 1,
            links_per_page: 4,
            mean_page_bytes: 40_000,
        },
        ..SiteConfig::default()
    };
    let fast = TestSite::start(config.clone()).await.expect("start");
    let client = client();
    let (_, body) = get(&client, fast.list_url()).await;
    let bps = body.len() as u64 * 2; // about half a second per page
    let slow = TestSite::start(SiteConfig {
        bandwidth_bytes_per_sec: Some(bps),
        ..config
    })
    .await
    .expect("start");
    let started = Instant::now();
    let (status, slow_body) = get(&client, slow.list_url()).await;
    let took = started.elapsed();
    assert_eq!((status, slow_body.len()), (200, body.len()));
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
}
