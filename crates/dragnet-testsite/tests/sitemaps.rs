//! Sitemaps over HTTP: plain, gzip, index and parts agree with `TestSite::sitemap_urls`, and
//! every listed URL is served.

use std::io::Read;

use dragnet_testsite::{Profile, SiteConfig, TestSite};
use flate2::read::GzDecoder;
use url::Url;

mod common;
use common::{client, get, get_typed, hrefs};

/// The `<loc>` values of a sitemap or sitemap index, with `&amp;` decoded.
fn locs(xml: &str) -> Vec<String> {
    assert!(xml.starts_with("<?xml"), "{}", &xml[..xml.len().min(80)]);
    xml.split("<loc>")
        .skip(1)
        .map(|rest| {
            let loc = rest.split("</loc>").next().expect("closed loc");
            assert!(!loc.contains('<'), "{loc}");
            loc.replace("&amp;", "&")
        })
        .collect()
}

fn gunzip(data: &[u8]) -> String {
    let mut out = String::new();
    GzDecoder::new(data)
        .read_to_string(&mut out)
        .expect("valid gzip");
    out
}

fn strings(urls: &[Url]) -> Vec<String> {
    urls.iter().map(Url::to_string).collect()
}

/// Fetches every sitemap document of `host` and checks they agree with `expected`.
async fn check_documents(site: &TestSite, host: usize, expected: &[Url]) {
    let client = client();
    let base = &site.host_urls()[host];
    let origin = base.origin().ascii_serialization();

    let (status, content_type, plain) =
        get_typed(&client, base.join("/sitemap.xml").unwrap()).await;
    assert_eq!((status, content_type.as_str()), (200, "application/xml"));
    let plain = String::from_utf8(plain).expect("utf-8");
    assert!(plain.contains("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">"));
    assert_eq!(locs(&plain), strings(expected));
    assert!(plain.contains("/files/sitemap?x=1&amp;y=2</loc>"));

    let (status, content_type, gz) =
        get_typed(&client, base.join("/sitemap.xml.gz").unwrap()).await;
    assert_eq!((status, content_type.as_str()), (200, "application/gzip"));
    assert_eq!(&gz[..2], &[0x1f, 0x8b], "gzip magic");
    assert_eq!(gunzip(&gz), plain);

    let (status, index) = get(&client, base.join("/sitemap_index.xml").unwrap()).await;
    assert_eq!(status, 200);
    let index = String::from_utf8(index).expect("utf-8");
    assert!(index.contains("<sitemapindex"));
    assert_eq!(
        locs(&index),
        [
            format!("{origin}/sitemaps/part-1.xml"),
            format!("{origin}/sitemaps/part-2.xml.gz")
        ]
    );
    let (status, part1) = get(&client, base.join("/sitemaps/part-1.xml").unwrap()).await;
    assert_eq!(status, 200);
    let part1 = String::from_utf8(part1).expect("utf-8");
    assert!(
        part1.contains("?x=1&amp;y=2</loc>"),
        "part 1 has the entity"
    );
    let (status, content_type, part2) =
        get_typed(&client, base.join("/sitemaps/part-2.xml.gz").unwrap()).await;
    assert_eq!((status, content_type.as_str()), (200, "application/gzip"));
    let first = locs(&part1);
    let second = locs(&gunzip(&part2));
    assert_eq!(first.len(), expected.len().div_ceil(2));
    let joined: Vec<String> = first.into_iter().chain(second).collect();
    assert_eq!(joined, strings(expected));
}

#[tokio::test]
async fn countries_sitemaps_list_the_country_pages() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let urls = site.sitemap_urls();
    assert_eq!(urls.len(), 234);
    assert_eq!(urls[0].path(), "/files/sitemap");
    assert_eq!(urls[0].query(), Some("x=1&y=2"));
    check_documents(&site, 0, &urls).await;

    // The country pages are exactly the ones the list page links with a flag icon.
    let client = client();
    let (_, list) = get(&client, site.list_url()).await;
    let list = String::from_utf8(list).expect("utf-8");
    let flagged: Vec<String> = list
        .split("class=\"flagicon\"")
        .skip(1)
        .map(|row| site.list_url().join(&hrefs(row)[0]).unwrap().to_string())
        .collect();
    assert_eq!(strings(&urls[1..]), flagged);
    let (status, _) = get(&client, urls[0].clone()).await;
    assert_eq!(status, 200);
    site.shutdown().await;
}

#[tokio::test]
async fn web_sitemaps_list_each_hosts_pages_and_all_are_served() {
    let site = TestSite::start(SiteConfig {
        profile: Profile::Web {
            pages: 2_500,
            hosts: 2,
            links_per_page: 3,
            mean_page_bytes: 600,
        },
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let hosts = site.host_urls();
    for (host, base) in hosts.iter().enumerate() {
        let urls = site.host_sitemap_urls(host);
        assert_eq!(urls.len(), 1_001, "entity URL plus 1,000 pages");
        assert!(urls.iter().all(|u| u.origin() == base.origin()));
        assert_eq!(urls[1].path(), format!("/p/{host}"));
        assert_eq!(urls[1_000].path(), format!("/p/{}", 1_998 + host));
        check_documents(&site, host, &urls).await;
    }
    assert_eq!(site.sitemap_urls(), site.host_sitemap_urls(0));
    assert!(site.host_sitemap_urls(2).is_empty());

    // Every listed URL answers 200.
    let client = client();
    let mut tasks = tokio::task::JoinSet::new();
    for url in site
        .host_sitemap_urls(0)
        .into_iter()
        .chain(site.host_sitemap_urls(1))
    {
        let client = client.clone();
        tasks.spawn(async move { (get(&client, url.clone()).await.0, url) });
        if tasks.len() >= 16
            && let Some(done) = tasks.join_next().await
        {
            let (status, url) = done.expect("task");
            assert_eq!(status, 200, "{url}");
        }
    }
    for (status, url) in tasks.join_all().await {
        assert_eq!(status, 200, "{url}");
    }
    site.shutdown().await;
}

#[tokio::test]
async fn small_web_lists_every_page() {
    let site = TestSite::start(SiteConfig {
        profile: Profile::Web {
            pages: 10,
            hosts: 1,
            links_per_page: 3,
            mean_page_bytes: 600,
        },
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let urls = site.sitemap_urls();
    assert_eq!(urls.len(), 11);
    check_documents(&site, 0, &urls).await;
    site.shutdown().await;
}
