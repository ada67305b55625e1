//! The per-host request log over HTTP: order, hosts, queries, statuses, arrival times taken
//! before latency, exclusions, `/__requests.json` and reset.

use std::time::Duration;

use dragnet_testsite::{Latency, Profile, RequestLog, SiteConfig, TestSite};

mod common;
use common::{client, get};

fn two_hosts(latency: Latency, cap_429: Option<usize>) -> SiteConfig {
    SiteConfig {
        profile: Profile::Web {
            pages: 20,
            hosts: 2,
            links_per_page: 3,
            mean_page_bytes: 600,
        },
        latency,
        cap_429,
        robots_txt: Some("User-agent: *\nDisallow:\n".to_owned()),
        ..SiteConfig::default()
    }
}

#[tokio::test]
async fn log_records_host_path_query_status_in_order() {
    let site = TestSite::start(two_hosts(Latency::none(), None))
        .await
        .expect("start");
    let client = client();
    let hosts = site.host_urls();
    let requests = [
        (0, "/robots.txt"),
        (0, "/p/0"),
        (1, "/p/1"),
        (0, "/__stats.json"),
        (1, "/files/x?q=1&r=%20"),
        (0, "/p/1"),
        (1, "/__requests.json"),
        (0, "/traps/"),
    ];
    for (host, path) in requests {
        get(&client, hosts[host].join(path).unwrap()).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = site.request_log();
    let seen: Vec<(usize, &str, u16)> = log
        .iter()
        .map(|e| (e.host, e.path.as_str(), e.status))
        .collect();
    assert_eq!(
        seen,
        [
            (0, "/robots.txt", 200),
            (0, "/p/0", 200),
            (1, "/p/1", 200),
            (1, "/files/x?q=1&r=%20", 200),
            (0, "/p/1", 404),
            (0, "/traps/", 200),
        ]
    );
    for pair in log.windows(2) {
        assert!(
            pair[1].started >= pair[0].started + Duration::from_millis(15),
            "{pair:?}"
        );
    }
    assert!(!site.request_log_truncated());

    let (status, json) = get(&client, hosts[1].join("/__requests.json").unwrap()).await;
    assert_eq!(status, 200);
    let served: RequestLog = serde_json::from_slice(&json).expect("json");
    assert_eq!(served.entries, log);
    assert!(!served.truncated);

    site.reset_stats();
    assert!(site.request_log().is_empty());
    get(&client, hosts[0].join("/p/0").unwrap()).await;
    let after = site.request_log();
    assert_eq!(after.len(), 1);
    assert!(after[0].started > log[log.len() - 1].started, "one clock");
    site.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_is_taken_on_arrival_before_latency_and_429s_are_logged() {
    let site = TestSite::start(two_hosts(Latency::new(300, 0), Some(2)))
        .await
        .expect("start");
    let client = client();
    let base = site.base_url();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..4 {
        let client = client.clone();
        let url = base.join(&format!("/files/burst{i}")).unwrap();
        tasks.spawn(async move { get(&client, url).await.0 });
    }
    let mut statuses = tasks.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 200, 429, 429]);
    let log = site.request_log();
    assert_eq!(log.len(), 4);
    let mut logged: Vec<u16> = log.iter().map(|e| e.status).collect();
    logged.sort_unstable();
    assert_eq!(logged, statuses);
    // All four arrived together, although two of them took 300 ms to answer.
    let spread = log[3].started - log[0].started;
    assert!(spread < Duration::from_millis(200), "{spread:?}");
    assert!(log.iter().all(|e| e.host == 0));
    assert!(log.windows(2).all(|p| p[0].started <= p[1].started));
    site.shutdown().await;
}
