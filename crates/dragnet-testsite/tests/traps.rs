//! Crawler traps over HTTP: a bounded breadth-first walk never runs out of new URLs, while
//! the pages behind them stay few.

use std::collections::{BTreeSet, HashSet, VecDeque};

use dragnet_testsite::{SiteConfig, TestSite};
use url::Url;

mod common;
use common::{client, get, hrefs};

/// Walks breadth-first from `start` for `budget` fetches, following same-site links under
/// `prefix`; returns the URLs fetched and how many new ones were still queued.
async fn walk(site: &TestSite, start: &str, prefix: &str, budget: usize) -> (Vec<Url>, usize) {
    let client = client();
    let start = site.base_url().join(start).unwrap();
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([start]);
    let mut fetched = Vec::new();
    while fetched.len() < budget {
        let Some(url) = queue.pop_front() else { break };
        let (status, body) = get(&client, url.clone()).await;
        assert_eq!(status, 200, "{url}");
        for href in hrefs(&String::from_utf8(body).expect("utf-8")) {
            let next = url.join(&href).expect("valid link");
            if next.path().starts_with(prefix) && seen.insert(next.clone()) {
                queue.push_back(next);
            }
        }
        fetched.push(url);
    }
    (fetched, queue.len())
}

#[tokio::test]
async fn the_traps_never_run_dry() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let client = client();
    let (status, index) = get(&client, site.base_url().join("/traps/").unwrap()).await;
    assert_eq!(status, 200);
    let entries = hrefs(&String::from_utf8(index).expect("utf-8"));
    assert_eq!(entries.len(), 5);
    for entry in &entries {
        assert_eq!(
            get(&client, site.base_url().join(entry).unwrap()).await.0,
            200,
            "{entry}"
        );
    }

    let (calendar, left) = walk(&site, "/calendar/2024/01", "/calendar/", 60).await;
    assert_eq!((calendar.len(), left), (60, 2), "one new month each way");
    assert!(calendar.iter().any(|u| u.path() == "/calendar/2022/06"));

    let (repeat, left) = walk(&site, "/repeat/a/b", "/repeat/", 60).await;
    assert_eq!(repeat.len(), 60);
    assert!(left > 60);
    assert!(repeat.iter().any(|u| u.path() == "/repeat/a/b/a/b/a"));

    let (session, left) = walk(&site, "/session/1", "/session/", 60).await;
    assert_eq!(session.len(), 60);
    assert!(left >= 5, "{left}");
    let pages: BTreeSet<&str> = session.iter().map(Url::path).collect();
    assert_eq!(pages.len(), 5, "{pages:?}");
    assert!(
        session
            .iter()
            .any(|u| u.query().is_some_and(|q| q.starts_with("utm_source=")))
    );
    site.shutdown().await;
}

#[tokio::test]
async fn session_and_canonical_pages_keep_their_content() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let client = client();
    let base = site.base_url();
    let text = |body: Vec<u8>| {
        let html = String::from_utf8(body).expect("utf-8");
        html[..html.find("<ul>").expect("links")].to_owned()
    };
    let (_, a) = get(&client, base.join("/session/2").unwrap()).await;
    let (_, b) = get(
        &client,
        base.join("/session/2?sid=0123456789abcdef").unwrap(),
    )
    .await;
    assert_ne!(a, b, "the links differ");
    let (a, b) = (text(a), text(b));
    assert_eq!(a, b, "the content does not");
    assert!(a.contains("<link rel=\"canonical\" href=\"/session/2\">"));

    let (_, plain) = get(&client, base.join("/canonical/3").unwrap()).await;
    let (_, query) = get(&client, base.join("/canonical/3?ref=x").unwrap()).await;
    assert_eq!(plain, query);
    let html = String::from_utf8(plain).expect("utf-8");
    assert!(html.contains("<link rel=\"canonical\" href=\"/canonical/3\">"));
    let stats = site.stats();
    assert_eq!(stats.per_path.get("/canonical/3"), Some(&2));
    site.shutdown().await;
}
