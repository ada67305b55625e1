//! The on-disk frontier: conformance, crash recovery, kill -9 durability, damaged files and
//! flat memory at a million URLs.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dragnet::CrawlRequest;
use dragnet::frontier::{
    DB_FILE, DiskFrontier, Frontier, FrontierCounts, FrontierError, Lease, Outcome,
};
use dragnet_extract::Canonicalizer;
use futures_util::future::join_all;
use rand::Rng;
use tempfile::TempDir;
use url::Url;

/// A fresh frontier that owns its temporary folder (dropped after the frontier).
struct TempFrontier {
    frontier: DiskFrontier,
    _dir: TempDir,
}

impl TempFrontier {
    fn new() -> Self {
        let dir = TempDir::new().expect("tempdir");
        let frontier = DiskFrontier::open(dir.path(), Canonicalizer::new()).expect("open");
        Self {
            frontier,
            _dir: dir,
        }
    }
}

impl Frontier for TempFrontier {
    async fn add(&self, requests: Vec<CrawlRequest>) -> Result<u64, FrontierError> {
        self.frontier.add(requests).await
    }
    async fn lease(&self, max: usize) -> Result<Vec<Lease>, FrontierError> {
        self.frontier.lease(max).await
    }
    async fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: Vec<CrawlRequest>,
    ) -> Result<u64, FrontierError> {
        self.frontier.complete(lease, outcome, discovered).await
    }
    async fn release(&self, lease: &Lease) -> Result<(), FrontierError> {
        self.frontier.release(lease).await
    }
    async fn counts(&self) -> Result<FrontierCounts, FrontierError> {
        self.frontier.counts().await
    }
}

dragnet::frontier_conformance!(TempFrontier::new());

fn req(url: &str, depth: u32) -> CrawlRequest {
    CrawlRequest {
        url: Url::parse(url).expect("test URL"),
        depth,
    }
}

fn open(dir: &Path) -> DiskFrontier {
    DiskFrontier::open(dir, Canonicalizer::new()).expect("open")
}

fn open_err(dir: &Path) -> String {
    match DiskFrontier::open(dir, Canonicalizer::new()) {
        Ok(_) => panic!("opening {} should fail", dir.display()),
        Err(FrontierError::Storage(message)) => message,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

const DONE: Outcome = Outcome::Done { attempts: 1 };

/// Checks the store's own bookkeeping against its rows, straight from the file: the
/// counts table, every host's queued count, and that no canonical key appears twice.
fn assert_consistent(dir: &Path) -> FrontierCounts {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("sqlite open");
    let q = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).expect(sql) };
    let state = |s: i64| q(&format!("SELECT count(*) FROM urls WHERE state = {s}"));
    for s in 0..5 {
        assert_eq!(
            q(&format!("SELECT n FROM counts WHERE state = {s}")),
            state(s),
            "counts table for state {s}"
        );
    }
    assert_eq!(
        q("SELECT count(*) FROM hosts h WHERE queued != \
           (SELECT count(*) FROM urls u WHERE u.host_id = h.id AND u.state = 0)"),
        0,
        "hosts.queued matches the queued rows"
    );
    assert_eq!(
        q("SELECT count(*) FROM urls"),
        q("SELECT count(DISTINCT coalesce(key, url)) FROM urls"),
        "no canonical key is stored twice"
    );
    FrontierCounts {
        queued: state(0) as u64,
        leased: state(1) as u64,
        done: state(2) as u64,
        failed: (state(3) + state(4)) as u64,
    }
}

fn url_state(dir: &Path, url: &str) -> Option<i64> {
    let conn = rusqlite::Connection::open(dir.join(DB_FILE)).expect("sqlite open");
    conn.query_row("SELECT state FROM urls WHERE url = ?1", [url], |r| r.get(0))
        .ok()
}

#[tokio::test]
async fn crash_recovery_requeues_leases_and_names_their_hosts() {
    let dir = TempDir::new().expect("tempdir");
    let urls: Vec<_> = (0..30)
        .map(|i| req(&format!("http://h{}.test/{i}", i % 3), 0))
        .collect();
    let frontier = open(dir.path());
    assert!(frontier.recovered_hosts().is_empty());
    assert_eq!(frontier.add(urls.clone()).await.expect("add"), 30);
    let leases = frontier.lease(4).await.expect("lease");
    for lease in &leases[..2] {
        frontier
            .complete(lease, DONE, vec![req("http://new.test/x", 1)])
            .await
            .expect("complete");
    }
    let in_flight: Vec<Lease> = leases[2..].to_vec();
    drop(frontier); // a crash, as far as the leases know: nothing released them

    let frontier = open(dir.path());
    let mut expected: Vec<String> = in_flight.iter().map(|l| l.request.host_key()).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(frontier.recovered_hosts(), expected);
    let counts = frontier.counts().await.expect("counts");
    assert_eq!(
        (counts.queued, counts.leased, counts.done),
        (29, 0, 2),
        "28 left + 1 discovered... queued again, done stay done: {counts:?}"
    );
    assert_eq!(frontier.add(urls).await.expect("add"), 0, "seen set kept");
    let old = &in_flight[0];
    assert!(
        matches!(
            frontier.complete(old, DONE, Vec::new()).await,
            Err(FrontierError::StaleLease { .. })
        ),
        "a lease of the dead run is refused"
    );
    let mut all = Vec::new();
    loop {
        let batch = frontier.lease(50).await.expect("lease");
        if batch.is_empty() {
            break;
        }
        all.extend(batch);
    }
    assert_eq!(all.len(), 29, "nothing duplicated, nothing lost");
    for lease in &in_flight {
        assert!(
            all.iter().any(|l| l.key == lease.key),
            "{} is back",
            lease.key
        );
    }
    for lease in &all {
        frontier
            .complete(lease, DONE, Vec::new())
            .await
            .expect("complete");
    }
    frontier.close().await.expect("close");
    let counts = assert_consistent(dir.path());
    assert_eq!((counts.done, counts.queued, counts.leased), (31, 0, 0));
}

#[tokio::test]
async fn settings_status_and_reasons_survive_reopening() {
    let dir = TempDir::new().expect("tempdir");
    let frontier = open(dir.path());
    assert_eq!(frontier.load_settings().expect("load"), None);
    frontier.save_settings(r#"{"depth":3}"#).expect("save");
    frontier
        .add(
            (0..4)
                .map(|i| req(&format!("http://a.test/{i}"), 0))
                .collect(),
        )
        .await
        .expect("add");
    let leases = frontier.lease(4).await.expect("lease");
    let reasons = ["http_404", "http_404", "timeout"];
    for (lease, reason) in leases.iter().zip(reasons) {
        let failed = Outcome::Failed {
            reason: reason.into(),
            attempts: 3,
        };
        frontier
            .complete(lease, failed, Vec::new())
            .await
            .expect("complete");
    }
    let status = frontier.status().expect("status");
    assert_eq!((status.failed, status.leased, status.done), (3, 1, 0));
    assert_eq!(status.failures.get("http_404"), Some(&2));
    assert_eq!(status.counts(), frontier.counts().await.expect("counts"));
    // Another process watching the running job.
    assert_eq!(DiskFrontier::read_status(dir.path()).expect("read"), status);
    drop(frontier);

    let frontier = open(dir.path());
    assert_eq!(
        frontier.load_settings().expect("load").as_deref(),
        Some(r#"{"depth":3}"#)
    );
    let status = frontier.status().expect("status");
    assert_eq!((status.failed, status.queued, status.leased), (3, 1, 0));
    assert_eq!(status.failures.get("timeout"), Some(&1));
}

#[tokio::test]
async fn a_url_in_flight_at_every_crash_is_given_up() {
    let dir = TempDir::new().expect("tempdir");
    open(dir.path())
        .add(vec![req("http://poison.test/", 0)])
        .await
        .expect("add");
    for _ in 0..5 {
        let frontier = open(dir.path());
        assert_eq!(frontier.lease(1).await.expect("lease").len(), 1);
    }
    let frontier = open(dir.path());
    assert!(frontier.lease(1).await.expect("lease").is_empty());
    let status = frontier.status().expect("status");
    assert_eq!((status.dead, status.queued), (1, 0));
    assert_eq!(status.failures.get("crashed_in_flight"), Some(&1));
    assert!(frontier.counts().await.expect("counts").is_finished());
}

#[tokio::test]
async fn a_second_open_of_the_same_job_is_refused() {
    let dir = TempDir::new().expect("tempdir");
    let first = open(dir.path());
    let message = open_err(dir.path());
    assert!(message.contains("in use"), "{message}");
    drop(first);
    open(dir.path());
}

#[test]
fn foreign_and_newer_stores_are_refused() {
    let dir = TempDir::new().expect("tempdir");
    drop(open(dir.path()));
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).expect("sqlite");
    conn.execute_batch("PRAGMA user_version = 99")
        .expect("bump");
    drop(conn);
    let message = open_err(dir.path());
    assert!(message.contains("newer dragnet"), "{message}");

    let other = TempDir::new().expect("tempdir");
    let conn = rusqlite::Connection::open(other.path().join(DB_FILE)).expect("sqlite");
    conn.execute_batch("CREATE TABLE t (x)").expect("create");
    drop(conn);
    let message = open_err(other.path());
    assert!(message.contains("not a dragnet job store"), "{message}");
}
