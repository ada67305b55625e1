//! The countries profile over HTTP: the list, the pages, the manifest and the fixed routes.

use dragnet_testsite::{SiteConfig, TestSite, country_names};
use url::Url;

mod common;
use common::{client, get, hex};

/// The `href` of the link that follows each flag icon, in order.
fn flagicon_links(html: &str) -> Vec<String> {
    html.split("class=\"flagicon\"")
        .skip(1)
        .map(|rest| {
            let start = rest.find("<a href=\"").expect("link after the flag") + 9;
            let end = rest[start..].find('"').expect("closing quote") + start;
            rest[start..end].to_owned()
        })
        .collect()
}

#[tokio::test]
async fn list_has_233_flagicon_rows_among_many_links() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let (status, body) = get(&client(), site.list_url()).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(body).expect("utf-8");
    assert_eq!(html.matches("class=\"flagicon\"").count(), 233);
    assert!(html.contains("<table class=\"wikitable sortable"));
    let all_links = html.matches("<a href=").count();
    assert!(all_links > 3 * 233, "only {all_links} links");
    let hrefs = flagicon_links(&html);
    let decoded: Vec<String> = hrefs
        .iter()
        .map(|h| {
            let title = h.strip_prefix("/wiki/").expect("wiki link");
            percent_encoding::percent_decode_str(title)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(decoded, country_names());
    assert!(hrefs.contains(&"/wiki/C%C3%B4te_d%27Ivoire".to_owned()));
    assert_eq!(
        site.list_url().path(),
        "/wiki/List_of_countries_and_dependencies_by_population"
    );
}

#[tokio::test]
async fn manifest_matches_served_bodies_and_sizes() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let client = client();
    let manifest = site.manifest();
    assert_eq!(manifest.pages.len(), 234);
    assert_eq!(manifest.pages[0].kind, "list");
    assert_eq!(manifest.pages[0].url, site.list_url().as_str());
    assert!(manifest.pages[1..].iter().all(|p| p.kind == "country"));

    let (status, json) = get(&client, site.base_url().join("/__manifest.json").unwrap()).await;
    assert_eq!(status, 200);
    let over_http: dragnet_testsite::Manifest = serde_json::from_slice(&json).expect("json");
    assert_eq!(over_http.pages.len(), manifest.pages.len());
    for (a, b) in over_http.pages.iter().zip(&manifest.pages) {
        assert_eq!((&a.url, &a.sha256, a.bytes), (&b.url, &b.sha256, b.bytes));
    }

    let mut tasks = tokio::task::JoinSet::new();
    for page in manifest.pages.clone() {
        let client = client.clone();
        tasks.spawn(async move {
            let (status, body) = get(&client, Url::parse(&page.url).unwrap()).await;
            assert_eq!(status, 200, "{}", page.url);
            assert_eq!(body.len() as u64, page.bytes, "{}", page.url);
            assert_eq!(hex(&body), page.sha256, "{}", page.url);
        });
        if tasks.len() >= 8 {
            tasks.join_next().await.expect("task").expect("page check");
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("page check");
    }

    let mut sizes: Vec<u64> = manifest.pages[1..].iter().map(|p| p.bytes).collect();
    sizes.sort_unstable();
    assert!(
        sizes[0] >= 150_000 && sizes[232] <= 1_200_000,
        "{} .. {}",
        sizes[0],
        sizes[232]
    );
    let median = sizes[116];
    assert!((330_000..=480_000).contains(&median), "median {median}");
    assert_eq!(
        site.stats().requests,
        234,
        "the /__ endpoints are not counted"
    );
}

#[tokio::test]
async fn country_pages_look_like_wikipedia() {
    let site = TestSite::start(SiteConfig {
        seed: 9,
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let client = client();
    let base = site.base_url();
    let (status, body) = get(&client, base.join("/wiki/C%C3%B4te_d%27Ivoire").unwrap()).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(body.clone()).expect("utf-8");
    for needle in [
        "<table class=\"infobox",
        "<h2>",
        "<p>",
        "class=\"references\"",
        "#cite_note-",
        "href=\"/wiki/",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let other_countries = country_names()
        .iter()
        .filter(|n| n.is_ascii() && html.contains(&format!("href=\"/wiki/{n}\"")))
        .count();
    assert!(other_countries > 5, "{other_countries}");
    // The unencoded spelling names the same page.
    let (status, same) = get(&client, base.join("/wiki/Côte_d'Ivoire").unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(same, body);

    for path in [
        "/wiki/Main_Page",
        "/wiki/Special:Random",
        "/wiki/Asia",
        "/wiki/History_of_France",
        "/",
    ] {
        let (status, body) = get(&client, base.join(path).unwrap()).await;
        assert_eq!(status, 200, "{path}");
        assert!(body.len() < 4_000, "{path} is a small page");
    }
    for path in ["/nothing", "/wiki/", "/static/x.css"] {
        assert_eq!(
            get(&client, base.join(path).unwrap()).await.0,
            404,
            "{path}"
        );
    }
    let stats = site.stats();
    assert_eq!(stats.per_path.get("/wiki/C%C3%B4te_d%27Ivoire"), Some(&1));
    assert_eq!(stats.per_path.get("/nothing"), Some(&1));
}

#[tokio::test]
async fn fixed_routes_everywhere() {
    let site = TestSite::start(SiteConfig {
        robots_txt: Some("User-agent: *\nDisallow: /private\n".to_owned()),
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let client = client();
    let base = site.base_url();

    let (status, body) = get(&client, base.join("/files/..%2F..%2Fetc%2Fpasswd").unwrap()).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("..%2F..%2Fetc%2Fpasswd") && html.contains("../../etc/passwd"));

    let resp = client
        .get(base.join("/redirect/3").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/redirect/2");
    assert_eq!(get(&client, base.join("/redirect/0").unwrap()).await.0, 200);
    let resp = client
        .get(base.join("/loop").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            resp.status().as_u16(),
            resp.headers()["location"].to_str().unwrap()
        ),
        (302, "/loop")
    );

    let following = reqwest::Client::new();
    let resp = following
        .get(base.join("/redirect/5").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.url().path()),
        (200, "/redirect/0")
    );

    let (status, robots) = get(&client, base.join("/robots.txt").unwrap()).await;
    assert_eq!(
        (status, robots.as_slice()),
        (200, b"User-agent: *\nDisallow: /private\n".as_slice())
    );
    assert_eq!(get(&client, base.join("/__nothing").unwrap()).await.0, 404);
    let (status, stats) = get(&client, base.join("/__stats.json").unwrap()).await;
    assert_eq!(status, 200);
    let stats: dragnet_testsite::SiteStats = serde_json::from_slice(&stats).unwrap();
    assert_eq!(
        stats.requests, 10,
        "robots.txt and /__ endpoints are not counted"
    );
    assert_eq!(stats.per_path.get("/redirect/0"), Some(&2));
    assert_eq!(stats, site.stats());
    site.reset_stats();
    assert_eq!(site.stats().requests, 0);

    let plain = TestSite::start(SiteConfig::default()).await.expect("start");
    assert_eq!(
        get(&client, plain.base_url().join("/robots.txt").unwrap())
            .await
            .0,
        404
    );
    plain.shutdown().await;
    site.shutdown().await;
}
