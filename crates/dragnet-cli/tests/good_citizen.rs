//! Politeness and scope against the test site: robots.txt (RFC 9309), Crawl-delay and
//! --delay (proved by the server's request log), sitemaps, traps, redirects out of scope.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use dragnet_testsite::{Latency, SiteConfig, TestSite};

fn crawl(site: &TestSite, start: &str, out: &std::path::Path, extra: &[&str]) -> Vec<String> {
    crawl_args(site.base_url().join(start).unwrap().as_str(), out, extra)
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn logged(log: &[serde_json::Value], path: &str) -> serde_json::Value {
    log.iter()
        .find(|l| l["url"].as_str().is_some_and(|u| u.ends_with(path)))
        .cloned()
        .unwrap_or_else(|| panic!("{path} in the pages log"))
}

fn requested_paths(site: &TestSite) -> BTreeSet<String> {
    site.request_log().into_iter().map(|e| e.path).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_disallow_is_obeyed_and_oversized_files_are_read_to_500_kib() {
    let site = site(SiteConfig {
        robots_bytes: Some(600_000),
        ..SiteConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary_path = dir.path().join("summary.json");
    let output = dragnet(crawl(
        &site,
        "/robots-test/",
        &out,
        &[
            "--depth",
            "2",
            "--summary-json",
            summary_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_ok(&output);
    let log = pages_log(&out);
    assert_eq!(logged(&log, "/private/a")["error"], "robots_disallowed");
    assert_eq!(logged(&log, "/private/b")["error"], "robots_disallowed");
    assert_eq!(
        logged(&log, "/late/c")["status"],
        200,
        "a rule past 500 KiB is not read"
    );
    assert_eq!(logged(&log, "/files/ok1")["status"], 200);
    let paths = requested_paths(&site);
    assert!(
        !paths.iter().any(|p| p.starts_with("/private/")),
        "disallowed URLs are never requested: {paths:?}"
    );
    assert_eq!(paths.iter().filter(|p| *p == "/robots.txt").count(), 1);
    let summary = summary(dir.path());
    assert_eq!(summary["skipped_by_reason"]["robots_disallowed"], 2);
    assert_eq!(summary["pages_failed"], 0);

    // --robots ignore fetches them.
    site.reset_stats();
    let ignored = dir.path().join("ignored");
    assert_ok(
        &dragnet(crawl(
            &site,
            "/robots-test/",
            &ignored,
            &["--depth", "2", "--robots", "ignore"],
        ))
        .await,
    );
    assert_eq!(logged(&pages_log(&ignored), "/private/a")["status"], 200);
    assert!(!requested_paths(&site).contains("/robots.txt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_robots_means_disallow_and_missing_robots_means_allow() {
    let dir = tempfile::tempdir().unwrap();
    for (status, expect_fetched) in [(503u16, false), (404, true), (403, true)] {
        let site = site(SiteConfig {
            robots_status: Some(status),
            ..SiteConfig::default()
        })
        .await;
        let out = dir.path().join(format!("out{status}"));
        assert_ok(
            &dragnet(crawl(
                &site,
                "/robots-test/",
                &out,
                &["--depth", "1", "--retries", "1"],
            ))
            .await,
        );
        let log = pages_log(&out);
        let first = logged(&log, "/robots-test/");
        if expect_fetched {
            assert_eq!(first["status"], 200, "robots.txt {status}: allow all");
            assert!(log.len() > 1);
        } else {
            assert_eq!(
                first["error"], "robots_unreachable",
                "robots.txt {status}: disallow all"
            );
            assert_eq!(
                requested_paths(&site),
                BTreeSet::from(["/robots.txt".to_owned()]),
                "only robots.txt was asked for"
            );
        }
    }
}

/// The server's log of request starts shows the gap per host (a few ms of timer slack).
fn assert_gaps(site: &TestSite, gap: Duration) {
    let starts: Vec<Duration> = site
        .request_log()
        .into_iter()
        .filter(|e| e.path != "/robots.txt")
        .map(|e| e.started)
        .collect();
    assert!(
        starts.len() >= 5,
        "enough requests to judge: {}",
        starts.len()
    );
    // Timer and scheduling slack on a loaded 2-core machine: arrival times at the server
    // jitter by a few ms either way; the gaps asserted are 150 ms and 250 ms.
    let slack = Duration::from_millis(15);
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] + slack >= gap,
            "requests {:?} apart, wanted at least {gap:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_and_crawl_delay_space_out_request_starts() {
    let dir = tempfile::tempdir().unwrap();
    let plain = site(SiteConfig {
        latency: Latency::new(5, 2),
        ..SiteConfig::default()
    })
    .await;
    assert_ok(
        &dragnet(crawl(
            &plain,
            "/robots-test/",
            &dir.path().join("a"),
            &["--depth", "3", "--delay", "150ms", "-c", "16"],
        ))
        .await,
    );
    assert_gaps(&plain, Duration::from_millis(150));

    let polite = site(SiteConfig {
        robots_txt: Some("User-agent: *\nCrawl-delay: 0.25\n".into()),
        ..SiteConfig::default()
    })
    .await;
    assert_ok(
        &dragnet(crawl(
            &polite,
            "/robots-test/",
            &dir.path().join("b"),
            &["--depth", "3", "--delay", "50ms", "-c", "16"],
        ))
        .await,
    );
    assert_gaps(&polite, Duration::from_millis(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sitemaps_plain_gzip_index_and_from_robots_seed_the_crawl() {
    let site = site(SiteConfig {
        robots_txt: Some("User-agent: *\nSitemap: {origin}/sitemap_index.xml\n".into()),
        ..SiteConfig::default()
    })
    .await;
    let expected: BTreeSet<String> = site
        .sitemap_urls()
        .into_iter()
        .map(|u| u.to_string())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let base = site.base_url();
    for (i, extra) in [
        vec![
            "--sitemap".to_owned(),
            base.join("/sitemap.xml").unwrap().to_string(),
        ],
        vec![
            "--sitemap".to_owned(),
            base.join("/sitemap.xml.gz").unwrap().to_string(),
        ],
        vec![
            "--sitemap".to_owned(),
            base.join("/sitemap_index.xml").unwrap().to_string(),
        ],
        vec![
            base.join("/files/start").unwrap().to_string(),
            "--sitemaps".to_owned(),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let out = dir.path().join(format!("out{i}"));
        let mut argv = args(&[
            "crawl",
            "--depth",
            "0",
            "--allow-private",
            "-q",
            "--out",
            out.to_str().unwrap(),
        ]);
        argv.extend(extra.clone());
        assert_ok(&dragnet(argv).await);
        let fetched: BTreeSet<String> = pages_log(&out)
            .iter()
            .filter(|l| l["status"] == 200)
            .map(|l| l["url"].as_str().unwrap().to_owned())
            .filter(|u| !u.ends_with("/files/start"))
            .collect();
        assert_eq!(fetched, expected, "{extra:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traps_end_and_session_ids_collapse() {
    let site = site(SiteConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let output = dragnet(crawl(
        &site,
        "/traps/",
        &dir.path().join("out"),
        &[
            "--depth",
            "40",
            "--max-pages-per-host",
            "300",
            "--strip-query",
            "sid",
            "--strip-query",
            "utm_*",
            "--summary-json",
            summary_path.to_str().unwrap(),
        ],
    ))
    .await;
    assert_ok(&output);
    let summary = summary(dir.path());
    let dropped = &summary["links_dropped_by_reason"];
    assert!(
        dropped["trap_repeated_path"].as_u64().unwrap_or(0) > 0,
        "{dropped}"
    );
    let log = pages_log(&dir.path().join("out"));
    assert!(log.len() <= 300, "the per-host budget holds: {}", log.len());
    let sessions: BTreeSet<&str> = log
        .iter()
        .filter_map(|l| l["url"].as_str())
        .filter(|u| u.contains("/session/"))
        .map(|u| u.split('?').next().unwrap())
        .collect();
    let session_urls = log
        .iter()
        .filter(|l| l["url"].as_str().is_some_and(|u| u.contains("/session/")))
        .count();
    assert_eq!(
        (sessions.len(), session_urls),
        (5, 5),
        "session ids and utm_ tags do not make new pages"
    );
    let canonical = logged(&log, "/canonical/2?ref=x");
    assert!(
        canonical["canonical"]
            .as_str()
            .unwrap()
            .ends_with("/canonical/2"),
        "{canonical}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_pass_the_same_scope_and_robots_checks() {
    let site = site(SiteConfig {
        robots_txt: Some("User-agent: *\nDisallow: /private/\n".into()),
        ..SiteConfig::default()
    })
    .await;
    let base = site.base_url();
    let dir = tempfile::tempdir().unwrap();
    let list = format!(
        "{}\n{}\n",
        base.join("/redirect-out").unwrap(),
        base.join("/redirect-private").unwrap()
    );
    let (out, output) = fetch_list(dir.path(), &list, "out", &["--allow-private"]).await;
    // Neither URL ends in a page, and the exit code says so.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let log = pages_log(&out);
    assert_eq!(logged(&log, "/redirect-out")["error"], "out_of_scope");
    assert_eq!(
        logged(&log, "/redirect-private")["error"],
        "robots_disallowed"
    );
    assert!(!requested_paths(&site).contains("/private/x"));
}
