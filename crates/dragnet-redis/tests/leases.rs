//! Leases against a real redis-server: expiry and reclaim, fencing, the heartbeat, the
//! fleet-wide per-host limit and delay, job isolation, and job control.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dragnet::CrawlRequest;
use dragnet::frontier::{Frontier, FrontierError, Lease, Outcome};
use dragnet_redis::testing::{RedisServer, unique_job};
use dragnet_redis::{HostState, RedisFrontier, RedisOptions};
use url::Url;

const DONE: Outcome = Outcome::Done { attempts: 1 };

fn request(url: &str) -> CrawlRequest {
    CrawlRequest::seed(Url::parse(url).expect("test URL literal"))
}

fn short_ttl(ttl_ms: u64) -> RedisOptions {
    RedisOptions {
        lease_ttl: Duration::from_millis(ttl_ms),
        ..RedisOptions::default()
    }
}

fn keys(leases: &[Lease]) -> HashSet<String> {
    leases.iter().map(|l| l.key.clone()).collect()
}

/// Leases until `want` URLs are held or `patience` passes.
async fn lease_until(frontier: &RedisFrontier, want: usize, patience: Duration) -> Vec<Lease> {
    let deadline = Instant::now() + patience;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(frontier.lease(want - got.len()).await.expect("lease"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    got
}

#[tokio::test]
async fn a_dead_workers_leases_go_to_another_after_the_ttl() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("dead");
    let a = server.frontier_for(&job, short_ttl(500)).await;
    let b = server.frontier_for(&job, short_ttl(500)).await;
    a.add(
        (0..3)
            .map(|i| request(&format!("http://h{i}.test/")))
            .collect(),
    )
    .await
    .expect("add");
    let held = a.lease(10).await.expect("lease");
    assert_eq!(held.len(), 3);
    drop(a); // dies: no completion, no more heartbeats
    assert!(
        b.lease(10).await.expect("lease").is_empty(),
        "live leases are exclusive"
    );
    let started = Instant::now();
    let again = lease_until(&b, 3, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "reclaimed before the TTL"
    );
    assert_eq!(keys(&again), keys(&held), "the same URLs, nothing lost");
    assert!(
        again
            .iter()
            .all(|l| held.iter().all(|h| h.token != l.token))
    );
    for lease in &again {
        b.complete(lease, DONE, Vec::new()).await.expect("complete");
    }
    let counts = b.counts().await.expect("counts");
    assert_eq!((counts.done, counts.leased, counts.queued), (3, 0, 0));
    assert_eq!(b.status().await.expect("status").reclaimed, 3);
}

#[tokio::test]
async fn a_stalled_workers_late_ack_is_refused_and_recorded_once() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("stalled");
    let a = server.frontier_for(&job, short_ttl(500)).await;
    let b = server.frontier_for(&job, short_ttl(500)).await;
    a.add(vec![request("http://x.test/1"), request("http://y.test/1")])
        .await
        .expect("add");
    let stale = a.lease(10).await.expect("lease");
    a.pause_heartbeat(true); // SIGSTOP: alive but silent
    let fresh = lease_until(&b, 2, Duration::from_secs(5)).await;
    assert_eq!(keys(&fresh), keys(&stale));
    for lease in &stale {
        let late = a
            .complete(lease, DONE, vec![request("http://x.test/late")])
            .await;
        assert!(
            matches!(late, Err(FrontierError::StaleLease { .. })),
            "late ack: {late:?}"
        );
        assert!(a.release(lease).await.is_err(), "late release refused too");
    }
    for lease in &fresh {
        b.complete(lease, DONE, Vec::new()).await.expect("complete");
    }
    let counts = b.counts().await.expect("counts");
    assert_eq!(
        (counts.done, counts.queued, counts.leased),
        (2, 0, 0),
        "each result recorded once, the late discoveries dropped"
    );
}

#[tokio::test]
async fn the_heartbeat_keeps_a_long_lease() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("heartbeat");
    let a = server.frontier_for(&job, short_ttl(600)).await;
    let b = server.frontier_for(&job, short_ttl(600)).await;
    a.add(vec![request("http://slow.test/1")])
        .await
        .expect("add");
    let lease = a.lease(1).await.expect("lease").remove(0);
    assert_eq!(a.held_leases(), 1);
    // Three TTLs of "fetching", with B polling (and reclaiming) all along.
    let until = Instant::now() + Duration::from_millis(1800);
    while Instant::now() < until {
        assert!(
            b.lease(5).await.expect("lease").is_empty(),
            "lease was reclaimed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(b.counts().await.expect("counts").leased, 1);
    a.complete(&lease, DONE, Vec::new())
        .await
        .expect("complete");
    assert_eq!(a.held_leases(), 0);
    assert!(b.counts().await.expect("counts").is_finished());
}

/// Two workers, many rounds: a host never has more live leases than the fleet-wide limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_host_limit_holds_across_workers() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    for limit in [1usize, 2] {
        let job = unique_job("fleet");
        let options = RedisOptions {
            per_host_leases: limit,
            ..RedisOptions::default()
        };
        let seed = server.frontier_for(&job, options.clone()).await;
        let urls = (0..120).map(|i| request(&format!("http://h{}.test/{i}", i % 4)));
        assert_eq!(seed.add(urls.collect()).await.expect("add"), 120);
        let live: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let peak: Arc<Mutex<usize>> = Arc::default();
        let mut workers = Vec::new();
        for _ in 0..2 {
            let frontier = server.frontier_for(&job, options.clone()).await;
            let (live, peak) = (Arc::clone(&live), Arc::clone(&peak));
            workers.push(tokio::spawn(async move {
                let mut done = 0;
                loop {
                    let leases = frontier.lease(3).await.expect("lease");
                    if leases.is_empty() {
                        if frontier.counts().await.expect("counts").is_finished() {
                            return done;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        continue;
                    }
                    for lease in &leases {
                        let mut live = live.lock().expect("lock");
                        let n = live.entry(lease.request.host_key()).or_default();
                        *n += 1;
                        let mut peak = peak.lock().expect("lock");
                        *peak = (*peak).max(*n);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    for lease in &leases {
                        // Off the books before the ack: Redis frees the slot only when the
                        // ack lands, so a new lease of this host can only come after this.
                        *live
                            .lock()
                            .expect("lock")
                            .get_mut(&lease.request.host_key())
                            .expect("counted") -= 1;
                        frontier
                            .complete(lease, DONE, Vec::new())
                            .await
                            .expect("ack");
                        done += 1;
                    }
                }
            }));
        }
        let mut total = 0;
        for worker in workers {
            total += worker.await.expect("worker");
        }
        assert_eq!(total, 120, "every URL completed once");
        let peak = *peak.lock().expect("lock");
        assert!(
            peak <= limit,
            "limit {limit}, seen {peak} live leases on one host"
        );
        assert_eq!(
            peak, limit,
            "the limit is also reached (the test is not vacuous)"
        );
    }
}

#[tokio::test]
async fn the_host_delay_spaces_leases_across_the_fleet() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("delay");
    let options = RedisOptions {
        host_delay: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let a = server.frontier_for(&job, options.clone()).await;
    let b = server.frontier_for(&job, options).await;
    a.add(vec![
        request("http://d.test/1"),
        request("http://d.test/2"),
        request("http://e.test/1"),
    ])
    .await
    .expect("add");
    let first = a.lease(10).await.expect("lease");
    assert_eq!(first.len(), 2, "one per host");
    let d = first
        .iter()
        .find(|l| l.request.url.host_str() == Some("d.test"))
        .expect("d leased");
    a.complete(d, DONE, Vec::new()).await.expect("complete");
    let ended = Instant::now();
    let status = b.status().await.expect("status");
    let row = status
        .hosts
        .iter()
        .find(|h| h.host == "d.test:80")
        .expect("d listed");
    assert_eq!((row.state, row.queued), (HostState::Delayed, 1));
    let next = lease_until(&b, 1, Duration::from_secs(3)).await;
    assert_eq!(next[0].request.url.as_str(), "http://d.test/2");
    assert!(
        ended.elapsed() >= Duration::from_millis(250),
        "the delay held"
    );
    // An idle host remembers its delay for newly discovered URLs too.
    let e = first.iter().find(|l| l.key.contains("e.test")).expect("e");
    a.complete(e, DONE, vec![request("http://e.test/2")])
        .await
        .expect("complete");
    assert!(b.lease(10).await.expect("lease").is_empty());
}

#[tokio::test]
async fn a_url_whose_leases_keep_expiring_is_failed() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("poison");
    let reaper = server.frontier_for(&job, short_ttl(100)).await;
    reaper
        .add(vec![request("http://p.test/")])
        .await
        .expect("add");
    for _ in 0..5 {
        let victim = server.frontier_for(&job, short_ttl(100)).await;
        let got = lease_until(&victim, 1, Duration::from_secs(3)).await;
        assert_eq!(got.len(), 1);
        drop(victim);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let counts = reaper.counts().await.expect("counts");
    assert_eq!((counts.failed, counts.queued, counts.leased), (1, 0, 0));
    let status = reaper.status().await.expect("status");
    assert_eq!(status.failures, vec![("lease_expired".to_owned(), 1)]);
}

#[tokio::test]
async fn jobs_in_one_redis_do_not_see_each_other() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let one = server.frontier("iso-one", RedisOptions::default()).await;
    let two = server.frontier("iso-two", RedisOptions::default()).await;
    let urls = || vec![request("http://same.test/a"), request("http://same.test/b")];
    assert_eq!(one.add(urls()).await.expect("add"), 2);
    assert_eq!(two.add(urls()).await.expect("add"), 2, "dedup is per job");
    let lease = one.lease(10).await.expect("lease").remove(0);
    assert_eq!(two.counts().await.expect("counts").leased, 0);
    assert_eq!(
        two.lease(10).await.expect("lease").len(),
        1,
        "its own host limit"
    );
    one.complete(&lease, DONE, Vec::new())
        .await
        .expect("complete");
    assert_eq!(one.counts().await.expect("counts").done, 1);
    assert_eq!(two.counts().await.expect("counts").done, 0);
    assert!(one.purge().await.expect("purge") > 0);
    assert_eq!(one.counts().await.expect("counts").seen(), 0, "purged");
    assert_eq!(
        two.counts().await.expect("counts").seen(),
        2,
        "the other job is intact"
    );
}

#[tokio::test]
async fn status_workers_drain_and_settings() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let job = unique_job("control");
    let worker = RedisOptions {
        worker_id: "w-1".into(),
        ..RedisOptions::default()
    };
    let w = server.frontier_for(&job, worker).await;
    let cli = server.frontier_for(&job, RedisOptions::default()).await;
    assert_eq!(cli.load_settings().await.expect("load"), None);
    cli.save_settings(r#"{"depth":3}"#).await.expect("save");
    assert_eq!(
        w.load_settings().await.expect("load").as_deref(),
        Some(r#"{"depth":3}"#)
    );
    w.register_worker().await.expect("register");
    let urls = (0..6).map(|i| request(&format!("http://s{}.test/{i}", i % 2)));
    w.add(urls.collect()).await.expect("add");
    let leases = w.lease(10).await.expect("lease");
    w.complete(
        &leases[0],
        Outcome::Failed {
            reason: "http_404".into(),
            attempts: 1,
        },
        Vec::new(),
    )
    .await
    .expect("complete");
    w.renew_now().await.expect("heartbeat");
    let status = cli.status().await.expect("status");
    assert_eq!(status.counts.failed, 1);
    assert_eq!(status.failures, vec![("http_404".to_owned(), 1)]);
    assert_eq!(status.workers.len(), 1);
    assert_eq!(
        (status.workers[0].id.as_str(), status.workers[0].leases),
        ("w-1", 1)
    );
    assert_eq!(status.hosts.len(), 2);
    assert_eq!(status.hosts.iter().map(|h| h.active).sum::<u64>(), 1);
    assert_eq!(status.hosts.iter().map(|h| h.queued).sum::<u64>(), 4);
    assert!(!w.is_draining().await);
    cli.drain().await.expect("drain");
    assert!(w.is_draining().await);
    assert!(cli.status().await.expect("status").draining);
    cli.undrain().await.expect("undrain");
    assert!(!w.is_draining().await);
    w.unregister_worker().await.expect("unregister");
    assert!(cli.status().await.expect("status").workers.is_empty());
}

#[tokio::test]
async fn bad_job_names_and_urls_are_clear_errors() {
    let Some(server) = RedisServer::shared().await else {
        return;
    };
    let bad = RedisFrontier::connect(server.url(), "a{b}", RedisOptions::default()).await;
    assert!(matches!(bad, Err(FrontierError::Storage(m)) if m.contains("job name")));
    let bad = RedisFrontier::connect("http://nope", "job", RedisOptions::default()).await;
    assert!(matches!(bad, Err(FrontierError::Storage(m)) if m.contains("redis URL")));
    let quick = RedisOptions {
        reconnect_for: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let down = RedisFrontier::connect(&format!("redis://127.0.0.1:{port}/"), "job", quick).await;
    assert!(matches!(down, Err(FrontierError::Storage(m)) if m.contains("connect")));
}
