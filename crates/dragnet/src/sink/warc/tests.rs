use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use http::HeaderValue;

use super::*;
use crate::fetch::Fetched;
use crate::sink::conformance::page;

fn with_exchange(mut record: PageRecord, change: impl FnOnce(&mut Fetched)) -> PageRecord {
    let mut fetched = (*record.exchange.take().expect("an exchange")).clone();
    change(&mut fetched);
    record.exchange = Some(Arc::new(fetched));
    record
}

fn write_all(sink: &mut WarcSink, records: &[PageRecord]) {
    for record in records {
        sink.write(record).unwrap();
    }
    sink.finish().unwrap();
}

/// The number of gzip members in a file.
fn gzip_members(path: &Path) -> usize {
    let mut reader = BufReader::new(File::open(path).unwrap());
    let mut members = 0;
    while !reader.fill_buf().unwrap().is_empty() {
        let mut decoder = flate2::bufread::GzDecoder::new(&mut reader);
        std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
        members += 1;
    }
    members
}

#[test]
fn response_and_request_pairs_with_digests_gzip_and_plain() {
    let dir = tempfile::tempdir().unwrap();
    let records = [page(1, 5000), page(3, 10), page(2, 70_000)]; // page 3 failed
    for name in ["a.warc.gz", "a.warc"] {
        let path = dir.path().join(name);
        let mut sink = WarcSink::create(&path).unwrap();
        write_all(&mut sink, &records);
        let read = read_warc_file(&path).unwrap();
        let kinds: Vec<&str> = read.iter().map(WarcRecord::kind).collect();
        assert_eq!(
            kinds,
            ["warcinfo", "response", "request", "response", "request"],
            "{name}"
        );
        let info_id = read[0].header("WARC-Record-ID").unwrap();
        assert_eq!(read[0].header("WARC-Filename"), Some(name));
        assert!(String::from_utf8_lossy(&read[0].block).contains("software: dragnet/"));
        for (pair, source) in read[1..].chunks(2).zip([&records[0], &records[2]]) {
            let (response, request) = (&pair[0], &pair[1]);
            let fetched = source.exchange.as_deref().unwrap();
            assert!(
                response.digests_match() && request.digests_match(),
                "{name}"
            );
            assert_eq!(response.payload(), fetched.raw_body.to_vec());
            assert_eq!(
                response.header("WARC-Target-URI"),
                Some(source.url.as_str())
            );
            assert_eq!(response.header("WARC-IP-Address"), Some("127.0.0.1"));
            assert_eq!(response.header("WARC-Protocol"), Some("http/1.1"));
            assert_eq!(response.header("WARC-Warcinfo-ID"), Some(info_id));
            assert_eq!(
                response.header("WARC-Date"),
                Some(record::warc_date(source.fetched_at).as_str())
            );
            assert_eq!(
                request.header("WARC-Concurrent-To"),
                response.header("WARC-Record-ID")
            );
            let head = String::from_utf8_lossy(&response.block[..200]);
            assert!(
                head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/html"),
                "{head}"
            );
            let request_text = String::from_utf8_lossy(&request.block);
            assert!(
                request_text.starts_with(&format!("GET {} HTTP/1.1\r\nhost: ", source.url.path()))
            );
            assert!(request_text.ends_with("\r\n\r\n"));
        }
        if name.ends_with(".gz") {
            assert_eq!(gzip_members(&path), 5, "one gzip member per record");
        }
    }
}

#[test]
fn chunked_responses_are_recorded_dechunked_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.warc");
    let record = with_exchange(page(1, 100), |f| {
        f.headers.remove("content-length");
        f.headers
            .insert("transfer-encoding", HeaderValue::from_static("chunked"));
    });
    let body_len = record.exchange.as_ref().unwrap().raw_body.len();
    write_all(&mut WarcSink::create(&path).unwrap(), &[record]);
    let read = read_warc_file(&path).unwrap();
    let response = &read[1];
    let head = String::from_utf8_lossy(&response.block);
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(
        head.contains(&format!("content-length: {body_len}\r\n")),
        "{head}"
    );
    assert_eq!(
        response.header(record::TRANSFER_DECODED_FIELD),
        Some("chunked")
    );
    assert_eq!(response.header("WARC-Truncated"), None);
    assert!(response.digests_match());
}

#[test]
fn http2_is_written_as_http11_with_the_protocol_in_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h2.warc");
    let record = with_exchange(page(1, 100), |f| {
        f.version = http::Version::HTTP_2;
        f.remote_addr = Some("[::1]:443".parse().unwrap());
    });
    write_all(&mut WarcSink::create(&path).unwrap(), &[record]);
    let read = read_warc_file(&path).unwrap();
    assert!(read[1].block.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(read[2].block.starts_with(b"GET /p/1 HTTP/1.1\r\n"));
    for record in &read[1..] {
        assert_eq!(record.header("WARC-Protocol"), Some("h2"));
        assert_eq!(record.header("WARC-IP-Address"), Some("::1"));
    }
}

#[test]
fn repeated_payloads_become_revisits_unless_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let first = page(1, 300);
    let body = first.exchange.as_ref().unwrap().raw_body.clone();
    let same = with_exchange(page(2, 300), |f| f.raw_body = body.clone());
    let path = dir.path().join("r.warc.gz");
    write_all(
        &mut WarcSink::create(&path).unwrap(),
        &[first.clone(), same.clone()],
    );
    let read = read_warc_file(&path).unwrap();
    let kinds: Vec<&str> = read.iter().map(WarcRecord::kind).collect();
    assert_eq!(
        kinds,
        ["warcinfo", "response", "request", "revisit", "request"]
    );
    let (original, revisit) = (&read[1], &read[3]);
    assert_eq!(
        revisit.header("WARC-Refers-To"),
        original.header("WARC-Record-ID")
    );
    assert_eq!(
        revisit.header("WARC-Refers-To-Target-URI"),
        Some(first.url.as_str())
    );
    assert_eq!(
        revisit.header("WARC-Refers-To-Date"),
        original.header("WARC-Date")
    );
    assert_eq!(
        revisit.header("WARC-Profile"),
        Some(record::IDENTICAL_PAYLOAD_PROFILE)
    );
    assert_eq!(
        revisit.header("WARC-Payload-Digest"),
        original.header("WARC-Payload-Digest")
    );
    assert!(revisit.payload().is_empty() && revisit.digests_match());

    let path = dir.path().join("no-revisits.warc");
    let mut sink = WarcSink::create(&path).unwrap().with_revisits(false);
    write_all(&mut sink, &[first, same]);
    let kinds: Vec<String> = read_warc_file(&path)
        .unwrap()
        .iter()
        .map(|r| r.kind().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["warcinfo", "response", "request", "response", "request"]
    );
}

#[test]
fn rotation_starts_new_files_and_continues_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = WarcSink::rotating(dir.path(), "crawl", 6_000)
        .unwrap()
        .with_info_field("operator", "tests");
    let records: Vec<PageRecord> = (0..12).map(|i| page(i, 4000)).collect();
    write_all(&mut sink, &records);
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 3, "{names:?}");
    assert_eq!(names[0], "crawl-00000.warc.gz");
    let mut responses = 0;
    for name in &names {
        let read = read_warc_file(dir.path().join(name)).unwrap();
        assert_eq!(read[0].kind(), "warcinfo", "{name}");
        assert!(String::from_utf8_lossy(&read[0].block).contains("operator: tests\r\n"));
        assert_eq!(
            read.len() % 2,
            1,
            "requests stay beside their responses: {name}"
        );
        responses += read.iter().filter(|r| r.kind() == "response").count();
    }
    assert_eq!(responses, records.iter().filter(|r| r.is_ok()).count());

    let mut again = WarcSink::rotating(dir.path(), "crawl", 6_000).unwrap();
    again.finish().unwrap();
    let next = format!("crawl-{:05}.warc.gz", names.len());
    assert_eq!(again.current_path(), None);
    let read = read_warc_file(dir.path().join(&next)).unwrap();
    assert_eq!(
        read.len(),
        1,
        "an empty run still leaves a warcinfo in {next}"
    );
}

#[test]
fn records_without_an_exchange_are_resources_and_failures_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("res.warc");
    let mut record = page(1, 100);
    record.exchange = None;
    write_all(
        &mut WarcSink::create(&path).unwrap(),
        &[record.clone(), page(3, 100)],
    );
    let read = read_warc_file(&path).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].kind(), "resource");
    assert_eq!(
        read[1].header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(read[1].block, record.body.unwrap().to_vec());
    assert!(read[1].digests_match());
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let mut sink = WarcSink::create("/dev/full").unwrap();
    let error = sink.write(&page(1, 100)).unwrap_err();
    assert!(error.to_string().contains("/dev/full"), "{error}");
    let missing = WarcSink::create("/nonexistent/dir/x.warc.gz").unwrap_err();
    assert!(missing.to_string().contains("/nonexistent/dir/x.warc.gz"));
    assert!(WarcSink::rotating("/nonexistent/dir", "x", 10).is_err());
}

#[test]
fn a_torn_record_is_reported_by_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.warc");
    write_all(&mut WarcSink::create(&path).unwrap(), &[page(1, 1000)]);
    let mut bytes = Vec::new();
    File::open(&path).unwrap().read_to_end(&mut bytes).unwrap();
    bytes.truncate(bytes.len() - 10);
    let error = read_warc(&bytes[..]).unwrap_err();
    assert!(error.to_string().contains("cut short"), "{error}");
}
