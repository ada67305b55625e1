//! Shared helpers for the CLI's integration tests: run the real `dragnet` binary against an
//! in-process test site on 127.0.0.1:0.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use dragnet_testsite::{SiteConfig, TestSite, country_names};
use sha2::{Digest, Sha256};

pub const COUNTRY_LINKS: &str = "td .flagicon + a";

pub async fn site(config: SiteConfig) -> TestSite {
    let site = TestSite::start(config).await.expect("test site starts");
    site.warm_up().await;
    site
}

/// Runs `dragnet ARGS` off the async threads (the site keeps serving meanwhile).
pub async fn dragnet(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dragnet"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .expect("dragnet runs")
    })
    .await
    .expect("join")
}

/// Writes `urls` (one per line) to DIR/urls.txt and runs `dragnet fetch` on it into
/// DIR/OUT_NAME with `--allow-private -q` and `extra`. Returns the output folder and the run.
pub async fn fetch_list(
    dir: &Path,
    urls: &str,
    out_name: &str,
    extra: &[&str],
) -> (PathBuf, Output) {
    let list = dir.join("urls.txt");
    std::fs::write(&list, urls).expect("write the URL list");
    let out = dir.join(out_name);
    let mut argv = args(&[
        "fetch",
        "--input",
        list.to_str().expect("utf-8 path"),
        "-q",
        "--out",
    ]);
    argv.push(out.display().to_string());
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let output = dragnet(argv).await;
    (out, output)
}

pub fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Saved file name → sha256 of its content, for every `.html` file in `dir`.
pub fn saved_pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .expect("output folder exists")
        .map(|e| e.expect("dir entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".html"))
        .map(|e| {
            let name = e.file_name().into_string().expect("utf-8 name");
            (
                name,
                sha256_hex(&std::fs::read(e.path()).expect("read page")),
            )
        })
        .collect()
}

/// The reference job's expected output: `<Country>.html` → sha256, from the manifest, plus
/// the list page itself.
pub fn expected_pages(site: &TestSite) -> BTreeMap<String, String> {
    let manifest = site.manifest();
    let names = country_names();
    let countries: Vec<_> = manifest
        .pages
        .iter()
        .filter(|p| p.kind == "country")
        .collect();
    assert_eq!(countries.len(), 233);
    let mut expected: BTreeMap<String, String> = countries
        .iter()
        .zip(names)
        .map(|(page, name)| (format!("{name}.html"), page.sha256.clone()))
        .collect();
    let list = manifest
        .pages
        .iter()
        .find(|p| p.kind == "list")
        .expect("list page in manifest");
    expected.insert(
        "List_of_countries_and_dependencies_by_population.html".into(),
        list.sha256.clone(),
    );
    expected
}

/// Compares saved pages with the expected ones, reporting only the differences.
#[track_caller]
pub fn assert_same_pages(saved: &BTreeMap<String, String>, expected: &BTreeMap<String, String>) {
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !saved.contains_key(*k))
        .take(10)
        .collect();
    let extra: Vec<&String> = saved
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(10)
        .collect();
    let differ: Vec<&String> = saved
        .iter()
        .filter(|(k, v)| expected.get(*k).is_some_and(|e| e != *v))
        .map(|(k, _)| k)
        .take(10)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "saved {} pages, expected {}; missing {missing:?}, unexpected {extra:?}, different bytes {differ:?}",
        saved.len(),
        expected.len()
    );
}

/// Pages-log lines that record a failure, for assertion messages.
pub fn failures(log: &[serde_json::Value]) -> Vec<String> {
    log.iter()
        .filter(|l| !l["error"].is_null())
        .take(10)
        .map(|l| format!("{} {} {}", l["url"], l["error"], l["message"]))
        .collect()
}

pub fn pages_log(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("pages.jsonl"))
        .expect("pages log exists")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "dragnet failed ({:?}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `crawl START --allow-private -q --out OUT` plus `extra`.
pub fn crawl_args(start: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut list = args(&["crawl", start, "--allow-private", "-q", "--out"]);
    list.push(out.display().to_string());
    list.extend(extra.iter().map(|s| (*s).to_owned()));
    list
}

/// The reference job: `crawl LIST --follow 'td .flagicon + a' --depth 1 --out OUT` plus `extra`.
pub fn reference_job(site: &TestSite, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut all = vec!["--follow", COUNTRY_LINKS, "--depth", "1"];
    all.extend_from_slice(extra);
    crawl_args(site.list_url().as_str(), out, &all)
}

/// The 233 country URLs as the site links them, in table order.
pub fn country_urls(site: &TestSite) -> Vec<String> {
    site.manifest()
        .pages
        .into_iter()
        .filter(|p| p.kind == "country")
        .map(|p| p.url)
        .collect()
}

/// The summary's counters add up (issue 17 item 7), for a crawl that ran to the end in one
/// run: every link found was queued, a duplicate, or dropped for a counted reason; every
/// queued URL (seeds and links) ended once, as ok, failed or skipped; every request was a
/// page's first, a retry, a robots.txt attempt or a redirect hop (no sitemaps read).
pub fn assert_counters_add_up(summary: &serde_json::Value) {
    let n = |key: &str| {
        summary[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {summary}"))
    };
    let dropped: u64 = summary["links_dropped_by_reason"]
        .as_object()
        .expect("links_dropped_by_reason")
        .values()
        .map(|v| v.as_u64().expect("a count"))
        .sum();
    assert_eq!(
        n("links_found"),
        n("links_queued") + n("links_duplicate") + dropped,
        "links found = queued + duplicate + dropped by reason: {summary}"
    );
    assert!(n("discovered") >= n("links_queued"), "{summary}");
    assert_eq!(
        n("requests"),
        n("pages_requested") + n("retries") + n("robots_requests") + n("redirects_followed"),
        "requests = pages + retries + robots + redirects: {summary}"
    );
    assert_eq!(
        n("discovered"),
        n("pages_ok") + n("pages_failed") + n("pages_skipped"),
        "every queued URL ends once: {summary}"
    );
}
