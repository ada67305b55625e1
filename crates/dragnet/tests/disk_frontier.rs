//! The on-disk frontier: conformance, crash recovery, kill -9 durability, damaged files and
//! flat memory at a million URLs.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dragnet::CrawlRequest;
use dragnet::frontier::conformance::Guarded;
use dragnet::frontier::{
    DB_FILE, DiskFrontier, Frontier, FrontierCounts, FrontierError, Lease, Outcome,
};
use dragnet_extract::Canonicalizer;
use futures_util::future::join_all;
use rand::Rng;
use tempfile::TempDir;
use url::Url;

/// A fresh frontier that owns its temporary folder (dropped after the frontier).
fn temp_frontier() -> Guarded<DiskFrontier, TempDir> {
    let dir = TempDir::new().expect("tempdir");
    let frontier = DiskFrontier::open(dir.path(), Canonicalizer::new()).expect("open");
    Guarded {
        frontier,
        guard: dir,
    }
}

dragnet::frontier_conformance!(temp_frontier());

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

/// The child half of the kill -9 test; does nothing unless the parent set the variables.
/// Adds, leases and completes in a loop, printing each completed URL once its `complete`
/// returned (was acknowledged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_child() {
    let (Ok(dir), Ok(start)) = (
        std::env::var("DRAGNET_KILL9_DIR"),
        std::env::var("DRAGNET_KILL9_START"),
    ) else {
        return;
    };
    let start: u64 = start.parse().expect("start");
    let frontier = open(Path::new(&dir));
    let mut out = std::io::stdout();
    for batch in start.. {
        let urls = (0..50)
            .map(|j| req(&format!("http://h{}.test/{batch}/{j}", j % 5), 0))
            .collect();
        frontier.add(urls).await.expect("add");
        let leases = frontier.lease(64).await.expect("lease");
        let completions = leases.iter().map(|lease| {
            let child = req(&format!("{}/child", lease.request.url), 1);
            frontier.complete(lease, DONE, vec![child])
        });
        for done in join_all(completions).await {
            done.expect("complete");
        }
        for lease in &leases {
            writeln!(out, "acked {}", lease.request.url).expect("stdout");
        }
        out.flush().expect("stdout");
    }
}

#[test]
fn kill9_loses_no_acknowledged_completion() {
    let dir = TempDir::new().expect("tempdir");
    let mut acked = Vec::new();
    let mut rng = rand::rng();
    for round in 0..4u64 {
        let mut child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("DRAGNET_KILL9_DIR", dir.path())
            .env("DRAGNET_KILL9_START", (round * 1_000_000).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("piped");
        let (lines, received) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines count: the kill may cut the last one.
            while stdout.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                let _ = lines.send(std::mem::take(&mut line));
            }
        });
        let first = loop {
            let line = received
                .recv_timeout(Duration::from_secs(60))
                .expect("the child acknowledges something");
            if line.starts_with("acked ") {
                break line;
            }
        };
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        child.kill().expect("SIGKILL"); // kill(2) with SIGKILL on Unix
        child.wait().expect("reap");
        reader.join().expect("reader");
        let round_acked: Vec<String> = std::iter::once(first)
            .chain(received.try_iter())
            .filter_map(|l| l.strip_prefix("acked ").map(|u| u.trim_end().to_owned()))
            .collect();
        assert!(!round_acked.is_empty());
        acked.extend(round_acked);
    }
    let counts = assert_consistent(dir.path());
    assert!(counts.done >= acked.len() as u64);
    for url in &acked {
        assert_eq!(
            url_state(dir.path(), url),
            Some(2),
            "{url} was acknowledged done"
        );
        let child = format!("{url}/child");
        assert!(
            url_state(dir.path(), &child).is_some(),
            "{child} came with it"
        );
    }
    let frontier = open(dir.path());
    assert!(!frontier.recovered_hosts().is_empty() || counts.leased == 0);
    drop(frontier);
    assert_eq!(
        assert_consistent(dir.path()).leased,
        0,
        "recovery requeued the leases"
    );
}

const WAL_FILE: &str = "frontier.sqlite-wal";

/// A job store as a crash leaves it: copied while the frontier is open, its recent commits
/// still in the WAL. Returns the copy and the URLs whose completion was acknowledged.
async fn crashed_store() -> (TempDir, Vec<String>) {
    let live = TempDir::new().expect("tempdir");
    let frontier = open(live.path());
    let urls = (0..400).map(|i| req(&format!("http://h{}.test/{i}", i % 4), 0));
    frontier.add(urls.collect()).await.expect("add");
    let mut acked = Vec::new();
    for _ in 0..10 {
        for lease in frontier.lease(20).await.expect("lease") {
            frontier
                .complete(&lease, DONE, Vec::new())
                .await
                .expect("complete");
            acked.push(lease.request.url.to_string());
        }
    }
    let copy = TempDir::new().expect("tempdir");
    for name in [DB_FILE, WAL_FILE] {
        if live.path().join(name).exists() {
            std::fs::copy(live.path().join(name), copy.path().join(name)).expect("copy");
        }
    }
    assert!(
        copy.path().join(WAL_FILE).exists(),
        "the commits are in the WAL"
    );
    drop(frontier);
    (copy, acked)
}

/// A store closed cleanly (everything checkpointed into the main file, no WAL).
async fn closed_store() -> TempDir {
    let dir = TempDir::new().expect("tempdir");
    let frontier = open(dir.path());
    let urls = (0..3000).map(|i| req(&format!("http://h{}.test/page/{i}", i % 9), 0));
    frontier.add(urls.collect()).await.expect("add");
    for lease in frontier.lease(500).await.expect("lease") {
        frontier
            .complete(&lease, DONE, Vec::new())
            .await
            .expect("complete");
    }
    frontier.close().await.expect("close");
    assert!(!dir.path().join(WAL_FILE).exists());
    dir
}

fn overwrite(path: &Path, at: u64, bytes: &[u8]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open file");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(bytes).expect("write");
}

fn truncate(path: &Path, len: impl FnOnce(u64) -> u64) {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open file");
    let old = file.metadata().expect("metadata").len();
    file.set_len(len(old)).expect("truncate");
}

fn assert_damaged(dir: &Path, what: &str) {
    let message = open_err(dir);
    eprintln!("{what}: {message}");
    assert!(
        message.contains(&format!("the job store at {} is damaged", dir.display())),
        "{what}: {message}"
    );
}

#[tokio::test]
async fn a_crash_copy_recovers_every_acknowledged_completion() {
    let (dir, acked) = crashed_store().await;
    drop(open(dir.path()));
    for url in &acked {
        assert_eq!(url_state(dir.path(), url), Some(2), "{url}");
    }
    let counts = assert_consistent(dir.path());
    assert_eq!((counts.done, counts.queued), (200, 200));
}

#[tokio::test]
async fn garbage_inside_the_wal_is_reported() {
    let (dir, _) = crashed_store().await;
    // Into the first frame's page: every commit after it would be dropped by SQLite.
    overwrite(&dir.path().join(WAL_FILE), 32 + 24 + 100, &[0xA5; 200]);
    assert_damaged(dir.path(), "garbage in the first frame");
}

#[tokio::test]
async fn a_garbled_wal_header_is_reported() {
    let (dir, _) = crashed_store().await;
    overwrite(&dir.path().join(WAL_FILE), 0, &[0x5A; 32]);
    assert_damaged(dir.path(), "garbled WAL header");
}

#[tokio::test]
async fn a_cut_wal_gives_an_earlier_consistent_state() {
    for keep in [3, 2, 1] {
        let (dir, _) = crashed_store().await;
        truncate(&dir.path().join(WAL_FILE), |len| len * keep / 4);
        match DiskFrontier::open(dir.path(), Canonicalizer::new()) {
            Ok(frontier) => {
                let status = frontier.status().expect("status");
                drop(frontier);
                let counts = assert_consistent(dir.path());
                assert_eq!(status.counts(), counts);
                assert!(counts.seen() == 400 || counts.seen() == 0, "{counts:?}");
                eprintln!("WAL cut to {keep}/4: opened at {counts:?}");
            }
            Err(e) => {
                eprintln!("WAL cut to {keep}/4: {e}");
                assert!(e.to_string().contains("is damaged"), "{e}");
            }
        }
    }
}

#[tokio::test]
async fn a_cut_main_file_is_reported() {
    let dir = closed_store().await;
    truncate(&dir.path().join(DB_FILE), |len| len / 2);
    assert_damaged(dir.path(), "main file cut to half");

    let dir = closed_store().await;
    truncate(&dir.path().join(DB_FILE), |len| len - 100);
    assert_damaged(dir.path(), "main file cut mid-page");
}

#[tokio::test]
async fn a_torn_page_is_reported() {
    let dir = closed_store().await;
    let db = dir.path().join(DB_FILE);
    let len = std::fs::metadata(&db).expect("metadata").len();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 13) as u8).collect();
    overwrite(&db, len - 4096, &garbage);
    assert_damaged(dir.path(), "torn last page");

    // A torn write: the first half of a page in the middle is new garbage.
    let dir = closed_store().await;
    let db = dir.path().join(DB_FILE);
    overwrite(&db, (len / 4096 / 2) * 4096, &garbage[..2048]);
    assert_damaged(dir.path(), "half-written middle page");
}

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// A million URLs on 1,000 hosts, then 100,000 leased and completed 256 at a time. Memory
/// must not follow the frontier's size, and leasing and completing must stay fast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_urls_in_flat_memory() {
    const URLS: u64 = 1_000_000;
    const BATCH: u64 = 10_000;
    let dir = TempDir::new().expect("tempdir");
    let frontier = open(dir.path());
    let rss_start = rss_mib();
    let started = Instant::now();
    for batch in 0..URLS / BATCH {
        let urls = (batch * BATCH..(batch + 1) * BATCH).map(|i| {
            req(
                &format!("http://site{}.test/section/page-{i}.html", i % 1000),
                1,
            )
        });
        assert_eq!(frontier.add(urls.collect()).await.expect("add"), BATCH);
    }
    let insert = started.elapsed();
    let rss_inserted = rss_mib();
    let (mut lease_max, mut complete_max) = (Duration::ZERO, Duration::ZERO);
    let (mut lease_total, mut complete_total) = (Duration::ZERO, Duration::ZERO);
    let mut done = 0;
    while done < 100_000 {
        let t = Instant::now();
        let leases = frontier.lease(256).await.expect("lease");
        let took = t.elapsed();
        (lease_max, lease_total) = (lease_max.max(took), lease_total + took);
        assert_eq!(leases.len(), 256);
        let hosts: std::collections::HashSet<String> =
            leases.iter().map(|l| l.request.host_key()).collect();
        assert_eq!(hosts.len(), 256, "every lease batch spreads over hosts");
        let t = Instant::now();
        let completions = leases
            .iter()
            .map(|lease| frontier.complete(lease, DONE, Vec::new()));
        for completed in join_all(completions).await {
            completed.expect("complete");
        }
        let took = t.elapsed();
        (complete_max, complete_total) = (complete_max.max(took), complete_total + took);
        done += 256;
    }
    let rounds = done / 256;
    let rss_end = rss_mib();
    let counts = frontier.counts().await.expect("counts");
    assert_eq!((counts.done, counts.queued), (done, URLS - done));
    frontier.close().await.expect("close");
    let disk = std::fs::metadata(dir.path().join(DB_FILE))
        .expect("db")
        .len();
    let t = Instant::now();
    drop(open(dir.path())); // checks the whole store
    let reopen = t.elapsed();
    eprintln!(
        "disk frontier, {URLS} URLs: insert {:.1} s ({:.0} URLs/s); lease 256: avg {:.2} ms, \
         max {:.2} ms; complete 256: avg {:.2} ms, max {:.2} ms; disk {:.0} MB; \
         reopen {:.2} s; RSS {rss_start:.0} -> {rss_inserted:.0} -> {rss_end:.0} MiB",
        insert.as_secs_f64(),
        URLS as f64 / insert.as_secs_f64(),
        lease_total.as_secs_f64() * 1000.0 / rounds as f64,
        lease_max.as_secs_f64() * 1000.0,
        complete_total.as_secs_f64() * 1000.0 / rounds as f64,
        complete_max.as_secs_f64() * 1000.0,
        disk as f64 / 1e6,
        reopen.as_secs_f64(),
    );
    assert!(
        rss_end - rss_start < 100.0,
        "RSS grew from {rss_start:.0} to {rss_end:.0} MiB"
    );
}
