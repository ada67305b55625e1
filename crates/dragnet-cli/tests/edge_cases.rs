//! Bad input and odd servers: each ends as a recorded, reasoned per-URL failure or a clear
//! fatal message, never a crash, a hang, or a file outside the output folder.

mod common;

use common::*;
use dragnet_testsite::SiteConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_file_names_stay_inside_the_output_folder() {
    let site = site(SiteConfig::default()).await;
    let base = site.base_url();
    let long = "x".repeat(1000);
    let paths = [
        "/files/..%2F..%2Fetc%2Fpasswd".to_owned(),
        "/files/..%2F..%2F..%2Ftmp%2Fescape.html".to_owned(),
        "/files/%2e%2e".to_owned(),
        "/files/".to_owned(),
        "/files/a//".to_owned(),
        format!("/files/{long}"),
        "/files/a%3Ab%2Ac%3Fd%7Ce%22f%3Cg%3E".to_owned(),
        "/files/CON".to_owned(),
        "/files/%00nul".to_owned(),
        "/files/.hidden".to_owned(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let urls: Vec<String> = paths
        .iter()
        .map(|p| base.join(p).unwrap().to_string())
        .collect();
    let (out, output) = fetch_list(dir.path(), &urls.join("\n"), "out", &["--allow-private"]).await;
    assert_ok(&output);

    let log = pages_log(&out);
    assert_eq!(failures(&log), Vec::<String>::new());
    assert_eq!(log.len(), paths.len());
    let outside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        outside.len(),
        2,
        "only urls.txt and out/ beside each other: {outside:?}"
    );
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names.len(),
        paths.len() + 1,
        "one file per URL plus pages.jsonl: {names:?}"
    );
    for name in &names {
        assert!(
            !name.contains('/') && !name.contains('\\') && !name.contains('\0'),
            "{name:?}"
        );
        assert!(!name.starts_with('.'), "no hidden or dot names: {name:?}");
        assert!(name.len() <= 255, "{} bytes", name.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_404s_loops_and_private_addresses_are_recorded_not_fatal() {
    let site = site(SiteConfig::default()).await;
    let base = site.base_url();
    let dir = tempfile::tempdir().unwrap();
    let urls = [
        base.join("/redirect/3").unwrap(),
        base.join("/loop").unwrap(),
        base.join("/no/such/page").unwrap(),
    ];
    let text: Vec<String> = urls.iter().map(ToString::to_string).collect();
    let list = format!("# a comment\n\n{}\nnot a url\n", text.join("\n"));
    let (out, output) = fetch_list(dir.path(), &list, "out", &["--allow-private"]).await;
    assert_ok(&output);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("line 6"),
        "the bad line is reported"
    );
    let log = pages_log(&out);
    let by_url = |u: &url::Url| {
        log.iter()
            .find(|l| l["url"] == u.as_str())
            .unwrap_or_else(|| panic!("{u} logged"))
    };
    let redirected = by_url(&urls[0]);
    assert_eq!(redirected["status"], 200);
    assert_eq!(
        redirected["final_url"],
        base.join("/redirect/0").unwrap().as_str()
    );
    assert_eq!(by_url(&urls[1])["error"], "redirect_limit");
    assert_eq!(by_url(&urls[2])["error"], "http_404");
    assert_eq!(by_url(&urls[2])["attempts"], 1, "a 404 is not retried");

    // Without --allow-private the typed list is still trusted (loopback included): the
    // same outcome, nothing refused as private.
    let (trusted, output) = fetch_list(dir.path(), &list, "trusted", &[]).await;
    assert_ok(&output);
    let trusted_log = pages_log(&trusted);
    assert_eq!(trusted_log.len(), log.len());
    assert!(
        trusted_log.iter().all(|l| l["error"] != "private_address"),
        "{:?}",
        failures(&trusted_log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fatal_errors_exit_non_zero_with_one_line() {
    let site = site(SiteConfig::default()).await;
    let list = site.list_url().to_string();
    let cases: [(&[&str], &str); 4] = [
        (
            &["crawl", &list, "--follow", "td >>> a", "--allow-private"],
            "invalid selector",
        ),
        (
            &["crawl", "ftp://example.com/", "--allow-private"],
            "only http and https",
        ),
        (
            &[
                "crawl",
                &list,
                "--out",
                "/proc/dragnet-cannot-write-here",
                "--allow-private",
            ],
            "/proc/dragnet-cannot-write-here",
        ),
        (
            &["crawl", &list, "--timeout", "soon", "--allow-private"],
            "--timeout",
        ),
    ];
    for (argv, expected) in cases {
        let output = dragnet(args(argv)).await;
        assert_eq!(output.status.code(), Some(2), "{argv:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{argv:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_layout_and_duplicate_bodies() {
    let site = site(SiteConfig::default()).await;
    let base = site.base_url();
    let dir = tempfile::tempdir().unwrap();
    // /canonical/2 and /canonical/2?ref=x serve the same bytes.
    let urls = [
        base.join("/canonical/2").unwrap(),
        base.join("/canonical/2?ref=x").unwrap(),
        base.join("/files/a/b").unwrap(),
    ];
    let list: Vec<String> = urls.iter().map(ToString::to_string).collect();
    let extra = [
        "--allow-private",
        "--layout",
        "mirror",
        "--dedup-content",
        "--concurrency",
        "1",
    ];
    let (out, output) = fetch_list(dir.path(), &list.join("\n"), "out", &extra).await;
    assert_ok(&output);
    let host = format!("127.0.0.1_{}", base.port().unwrap());
    assert!(out.join(&host).join("canonical").join("2.html").is_file());
    assert!(
        out.join(&host)
            .join("files")
            .join("a")
            .join("b.html")
            .is_file()
    );
    let saved: Vec<_> = std::fs::read_dir(out.join(&host).join("canonical"))
        .unwrap()
        .collect();
    assert_eq!(saved.len(), 1, "the duplicate body is not saved twice");
    let log = pages_log(&out);
    let duplicates: Vec<&serde_json::Value> =
        log.iter().filter(|l| l["duplicate"] == true).collect();
    assert_eq!(duplicates.len(), 1, "{log:?}");
}
