//! The web profile over HTTP: every page reachable from `/p/0`, hosts, manifest.

use std::collections::{BTreeSet, HashMap, VecDeque};

use dragnet_testsite::{Profile, SiteConfig, TestSite};
use url::Url;

mod common;
use common::{client, get, hex};

fn hrefs(html: &str) -> Vec<&str> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect()
}

fn config(pages: u64, hosts: usize) -> SiteConfig {
    SiteConfig {
        profile: Profile::Web {
            pages,
            hosts,
            links_per_page: 5,
            mean_page_bytes: 2_000,
        },
        seed: 4,
        ..SiteConfig::default()
    }
}

#[tokio::test]
async fn every_page_is_reachable_from_the_root_and_matches_the_manifest() {
    let site = TestSite::start(config(300, 3)).await.expect("start");
    let client = client();
    let hosts: Vec<Url> = site.host_urls();
    assert_eq!(hosts.len(), 3);
    let manifest: HashMap<String, String> = site
        .manifest()
        .pages
        .into_iter()
        .map(|p| (p.url, p.sha256))
        .collect();
    assert_eq!(manifest.len(), 300);

    let root = site.list_url();
    assert_eq!(root.path(), "/p/0");
    let mut seen = BTreeSet::from([root.to_string()]);
    let mut queue = VecDeque::from([root]);
    while let Some(url) = queue.pop_front() {
        let (status, body) = get(&client, url.clone()).await;
        assert_eq!(status, 200, "{url}");
        assert_eq!(manifest.get(url.as_str()), Some(&hex(&body)), "{url}");
        let html = String::from_utf8(body).unwrap();
        for href in hrefs(&html) {
            let mut next = url.join(href).expect("valid link");
            next.set_fragment(None);
            let ours = hosts.iter().any(|h| h.origin() == next.origin());
            if ours && next.path().starts_with("/p/") && seen.insert(next.to_string()) {
                queue.push_back(next);
            }
        }
    }
    let reached: BTreeSet<String> = manifest.keys().cloned().collect();
    assert_eq!(seen, reached);
    let stats = site.stats();
    assert_eq!(stats.requests, 300);
    assert!(
        stats.per_host.iter().all(|h| h.requests == 100),
        "{:?}",
        stats.per_host
    );
}

#[tokio::test]
async fn pages_live_on_their_own_host() {
    let site = TestSite::start(config(50, 2)).await.expect("start");
    let client = client();
    let hosts = site.host_urls();
    assert_eq!(get(&client, hosts[1].join("/p/3").unwrap()).await.0, 200);
    assert_eq!(get(&client, hosts[0].join("/p/3").unwrap()).await.0, 404);
    assert_eq!(get(&client, hosts[0].join("/p/50").unwrap()).await.0, 404);
    let resp = client.get(hosts[0].clone()).send().await.unwrap();
    assert_eq!(
        (
            resp.status().as_u16(),
            resp.headers()["location"].to_str().unwrap()
        ),
        (302, "/p/0")
    );
    assert_eq!(
        get(&client, hosts[1].join("/files/x").unwrap()).await.0,
        200
    );

    let (status, json) = get(&client, hosts[1].join("/__manifest.json").unwrap()).await;
    assert_eq!(status, 200);
    let streamed: dragnet_testsite::Manifest = serde_json::from_slice(&json).expect("json");
    assert_eq!(streamed.pages, site.manifest().pages);
}

#[tokio::test]
async fn same_seed_same_site() {
    let a = TestSite::start(config(20, 1)).await.expect("start");
    let b = TestSite::start(config(20, 1)).await.expect("start");
    let client = client();
    // Bodies contain absolute URLs with the port, so compare link paths and sizes.
    for id in 0..20 {
        let (_, x) = get(&client, a.base_url().join(&format!("/p/{id}")).unwrap()).await;
        let (_, y) = get(&client, b.base_url().join(&format!("/p/{id}")).unwrap()).await;
        let port_a = a.base_url().port().unwrap().to_string();
        let port_b = b.base_url().port().unwrap().to_string();
        let x = String::from_utf8(x).unwrap();
        let y = String::from_utf8(y).unwrap();
        assert_eq!(x.replace(&port_a, "PORT"), y.replace(&port_b, "PORT"));
    }
}
