//! Outputs against sites that break naive crawlers (issue 17 items 2, 6, 8, 9), through the
//! real binary and a small fixed-answer server on 127.0.0.1:0 that counts requests per path.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Hits = Arc<Mutex<HashMap<String, u64>>>;

/// (status, headers, body) for a path.
fn answer(path: &str) -> (u16, Vec<(&'static str, &'static str)>, Vec<u8>) {
    let html = |body: &str| {
        (
            200,
            vec![("content-type", "text/html")],
            body.as_bytes().to_vec(),
        )
    };
    match path {
        // Sequential crawl order: /c2 is fetched before /b redirects to it, and /a redirects
        // to /c before /later links to it.
        "/" => html(
            "<a href='/c2'>c2</a><a href='/b'>b</a><a href='/a'>a</a><a href='/later'>later</a>\
             <a href='/feed'>rss</a><a href='/feed/atom'>atom</a><a href='/bin'>bin</a>",
        ),
        "/a" => (301, vec![("location", "/c")], Vec::new()),
        "/b" => (302, vec![("location", "/c2")], Vec::new()),
        "/later" => html("<a href='/c'>c</a>"),
        "/c" => html("<p>the C page</p>"),
        "/c2" => html("<p>the C2 page</p>"),
        "/feed" => (
            200,
            vec![("content-type", "application/rss+xml")],
            b"rss".to_vec(),
        ),
        "/feed/atom" => (
            200,
            vec![("content-type", "application/atom+xml")],
            b"atom".to_vec(),
        ),
        "/bin" => {
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            png.extend_from_slice(b"<a href='/never'>never</a>");
            (200, vec![("content-type", "text/html")], png)
        }
        _ => (404, vec![("content-type", "text/plain")], b"no".to_vec()),
    }
}

/// Serves [`answer`] on 127.0.0.1:0, one request per connection; returns the base URL.
async fn serve(hits: Hits) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let hits = Arc::clone(&hits);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split(' ').nth(1).unwrap_or("/").to_owned();
                *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                let (status, headers, body) = answer(&path);
                let mut head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head += &format!("{name}: {value}\r\n");
                }
                head += "\r\n";
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

fn files_with(dir: &Path, body: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).unwrap() == body {
                found.push(path.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_redirects_and_binary_pages_are_saved_once_and_the_crawl_ends_well() {
    let hits: Hits = Arc::default();
    let base = serve(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let summary_path = dir.path().join("summary.json");
    let mut argv = crawl_args(
        &format!("{base}/"),
        &out,
        &["--layout", "mirror", "--depth", "2", "--sequential"],
    );
    argv.extend(args(&["--summary-json", summary_path.to_str().unwrap()]));
    let output = dragnet(argv).await;
    assert_ok(&output);

    let host = base.trim_start_matches("http://").replace(':', "_");
    let site = out.join(&host);
    // Item 2: `/feed` and `/feed/atom` both saved, by the documented rule.
    assert_eq!(std::fs::read(site.join("feed/index")).unwrap(), b"rss");
    assert_eq!(std::fs::read(site.join("feed/atom")).unwrap(), b"atom");

    // Item 6: each redirect target fetched once and saved once.
    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.get("/c"), Some(&1), "{hits:?}");
    assert_eq!(hits.get("/c2"), Some(&1), "{hits:?}");
    assert_eq!(
        files_with(&out, b"<p>the C page</p>"),
        ["{host}/a.html".replace("{host}", &host)]
    );
    assert_eq!(
        files_with(&out, b"<p>the C2 page</p>"),
        ["{host}/c2.html".replace("{host}", &host)]
    );
    let log = pages_log(&out);
    let line = |path: &str| {
        log.iter()
            .find(|l| l["url"] == format!("{base}{path}"))
            .unwrap_or_else(|| panic!("{path} in the log: {log:?}"))
            .clone()
    };
    assert_eq!(line("/a")["final_url"], format!("{base}/c"));
    assert!(line("/a")["error"].is_null());
    assert_eq!(line("/b")["final_url"], format!("{base}/c2"));
    assert_eq!(line("/b")["error"], "redirect_to_seen");
    assert!(line("/c2")["error"].is_null());
    assert!(
        !log.iter().any(|l| l["url"] == format!("{base}/c")),
        "the link to /c is a duplicate of /a's redirect"
    );

    // Item 8: binary served as HTML saved whole, not parsed.
    assert_eq!(hits.get("/never"), None, "{hits:?}");
    assert_eq!(line("/bin")["not_parsed"], "binary_as_html");
    assert!(
        std::fs::read(site.join("bin"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["not_parsed_by_reason"]["binary_as_html"], 1);
    assert_eq!(summary["skipped_by_reason"]["redirect_to_seen"], 1);
    assert_counters_add_up(&summary);
    let served: u64 = hits.values().sum();
    assert_eq!(
        summary["requests"], served,
        "the server saw every request counted: {hits:?}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_symlink_is_refused_and_the_crawl_goes_on() {
    let hits: Hits = Arc::default();
    let base = serve(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("victim"), b"precious").unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), out.join("c.html")).unwrap();
    let (out, output) = fetch_list(
        dir.path(),
        &format!("{base}/c\n{base}/c2\n"),
        "out",
        &[
            "--allow-private",
            "--summary-json",
            dir.path().join("s.json").to_str().unwrap(),
        ],
    )
    .await;
    assert_ok(&output);
    assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"precious");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 1);
    assert_eq!(
        std::fs::read(out.join("c2.html")).unwrap(),
        b"<p>the C2 page</p>"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("s.json")).unwrap()).unwrap();
    assert_eq!(summary["outputs_refused_by_reason"]["symlink_in_output"], 1);
    assert_counters_add_up(&summary);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("symbolic link"),
        "the refusal is named: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_folder_needed_by_a_later_run_takes_the_earlier_file_in() {
    let hits: Hits = Arc::default();
    let base = serve(Arc::clone(&hits)).await;
    let dir = tempfile::tempdir().unwrap();
    let mirror = ["--allow-private", "--layout", "mirror"];
    // Two runs into one folder, as a resumed or repeated job does: the second needs `feed`
    // as a folder where the first saved a file.
    let (out, first) = fetch_list(dir.path(), &format!("{base}/feed\n"), "out", &mirror).await;
    assert_ok(&first);
    let (_, second) = fetch_list(dir.path(), &format!("{base}/feed/atom\n"), "out", &mirror).await;
    assert_ok(&second);
    let site = out.join(base.trim_start_matches("http://").replace(':', "_"));
    assert_eq!(std::fs::read(site.join("feed/index")).unwrap(), b"rss");
    assert_eq!(std::fs::read(site.join("feed/atom")).unwrap(), b"atom");
    assert_eq!(pages_log(&out).len(), 2);
}
