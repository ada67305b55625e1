//! Many workers, one crawl, on a real redis-server: a worker killed, another stalled past its
//! lease, Redis restarted; every page still done once, per-host limits held fleet-wide.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use dragnet_redis::testing::{RedisServer, unique_job};
use dragnet_testsite::{Latency, Profile, SiteConfig, TestSite};

const PER_HOST: u64 = 2;
const CONCURRENCY: u64 = 16;

fn web_site() -> SiteConfig {
    SiteConfig {
        profile: Profile::Web {
            pages: 5000,
            hosts: 20,
            links_per_page: 8,
            mean_page_bytes: 4000,
        },
        latency: Latency::new(5, 2),
        ..SiteConfig::default()
    }
}

fn spawn(args: &[String]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dragnet"))
        .args(args)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dragnet starts")
}

fn seed_args(site: &TestSite, redis: &str, job: &str, out: &Path) -> Vec<String> {
    let mut list = args(&[
        "crawl",
        site.list_url().as_str(),
        "--frontier",
        redis,
        "--job",
        job,
        "--lease-ttl",
        "2s",
    ]);
    list.extend(args(&[
        "--depth",
        "100000",
        "--scope",
        "any",
        "--allow-private",
        "-q",
        "--robots",
        "ignore",
    ]));
    list.extend(args(&[
        "--concurrency",
        &CONCURRENCY.to_string(),
        "--per-host",
        &PER_HOST.to_string(),
        "--out",
    ]));
    list.push(out.display().to_string());
    list
}

fn worker_args(redis: &str, job: &str, out: &Path) -> Vec<String> {
    let mut list = args(&["worker", "--frontier", redis, "--job", job, "-q", "--out"]);
    list.push(out.display().to_string());
    list
}

async fn wait(child: Child) -> std::process::Output {
    tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap()
}

/// Every page of the manifest saved somewhere by the fleet, byte-identical; pages-log lines
/// counted per URL over all workers.
fn fleet_outputs(site: &TestSite, outs: &[&Path]) -> BTreeMap<String, u32> {
    let mut lines: BTreeMap<String, u32> = BTreeMap::new();
    let mut saved: BTreeMap<String, String> = BTreeMap::new();
    for out in outs {
        for entry in std::fs::read_dir(out).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".jsonl") {
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    let value: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert_eq!(value["status"], 200, "{value}");
                    *lines
                        .entry(value["url"].as_str().unwrap().to_owned())
                        .or_default() += 1;
                }
            }
        }
        saved.extend(saved_pages(out));
    }
    let manifest = site.manifest();
    let missing: Vec<&String> = manifest
        .pages
        .iter()
        .filter(|p| {
            let id = p.url.rsplit('/').next().unwrap();
            saved.get(&format!("{id}.html")) != Some(&p.sha256) || !lines.contains_key(&p.url)
        })
        .map(|p| &p.url)
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "pages missing or different: {missing:?}"
    );
    lines
}

async fn status(redis: &str, job: &str) -> String {
    let output = dragnet(args(&["status", "--frontier", redis, "--job", job])).await;
    assert_ok(&output);
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_killed_one_stalled_every_page_done_once() {
    let Some(server) = RedisServer::start(false).await else {
        return;
    };
    let site = site(web_site()).await;
    let dir = tempfile::tempdir().unwrap();
    let outs: Vec<_> = (0..3).map(|i| dir.path().join(format!("w{i}"))).collect();
    let job = unique_job("fleet");
    let seeder = spawn(&seed_args(&site, server.url(), &job, &outs[0]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut killed = spawn(&worker_args(server.url(), &job, &outs[1]));
    let stalled = spawn(&worker_args(server.url(), &job, &outs[2]));
    tokio::time::sleep(Duration::from_millis(1200)).await;

    killed.kill().unwrap(); // SIGKILL: its leases come back after the TTL
    killed.wait().unwrap();
    let pid = stalled.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_secs(4)).await; // past its 2 s leases
    assert!(
        Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );

    for child in [seeder, stalled] {
        let output = wait(child).await;
        assert!(
            output.status.success(),
            "a surviving worker exits 0 when the job is done: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = status(server.url(), &job).await;
    assert!(
        text.contains("done      5000") && text.contains("finished"),
        "every URL recorded done exactly once:\n{text}"
    );

    let outs_ref: Vec<&Path> = outs.iter().map(|p| p.as_path()).collect();
    let lines = fleet_outputs(&site, &outs_ref);
    let repeated: u32 = lines.values().map(|n| n - 1).sum();
    // A URL can be logged twice only if its worker was killed or stalled while holding it.
    let bound = 2 * (CONCURRENCY + 8) as u32;
    assert!(
        repeated <= bound,
        "{repeated} URLs logged twice, more than the {bound} two workers could hold"
    );

    let stats = site.stats();
    for (i, host) in stats.per_host.iter().enumerate() {
        assert!(
            host.peak_concurrency <= PER_HOST,
            "host {i} saw {} requests at once across the fleet",
            host.peak_concurrency
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_crawl_the_job_still_completes() {
    let Some(server) = RedisServer::start(true).await else {
        return;
    };
    let site = site(web_site()).await;
    let dir = tempfile::tempdir().unwrap();
    let outs: Vec<_> = (0..2).map(|i| dir.path().join(format!("w{i}"))).collect();
    let job = unique_job("restart");
    let seeder = spawn(&seed_args(&site, server.url(), &job, &outs[0]));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let worker = spawn(&worker_args(server.url(), &job, &outs[1]));
    tokio::time::sleep(Duration::from_millis(800)).await;
    server.restart().await;
    for child in [seeder, worker] {
        let output = wait(child).await;
        assert!(
            output.status.success(),
            "workers reconnect and finish: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = status(server.url(), &job).await;
    assert!(text.contains("done      5000"), "{text}");
    let outs_ref: Vec<&Path> = outs.iter().map(|p| p.as_path()).collect();
    let urls: BTreeSet<String> = fleet_outputs(&site, &outs_ref).into_keys().collect();
    assert_eq!(urls.len(), 5000);
}
