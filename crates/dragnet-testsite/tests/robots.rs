//! robots.txt variants and the pages robots and scope tests crawl.

use dragnet_testsite::{ROBOTS_READ_LIMIT, SiteConfig, TestSite};

mod common;
use common::{client, get, get_typed, hrefs};

async fn robots(config: SiteConfig) -> (u16, String, Vec<u8>) {
    let site = TestSite::start(config).await.expect("start");
    let got = get_typed(&client(), site.base_url().join("/robots.txt").unwrap()).await;
    site.shutdown().await;
    got
}

#[tokio::test]
async fn robots_status_answers_that_status() {
    for code in [403, 404, 500, 503] {
        let (status, _, body) = robots(SiteConfig {
            robots_status: Some(code),
            robots_txt: Some("User-agent: *\nDisallow:\n".to_owned()),
            ..SiteConfig::default()
        })
        .await;
        assert_eq!(status, code);
        assert!(!body.is_empty() && body.len() < 100);
    }
}

#[tokio::test]
async fn oversized_robots_hides_a_rule_past_500_kib() {
    let (status, content_type, body) = robots(SiteConfig {
        robots_bytes: Some(800_000),
        ..SiteConfig::default()
    })
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "text/plain; charset=utf-8")
    );
    assert_eq!(body.len(), 800_000);
    let text = String::from_utf8(body).expect("ascii");
    assert!(text.starts_with("User-agent: *\nDisallow: /private/\n"));
    let (head, _) = text.split_at(ROBOTS_READ_LIMIT);
    assert!(!head.contains("/late/"));
    let late = text.find("\nDisallow: /late/\n").expect("late rule") + 1;
    assert!(
        (ROBOTS_READ_LIMIT..ROBOTS_READ_LIMIT + 100).contains(&late),
        "{late}"
    );
    assert!(
        text.lines().filter(|l| !l.starts_with('#')).eq([
            "User-agent: *",
            "Disallow: /private/",
            "Disallow: /late/"
        ]),
        "only comments besides the three rule lines"
    );
}

#[tokio::test]
async fn robots_txt_names_its_own_origin() {
    let site = TestSite::start(SiteConfig {
        robots_txt: Some(
            "User-agent: *\nDisallow: /private/\nSitemap: {origin}/sitemap.xml\n".to_owned(),
        ),
        ..SiteConfig::default()
    })
    .await
    .expect("start");
    let client = client();
    let (status, body) = get(&client, site.base_url().join("/robots.txt").unwrap()).await;
    assert_eq!(status, 200);
    let text = String::from_utf8(body).expect("utf-8");
    let sitemap = site.base_url().join("/sitemap.xml").unwrap();
    assert!(text.ends_with(&format!("Sitemap: {sitemap}\n")), "{text}");
    assert_eq!(get(&client, sitemap).await.0, 200);
    assert_eq!(
        site.stats().requests,
        1,
        "robots.txt is not counted in stats"
    );
    let log = site.request_log();
    assert_eq!(log[0].path, "/robots.txt", "but it is logged");
    site.shutdown().await;
}

#[tokio::test]
async fn robots_test_pages_and_scope_redirects() {
    let site = TestSite::start(SiteConfig::default()).await.expect("start");
    let client = client();
    let base = site.base_url();
    let (status, page) = get(&client, base.join("/robots-test/").unwrap()).await;
    assert_eq!(status, 200);
    let links = hrefs(&String::from_utf8(page).expect("utf-8"));
    assert_eq!(
        links,
        [
            "/private/a",
            "/private/b",
            "/late/c",
            "/files/ok1",
            "/files/ok2",
            "/robots-test/deeper"
        ]
    );
    for link in &links {
        assert_eq!(
            get(&client, base.join(link).unwrap()).await.0,
            200,
            "{link}"
        );
    }
    let (_, deeper) = get(&client, base.join("/robots-test/deeper").unwrap()).await;
    assert_eq!(
        hrefs(&String::from_utf8(deeper).expect("utf-8")),
        ["/robots-test/"]
    );

    for (path, to) in [
        ("/redirect-out", "http://127.0.0.1:1/elsewhere"),
        ("/redirect-private", "/private/x"),
    ] {
        let resp = client.get(base.join(path).unwrap()).send().await.unwrap();
        assert_eq!(resp.status(), 302, "{path}");
        assert_eq!(resp.headers()["location"], to, "{path}");
    }
    assert_eq!(get(&client, base.join("/private/x").unwrap()).await.0, 200);
    site.shutdown().await;
}
