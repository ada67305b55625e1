//! Every file sink passes the sink conformance suite (`dragnet::sink::conformance`). Each
//! harness says how to make its sink in a folder and how to read the output back strictly:
//! a reader panics on anything that does not parse, so "nothing already written is
//! corrupted" is checked by the same readers.

use std::path::Path;

use dragnet::sink::conformance::{FIELD_NAMES, SinkHarness, url_in_body};
use dragnet::sink::warc::read_warc_file;
use dragnet::sink::{FilesSink, ItemsCsv, ItemsJsonl, PageRecord, PagesLog, SinkError, WarcSink};

fn field_names() -> Vec<String> {
    FIELD_NAMES.iter().map(|f| (*f).to_owned()).collect()
}

/// JSON lines → their `url`. Only the pages log may end in a torn line (it is cut when the
/// log is reopened); the item sinks cut back to whole rows themselves.
fn jsonl_urls(path: &Path, torn_tail_allowed: bool) -> Vec<String> {
    let text = std::fs::read(path).expect("read the JSONL file");
    let text = String::from_utf8(text).expect("UTF-8 JSONL");
    let whole = text.ends_with('\n') || text.is_empty();
    assert!(
        whole || torn_tail_allowed,
        "torn last line in {}",
        path.display()
    );
    let lines: Vec<&str> = text.lines().collect();
    let complete = if whole { lines.len() } else { lines.len() - 1 };
    lines[..complete]
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
            value["url"].as_str().expect("a url").to_owned()
        })
        .collect()
}

mod files {
    use super::*;

    struct Files;
    impl SinkHarness for Files {
        type Sink = FilesSink;
        fn make(&self, dir: &Path) -> Result<FilesSink, SinkError> {
            Ok(FilesSink::new(dir))
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            std::fs::read_dir(dir)
                .expect("the output folder")
                .map(|e| e.expect("an entry"))
                // `.NAME.partial`: a page whose write failed; never under its final name.
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| {
                    let body = std::fs::read(e.path()).expect("a saved page");
                    url_in_body(&body).expect("a whole page names its URL")
                })
                .collect()
        }
    }
    dragnet::sink_conformance!(Files);
}

mod pages_log {
    use super::*;

    struct Log;
    impl SinkHarness for Log {
        type Sink = PagesLog;
        fn make(&self, dir: &Path) -> Result<PagesLog, SinkError> {
            PagesLog::create(dir.join("pages.jsonl"))
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            jsonl_urls(&dir.join("pages.jsonl"), true)
        }
        fn rows_for(&self, _: &PageRecord) -> usize {
            1 // failures are logged too
        }
    }
    dragnet::sink_conformance!(Log);
}

/// WARC: the target URI of every response (or revisit/resource) record, each record's
/// digests checked, and each request beside its response.
fn warc_urls(path: &Path) -> Vec<String> {
    let records = read_warc_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(records.first().map(|r| r.kind()), Some("warcinfo"));
    let mut urls = Vec::new();
    for (i, record) in records.iter().enumerate() {
        assert!(record.digests_match(), "digest mismatch in record {i}");
        match record.kind() {
            "response" | "revisit" | "resource" => {
                urls.push(
                    record
                        .header("WARC-Target-URI")
                        .expect("a target")
                        .to_owned(),
                );
            }
            "request" => assert_eq!(
                record.header("WARC-Concurrent-To"),
                records[i - 1].header("WARC-Record-ID"),
                "a request follows its response"
            ),
            kind => assert_eq!(kind, "warcinfo", "record {i}"),
        }
    }
    urls
}

mod warc_gz {
    use super::*;

    struct Warc;
    impl SinkHarness for Warc {
        type Sink = WarcSink;
        fn make(&self, dir: &Path) -> Result<WarcSink, SinkError> {
            WarcSink::create(dir.join("out.warc.gz"))
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            warc_urls(&dir.join("out.warc.gz"))
        }
    }
    dragnet::sink_conformance!(Warc);
}

mod warc_plain {
    use super::*;

    struct Warc;
    impl SinkHarness for Warc {
        type Sink = WarcSink;
        fn make(&self, dir: &Path) -> Result<WarcSink, SinkError> {
            WarcSink::create(dir.join("out.warc"))
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            warc_urls(&dir.join("out.warc"))
        }
    }
    dragnet::sink_conformance!(Warc);
}

mod warc_rotating {
    use super::*;

    struct Warc;
    impl SinkHarness for Warc {
        type Sink = WarcSink;
        fn make(&self, dir: &Path) -> Result<WarcSink, SinkError> {
            WarcSink::rotating(dir, "part", 16 * 1024)
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .expect("the folder")
                .map(|e| e.expect("an entry").path())
                .collect();
            names.sort();
            names.iter().flat_map(|p| warc_urls(p)).collect()
        }
    }
    dragnet::sink_conformance!(Warc);
}

mod items_jsonl {
    use super::*;

    struct Jsonl;
    impl SinkHarness for Jsonl {
        type Sink = ItemsJsonl;
        fn make(&self, dir: &Path) -> Result<ItemsJsonl, SinkError> {
            ItemsJsonl::create(dir.join("items.jsonl"))
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            jsonl_urls(&dir.join("items.jsonl"), false)
        }
        fn rows_for(&self, record: &PageRecord) -> usize {
            record.items.len()
        }
    }
    dragnet::sink_conformance!(Jsonl);
}

mod items_csv {
    use super::*;

    struct Csv;
    impl SinkHarness for Csv {
        type Sink = ItemsCsv;
        fn make(&self, dir: &Path) -> Result<ItemsCsv, SinkError> {
            ItemsCsv::create(dir.join("items.csv"), field_names())
        }
        fn read_back(&self, dir: &Path) -> Vec<String> {
            let path = dir.join("items.csv");
            let bytes = std::fs::read(&path).expect("the CSV file");
            assert!(
                bytes.is_empty() || bytes.ends_with(b"\r\n"),
                "torn last row"
            );
            let mut reader = csv::Reader::from_reader(&bytes[..]);
            let header = reader.headers().expect("a header").clone();
            assert_eq!(
                header.iter().collect::<Vec<_>>(),
                ["url", "fetched_at", "title", "n"]
            );
            reader
                .records()
                .map(|row| {
                    let row = row.expect("a whole CSV row");
                    assert_eq!(row.len(), 4, "{row:?}");
                    assert!(row[2].starts_with("Page "), "{row:?}");
                    row[0].to_owned()
                })
                .collect()
        }
        fn rows_for(&self, record: &PageRecord) -> usize {
            record.items.len()
        }
    }
    dragnet::sink_conformance!(Csv);
}
