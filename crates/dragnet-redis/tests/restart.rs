//! Redis is killed and restarted (same port, AOF on) while a worker crawls: the worker rides
//! it out and no acknowledged completion is lost.

use std::time::Duration;

use dragnet::CrawlRequest;
use dragnet::frontier::{Frontier, FrontierError, Outcome};
use dragnet_redis::RedisOptions;
use dragnet_redis::testing::{RedisServer, unique_job};
use url::Url;

const PAGES: u64 = 300;

fn request(i: u64) -> CrawlRequest {
    let url = format!("http://h{}.test/{i}", i % 10);
    CrawlRequest::seed(Url::parse(&url).expect("test URL"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_no_acknowledged_completion() {
    let Some(server) = RedisServer::start(true).await else {
        return;
    };
    let job = unique_job("restart");
    let options = RedisOptions {
        // Short, so leases whose grant was lost with the connection come back quickly.
        lease_ttl: Duration::from_secs(2),
        per_host_leases: 2,
        ..RedisOptions::default()
    };
    let worker = server.frontier_for(&job, options.clone()).await;
    worker
        .add((0..PAGES).map(request).collect())
        .await
        .expect("seed");
    let crawl = tokio::spawn(async move {
        let (mut acked, mut stale) = (0u64, 0u64);
        loop {
            let leases = worker.lease(4).await.expect("lease rides out the restart");
            if leases.is_empty() {
                if worker.counts().await.expect("counts").is_finished() {
                    return (acked, stale);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            for lease in leases {
                tokio::time::sleep(Duration::from_millis(2)).await; // "fetching"
                match worker
                    .complete(&lease, Outcome::Done { attempts: 1 }, Vec::new())
                    .await
                {
                    Ok(_) => acked += 1,
                    // Only if the outage outlived the lease; then someone else redoes it.
                    Err(FrontierError::StaleLease { .. }) => stale += 1,
                    Err(error) => panic!("complete failed: {error}"),
                }
            }
        }
    });
    let observer = server.frontier_for(&job, options).await;
    let mut restarts = 0;
    let mut done_before = Vec::new();
    while restarts < 2 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let counts = observer.counts().await.expect("counts");
        if counts.done >= 50 * (restarts + 1) {
            done_before.push(counts.done);
            server.restart().await;
            let after = observer.counts().await.expect("counts after restart");
            assert!(
                after.done >= counts.done,
                "acknowledged completions lost: {} before, {} after",
                counts.done,
                after.done
            );
            restarts += 1;
        }
    }
    let (acked, stale) = tokio::time::timeout(Duration::from_secs(60), crawl)
        .await
        .expect("the crawl finishes")
        .expect("worker");
    let counts = observer.counts().await.expect("counts");
    assert_eq!(
        (counts.done, counts.queued, counts.leased),
        (PAGES, 0, 0),
        "every URL done once (acked {acked}, stale {stale}, done before restarts {done_before:?})"
    );
    assert_eq!(acked, PAGES, "every completion acknowledged exactly once");
    println!("restarted Redis at {done_before:?} pages done; {acked} acks, {stale} refused");
}
