//! Redis cost per page, read from the server's own counters (`INFO commandstats`, `MEMORY
//! USAGE`). The assertions guard the design (one script call per completion, a share of one
//! per lease batch); `--nocapture` prints the figures.

use std::collections::HashMap;

use dragnet::CrawlRequest;
use dragnet::frontier::{Frontier, Outcome};
use dragnet_redis::RedisOptions;
use dragnet_redis::testing::{RedisServer, unique_job};
use url::Url;

fn request(url: &str, depth: u32) -> CrawlRequest {
    CrawlRequest {
        url: Url::parse(url).expect("test URL"),
        depth,
    }
}

/// `cmdstat_NAME:calls=N,...` lines as NAME → N.
async fn command_calls(conn: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .expect("INFO");
    info.lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// A crawl of a synthetic site: 20 hosts, every page links to 10 pages (some seen already),
/// two workers leasing batches of 16. Counts Redis commands per completed page.
#[tokio::test]
async fn redis_commands_per_page() {
    let Some(server) = RedisServer::start(false).await else {
        return;
    };
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let job = unique_job("ops");
    let options = RedisOptions {
        per_host_leases: 4,
        ..RedisOptions::default()
    };
    let a = server.frontier_for(&job, options.clone()).await;
    let b = server.frontier_for(&job, options).await;
    let seeds = (0..20).map(|h| request(&format!("http://h{h}.test/0"), 0));
    a.add(seeds.collect()).await.expect("seed");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .expect("reset");
    let pages: u64 = 2000;
    let mut done = 0;
    let mut turn = 0;
    while done < pages {
        let worker = if turn % 2 == 0 { &a } else { &b };
        turn += 1;
        let leases = worker.lease(16).await.expect("lease");
        assert!(!leases.is_empty(), "the synthetic site never runs dry");
        for lease in leases {
            let n: u64 = lease.request.url.path()[1..].parse().expect("page number");
            let host = lease.request.url.host_str().expect("host").to_owned();
            let links = (1..=10).map(|k| {
                let target = (n * 7 + k * 13) % 5000;
                request(&format!("http://{host}/{target}"), lease.request.depth + 1)
            });
            worker
                .complete(&lease, Outcome::Done { attempts: 1 }, links.collect())
                .await
                .expect("complete");
            done += 1;
        }
    }
    let calls = command_calls(&mut conn).await;
    let total: u64 = calls
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "info" | "config|resetstat"))
        .map(|(_, n)| n)
        .sum();
    let scripts =
        calls.get("evalsha").copied().unwrap_or(0) + calls.get("eval").copied().unwrap_or(0);
    let per_page = |n: u64| n as f64 / done as f64;
    let mut top: Vec<_> = calls.iter().collect();
    top.sort_by(|x, y| y.1.cmp(x.1));
    println!(
        "{done} pages, 10 links each: {:.2} round trips (script calls) per page, {:.1} Redis \
         commands per page counting those inside scripts; busiest: {top:?}",
        per_page(scripts),
        per_page(total)
    );
    assert!(
        per_page(scripts) <= 1.2,
        "one completion call per page plus a share of a lease call: {:.2}",
        per_page(scripts)
    );
}

/// Seen-set and queue memory per URL, from `MEMORY USAGE` and `used_memory`. Ignored by
/// default (slow in debug builds); run with `DRAGNET_MEMORY_URLS=1000000 cargo test --release
/// -p dragnet-redis --test ops -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "measurement; run by hand"]
async fn memory_per_url() {
    let Some(server) = RedisServer::start(false).await else {
        return;
    };
    let urls: u64 = std::env::var("DRAGNET_MEMORY_URLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let client = redis::Client::open(server.url()).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    let used = |info: String| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("used_memory")
    };
    let info = || redis::cmd("INFO").arg("memory").clone();
    let before = used(info().query_async(&mut conn).await.expect("info"));
    let job = unique_job("memory");
    let frontier = server.frontier_for(&job, RedisOptions::default()).await;
    let mut i = 0;
    while i < urls {
        let batch = (i..(i + 5000).min(urls)).map(|n| {
            request(
                &format!("http://host{}.example.com/articles/{n}", n % 1000),
                1,
            )
        });
        frontier.add(batch.collect()).await.expect("add");
        i += 5000;
    }
    let after = used(info().query_async(&mut conn).await.expect("info"));
    let mut seen_bytes = 0u64;
    let mut buckets = 0u64;
    let mut cursor = 0u64;
    let pattern = format!("dragnet:\\{{{job}\\}}:seen:*");
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .expect("scan");
        for key in keys {
            let bytes: u64 = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .arg("SAMPLES")
                .arg(0)
                .query_async(&mut conn)
                .await
                .expect("memory usage");
            seen_bytes += bytes;
            buckets += 1;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    println!(
        "{urls} URLs (~50-byte URLs, 1000 hosts): seen set {:.1} bytes/URL in {buckets} buckets; \
         everything (seen + queued entries) {:.1} bytes/URL",
        seen_bytes as f64 / urls as f64,
        (after - before) as f64 / urls as f64
    );
}
