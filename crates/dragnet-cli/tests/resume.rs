//! Jobs that survive a crash: kill -9 at random moments and resume, until the job is done;
//! nothing lost, nothing doubled, re-fetches bounded by what was in flight.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use dragnet_testsite::{Latency, Profile, SiteConfig, TestSite};

/// Requests in flight (fixed, so the bound on re-fetches is known) plus the CPU backlog
/// (4 per thread, 2 threads here) that may also hold fetched-but-unfinished pages.
const CONCURRENCY: u64 = 16;
const MAX_UNFINISHED_PER_RUN: u64 = CONCURRENCY + 4 * 2;

fn web_site() -> SiteConfig {
    SiteConfig {
        profile: Profile::Web {
            pages: 5000,
            hosts: 1,
            links_per_page: 8,
            mean_page_bytes: 6000,
        },
        // Slow enough that the crawl cannot end before the tenth kill on any machine: at
        // most 16 / 30 ms = 533 pages/s, so 5,000 pages take at least 9.4 s of crawling,
        // and the ten kills come within 7.5 s of it.
        latency: Latency::new(30, 5),
        ..SiteConfig::default()
    }
}

fn start(site: &TestSite, job: &std::path::Path, out: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dragnet"))
        .args([
            "crawl",
            site.list_url().as_str(),
            "--depth",
            "100000",
            "--allow-private",
            "-q",
            "--robots",
            "ignore",
        ])
        .args([
            "--concurrency",
            &CONCURRENCY.to_string(),
            "--threads",
            "2",
            "--job",
        ])
        .arg(job)
        .arg("--out")
        .arg(out)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dragnet starts")
}

/// The final state every run must reach: each page once in the pages log (status 200) and
/// saved once, byte-identical to the manifest.
fn assert_complete(site: &TestSite, out: &std::path::Path) {
    let manifest = site.manifest();
    assert_eq!(manifest.pages.len(), 5000);
    let log = pages_log(out);
    let mut lines: BTreeMap<String, u32> = BTreeMap::new();
    for line in &log {
        assert_eq!(line["status"], 200, "{line}");
        *lines
            .entry(line["url"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let doubled: Vec<_> = lines.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(doubled.is_empty(), "URLs logged twice: {doubled:?}");
    let saved = saved_pages(out);
    let mut missing = Vec::new();
    for page in &manifest.pages {
        let id = page.url.rsplit('/').next().unwrap();
        if saved.get(&format!("{id}.html")) != Some(&page.sha256) || !lines.contains_key(&page.url)
        {
            missing.push(page.url.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} pages missing or different, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(saved.len(), 5000, "each page saved once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_ten_times_and_resumed_nothing_is_lost_or_doubled() {
    let site = site(web_site()).await;
    let dir = tempfile::tempdir().unwrap();
    let (job, out) = (dir.path().join("job"), dir.path().join("out"));
    // A fixed sequence of "random" moments, so a failure can be replayed.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0u64;
    loop {
        let mut child = start(&site, &job, &out);
        if kills < 10 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let wait = Duration::from_millis(250 + seed % 500);
            tokio::time::sleep(wait).await;
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                continue;
            }
        }
        let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "the last run ends cleanly: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        break;
    }
    assert!(
        kills >= 10,
        "the crawl was killed {kills} times (it finished too fast to kill 10 times)"
    );
    assert_complete(&site, &out);
    let refetched = site.stats().requests - 5000;
    assert!(
        refetched <= kills * MAX_UNFINISHED_PER_RUN,
        "{refetched} re-fetches after {kills} kills"
    );

    // A finished job's status says so.
    let status = dragnet(vec!["status".into(), job.display().to_string()]).await;
    assert_ok(&status);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("done      5000") && text.contains("finished"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_and_resume_give_the_same_final_set() {
    let site = site(web_site()).await;
    let dir = tempfile::tempdir().unwrap();
    let (job, out) = (dir.path().join("job"), dir.path().join("out"));
    let child = start(&site, &job, &out);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "an interrupted crawl says so: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed = dragnet(vec![
        "resume".into(),
        job.display().to_string(),
        "-q".into(),
    ])
    .await;
    assert_ok(&resumed);
    assert_complete(&site, &out);
    let refetched = site.stats().requests - 5000;
    assert!(
        refetched <= MAX_UNFINISHED_PER_RUN,
        "a clean stop finishes what is in flight: {refetched} re-fetches"
    );
}
