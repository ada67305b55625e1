//! WARC round trip: the reference job (233 countries + the list page) crawled from the test
//! site into a gzip and an uncompressed WARC at once, then read back by our reader and by
//! Python's warcio (`warcio check -v`, `warcio index`, and every response payload's sha256
//! against the site's manifest). Without python3 + warcio the warcio part prints one skip
//! line and passes (`pip install warcio` installs it); under `scripts/test` it fails.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use dragnet::sink::WarcSink;
use dragnet::sink::warc::read_warc_file;
use dragnet::{Config, Crawler, LinkSelector};
use dragnet_testsite::{SiteConfig, TestSite};
use sha2::{Digest, Sha256};
use url::Url;

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Manifest URL (normalised) → sha256, for the list page and the 233 countries.
fn manifest(site: &TestSite) -> BTreeMap<String, String> {
    site.manifest()
        .pages
        .into_iter()
        .filter(|p| p.kind == "country" || p.kind == "list")
        .map(|p| {
            let url = Url::parse(&p.url).expect("manifest URL").to_string();
            (url, p.sha256)
        })
        .collect()
}

fn warcio_available() -> bool {
    Command::new("python3")
        .args(["-c", "import warcio"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `warcio check -v`: exit 0 and every record "digest pass".
fn warcio_check(path: &Path, records: usize) {
    let out = Command::new("python3")
        .args(["-m", "warcio.cli", "check", "-v"])
        .arg(path)
        .output()
        .expect("run warcio check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "warcio check failed:\n{text}");
    assert_eq!(
        text.matches("digest pass").count(),
        records,
        "every record passes its digests:\n{}",
        &text[..text.len().min(3000)]
    );
}

/// `warcio index`: offsets start at 0, each record starts where the previous one ended, and
/// the last ends at the end of the file. For gzip the length is the member's; for a plain
/// file warcio leaves the record's closing CRLF CRLF out of it.
fn warcio_index(path: &Path, records: usize) {
    let gap = if path.extension().is_some_and(|e| e == "gz") {
        0
    } else {
        4
    };
    let out = Command::new("python3")
        .args(["-m", "warcio.cli", "index", "-f", "offset,length,warc-type"])
        .arg(path)
        .output()
        .expect("run warcio index");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("an index line"))
        .collect();
    assert_eq!(lines.len(), records);
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<u64>().ok());
    let mut expected_offset = 0;
    for line in &lines {
        let offset = number(&line["offset"]).expect("offset");
        let length = number(&line["length"]).expect("length");
        assert_eq!(offset, expected_offset, "{line}");
        assert!(length > 0, "{line}");
        expected_offset = offset + length + gap;
    }
    let size = std::fs::metadata(path).expect("the file").len();
    assert_eq!(expected_offset, size, "the index covers the whole file");
}

/// Every response payload through warcio → target URI → sha256.
fn warcio_payloads(path: &Path) -> BTreeMap<String, String> {
    let script = r#"
import hashlib, sys
from warcio.archiveiterator import ArchiveIterator
with open(sys.argv[1], 'rb') as f:
    for record in ArchiveIterator(f):
        if record.rec_type == 'response':
            body = record.content_stream().read()
            print(record.rec_headers.get_header('WARC-Target-URI'), hashlib.sha256(body).hexdigest())
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (url, sha) = l.split_once(' ').expect("url and hash");
            (url.to_owned(), sha.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_job_into_gzip_and_plain_warc_reads_back_in_warcio() {
    let site = TestSite::start(SiteConfig::default())
        .await
        .expect("test site starts");
    site.warm_up().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let gz = dir.path().join("countries.warc.gz");
    let plain = dir.path().join("countries.warc");

    let mut config = Config::new(vec![site.list_url()]);
    config.follow = Some(LinkSelector::parse("td .flagicon + a").expect("selector"));
    config.max_depth = 1;
    config.allow_private = true;
    let mut crawler = Crawler::new(config).expect("crawler");
    crawler.add_sink(Box::new(WarcSink::create(&gz).expect("gz WARC")));
    crawler.add_sink(Box::new(WarcSink::create(&plain).expect("plain WARC")));
    crawler.run().await.expect("the crawl runs");
    let want = manifest(&site);
    assert_eq!(want.len(), 234, "233 countries and the list page");
    site.shutdown().await;

    let warcio = warcio_available();
    if !warcio {
        skip_warcio();
    }
    for path in [&gz, &plain] {
        // Our own reader: structure, digests, payloads.
        let records = read_warc_file(path).expect("our reader reads it");
        let responses: BTreeMap<String, String> = records
            .iter()
            .filter(|r| r.kind() == "response")
            .map(|r| {
                assert!(r.digests_match());
                let url = r.header("WARC-Target-URI").expect("target").to_owned();
                (url, sha256_hex(r.payload()))
            })
            .collect();
        assert_eq!(responses, want, "{}", path.display());
        let total = records.len();
        assert_eq!(
            total,
            1 + 2 * want.len(),
            "warcinfo + response and request per page"
        );

        if !warcio {
            continue;
        }
        warcio_check(path, total);
        warcio_index(path, total);
        assert_eq!(warcio_payloads(path), want, "warcio payloads = manifest");
    }
}

/// Records the crawl above does not produce: a revisit, a de-chunked response, an HTTP/2
/// response and a resource record. warcio must accept them all.
#[test]
fn revisit_dechunked_http2_and_resource_records_pass_warcio() {
    use dragnet::sink::Sink;
    use dragnet::sink::conformance::page;
    use std::sync::Arc;

    if !warcio_available() {
        skip_warcio();
        return;
    }
    let change = |i: usize, f: &dyn Fn(&mut dragnet::fetch::Fetched)| {
        let mut record = page(i, 3000);
        let mut fetched = (*record.exchange.take().expect("exchange")).clone();
        f(&mut fetched);
        record.exchange = Some(Arc::new(fetched));
        record
    };
    let first = page(1, 3000);
    let body = first.exchange.as_ref().expect("exchange").raw_body.clone();
    let revisit = change(2, &|f| f.raw_body = body.clone());
    let chunked = change(4, &|f| {
        f.headers.remove("content-length");
        f.headers.insert(
            "transfer-encoding",
            http::HeaderValue::from_static("chunked"),
        );
    });
    let h2 = change(5, &|f| f.version = http::Version::HTTP_2);
    let mut resource = page(6, 3000);
    resource.exchange = None;
    let records = [first, revisit, chunked, h2, resource];

    let dir = tempfile::tempdir().expect("temp dir");
    for name in ["edge.warc.gz", "edge.warc"] {
        let path = dir.path().join(name);
        let mut sink = WarcSink::create(&path).expect("create");
        for record in &records {
            sink.write(record).expect("write");
        }
        sink.finish().expect("finish");
        let out = Command::new("python3")
            .args(["-m", "warcio.cli", "check", "-v"])
            .arg(&path)
            .output()
            .expect("run warcio check");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        // warcinfo, 3 responses + 3 requests, the revisit's request, the resource: 9 pass;
        // the revisit's payload lives in the first response, so warcio does not check it.
        assert_eq!(text.matches("digest pass").count(), 9, "{text}");
        assert_eq!(text.matches("not checked (revisit)").count(), 1, "{text}");
        warcio_index(&path, 10);
        let payloads = warcio_payloads(&path);
        assert_eq!(payloads.len(), 3, "responses: {payloads:?}");
    }
}

/// A raw HTTP/1.1 server that answers every page with a chunked body (and `/robots.txt`
/// with 404). The client de-chunks; the archive must say so and still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_response_from_a_real_server_is_archived_dechunked() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body_parts = [
        "<html><body>chunk one, ",
        "chunk two, ",
        "and the end</body></html>",
    ];
    let server = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]);
                let response = if request.starts_with("GET /robots.txt") {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_owned()
                } else {
                    let mut text = "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\n\
                                    transfer-encoding: chunked\r\n\r\n"
                        .to_owned();
                    for part in body_parts {
                        text.push_str(&format!("{:x}\r\n{part}\r\n", part.len()));
                    }
                    text.push_str("0\r\n\r\n");
                    text
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("chunked.warc.gz");
    let url = Url::parse(&format!("http://{addr}/page")).expect("url");
    let mut config = Config::new(vec![url]);
    config.allow_private = true;
    let mut crawler = Crawler::new(config).expect("crawler");
    crawler.add_sink(Box::new(WarcSink::create(&path).expect("create")));
    crawler.run().await.expect("crawl");
    server.abort();

    let records = read_warc_file(&path).expect("read");
    let response = records
        .iter()
        .find(|r| r.kind() == "response")
        .expect("a response");
    let body = body_parts.concat();
    assert_eq!(response.payload(), body.as_bytes(), "the de-chunked entity");
    assert_eq!(
        response.header("X-Dragnet-Transfer-Decoded"),
        Some("chunked")
    );
    let head = String::from_utf8_lossy(&response.block[..response.block.len() - body.len()]);
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}\r\n", body.len())),
        "{head}"
    );
    assert!(response.digests_match());
    if warcio_available() {
        warcio_check(&path, records.len());
        let payloads = warcio_payloads(&path);
        assert_eq!(payloads.values().next(), Some(&sha256_hex(body.as_bytes())));
    } else {
        skip_warcio();
    }
}

/// One skip line, or a failure under `scripts/test` (`DRAGNET_REQUIRE_SERVICES`).
fn skip_warcio() {
    dragnet::testing::missing_service(
        "the warcio checks: python3 with warcio not found (pip install warcio)",
    );
}
