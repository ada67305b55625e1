//! The real pages profile: every file of `shared/data/real-pages` served byte for byte with
//! its charset (skipped when the folder is absent), and a small synthetic folder.

use std::collections::HashMap;
use std::path::PathBuf;

use dragnet_testsite::{Profile, SiteConfig, TestSite};
use url::Url;

mod common;
use common::{client, get, get_typed, hex, hrefs};

/// `shared/data/real-pages`, next to the repository.
fn data_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real-pages");
    if dir.join("INDEX.json").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no real pages at {}", dir.display());
        None
    }
}

fn real(dir: PathBuf) -> SiteConfig {
    SiteConfig {
        profile: Profile::Real { dir },
        ..SiteConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_real_page_is_served_byte_for_byte() {
    let Some(dir) = data_dir() else { return };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("INDEX.json")).unwrap()).unwrap();
    let files = index["files"].as_array().expect("files");
    let site = TestSite::start(real(dir.clone())).await.expect("start");
    let client = client();
    assert_eq!(site.list_url().path(), "/real/");
    let resp = client.get(site.base_url()).send().await.unwrap();
    assert_eq!(
        (
            resp.status().as_u16(),
            resp.headers()["location"].to_str().unwrap()
        ),
        (302, "/real/")
    );

    let (status, page) = get(&client, site.list_url()).await;
    assert_eq!(status, 200);
    let links = hrefs(&String::from_utf8(page).expect("utf-8"));
    assert_eq!(links.len(), files.len());

    let manifest: HashMap<String, (String, String)> = site
        .manifest()
        .pages
        .into_iter()
        .map(|p| (p.url, (p.sha256, p.kind)))
        .collect();
    assert_eq!(manifest.len(), files.len() + 1);
    for (file, link) in files.iter().zip(&links) {
        let name = file["file"].as_str().expect("name");
        let url = site.list_url().join(link).unwrap();
        assert_eq!(url.path(), format!("/real/{name}"));
        let (status, content_type, body) = get_typed(&client, url.clone()).await;
        assert_eq!(status, 200, "{url}");
        let sha = hex(&body);
        assert_eq!(
            Some(sha.as_str()),
            file["sha256"].as_str(),
            "{name} as stored"
        );
        assert_eq!(manifest[url.as_str()], (sha, "real".to_owned()), "{name}");
        let expected = match (file["form"].as_str(), file["declared_charset"].as_str()) {
            (Some("raw"), Some(cs)) => format!("text/html; charset={cs}"),
            (Some("raw"), None) => "text/html".to_owned(),
            _ => "text/html; charset=utf-8".to_owned(),
        };
        assert_eq!(content_type, expected, "{name}");
    }
    let type_of = |name: &str| {
        let url = site.list_url().join(name).unwrap();
        let client = client.clone();
        async move { get_typed(&client, url).await.1 }
    };
    assert_eq!(
        type_of("087-rp.pl-unijne-fundusze.html").await,
        "text/html; charset=windows-1250"
    );
    assert_eq!(type_of("039-qq-cn.html").await, "text/html; charset=utf-8");
    assert_eq!(type_of("091-nmb-media.de-ebay.html").await, "text/html");
    assert_eq!(site.sitemap_urls().len(), files.len() + 1);
    site.shutdown().await;
}

#[tokio::test]
async fn a_folder_without_an_index_is_served_too() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("b page.html"), "<p>b</p>").unwrap();
    std::fs::write(dir.path().join("a.html"), b"<p>caf\xe9</p>").unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not served").unwrap();
    let site = TestSite::start(real(dir.path().to_owned()))
        .await
        .expect("start");
    let client = client();
    let (_, index) = get(&client, site.list_url()).await;
    let links = hrefs(&String::from_utf8(index).expect("utf-8"));
    assert_eq!(links, ["/real/a.html", "/real/b%20page.html"]);
    let (status, content_type, body) =
        get_typed(&client, site.list_url().join(&links[0]).unwrap()).await;
    assert_eq!(
        (status, content_type.as_str(), body.as_slice()),
        (200, "text/html", b"<p>caf\xe9</p>".as_slice())
    );
    assert_eq!(
        get(&client, site.list_url().join(&links[1]).unwrap())
            .await
            .0,
        200
    );
    for missing in ["/real/notes.txt", "/real/c.html", "/p/0", "/wiki/India"] {
        assert_eq!(
            get(&client, site.base_url().join(missing).unwrap()).await.0,
            404,
            "{missing}"
        );
    }
    let urls: Vec<String> = site
        .sitemap_urls()
        .iter()
        .map(Url::path)
        .map(str::to_owned)
        .collect();
    assert_eq!(
        urls,
        ["/files/sitemap", "/real/a.html", "/real/b%20page.html"]
    );
    let kinds: Vec<String> = site.manifest().pages.into_iter().map(|p| p.kind).collect();
    assert_eq!(kinds, ["list", "real", "real"]);
    site.shutdown().await;

    let err = TestSite::start(real(dir.path().join("missing")))
        .await
        .expect_err("no folder");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
