//! The behaviour every [`Sink`] must show. A sink is checked through a [`SinkHarness`] that
//! makes it on a target and reads back what it wrote; each check panics with a message on a
//! violation. Run them all with [`crate::sink_conformance!`]:
//!
//! ```text
//! dragnet::sink_conformance!(MyHarness);
//! ```
//!
//! - [`completeness`]: every record in (shuffled, failures mixed in), every row out, once;
//! - [`flushes_on_finish`]: what was written is readable right after `finish`;
//! - [`unwritable_target_is_a_clear_error`]: an error naming the target, not silence;
//! - [`full_target_keeps_earlier_records`]: when the disk fills mid-crawl (simulated with a
//!   file size limit: the test re-runs itself under `prlimit --fsize`), a clear error, and
//!   what was written before still reads back whole;
//! - [`many_tasks_through_a_sink_set`]: records from many async tasks through a [`SinkSet`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use dragnet_extract::{Item, ItemRules, extract_bytes_with_items};
use http::{HeaderMap, HeaderValue};
use url::Url;

use super::{PageRecord, Sink, SinkError, SinkSet};
use crate::fetch::{Body, Fetched};

/// The item fields of the suite's records (the columns item sinks need).
pub const FIELD_NAMES: [&str; 2] = ["title", "n"];

/// The file size limit of the full-disk check.
pub const FILE_SIZE_LIMIT: u64 = 64 * 1024;

/// Marks the URL inside every body of the suite, so a reader of saved bodies can find it.
const URL_MARK: &str = "<!-- dragnet-conformance-url: ";
const CHILD_ENV: &str = "DRAGNET_SINK_CONFORMANCE_CHILD";
const DIR_ENV: &str = "DRAGNET_SINK_CONFORMANCE_DIR";
const CHILD_LINE: &str = "DRAGNET-SINK-CHILD";

/// How the suite makes a sink and reads its output.
pub trait SinkHarness {
    /// The sink under test.
    type Sink: Sink;

    /// A sink writing under `dir`, an empty folder the suite made (a folder name that does
    /// not exist for [`SinkHarness::unwritable`]'s default).
    ///
    /// # Errors
    /// When the target cannot be opened.
    fn make(&self, dir: &Path) -> Result<Self::Sink, SinkError>;

    /// The URL of every row (record or item) found in what a sink made on `dir` wrote, in
    /// any order. Panics when the output does not parse (a reader may skip a torn last line
    /// if its format allows one).
    fn read_back(&self, dir: &Path) -> Vec<String>;

    /// How many rows a record becomes: by default one per successful record.
    fn rows_for(&self, record: &PageRecord) -> usize {
        usize::from(record.is_ok())
    }

    /// A sink whose target cannot be written, and a text its error must contain.
    fn unwritable(&self) -> (Result<Self::Sink, SinkError>, String) {
        let dir = Path::new("/nonexistent/dragnet-sink-conformance");
        (self.make(dir), dir.display().to_string())
    }

    /// Whether the sink writes files (so a full disk can be simulated). Default yes.
    fn writes_files(&self) -> bool {
        true
    }

    /// Whether the target exists at all here (a database server may not): `false` skips
    /// every check.
    fn available(&self) -> bool {
        true
    }
}

/// Record `i` of the suite: every 7th failed (404, no body); the others with a body of
/// `body_len` bytes naming the URL, the exchange as a fetch has it, and 0 to 2 items whose
/// titles need CSV quoting.
pub fn page(i: usize, body_len: usize) -> PageRecord {
    // Invariant: the URL is built from a literal and a number.
    let url = Url::parse(&format!("http://conformance.test/p/{i}")).expect("suite URL");
    let mut record = PageRecord {
        url: url.clone(),
        final_url: Some(url.clone()),
        status: Some(404),
        depth: 1,
        attempts: 1,
        fetch_ms: 3,
        fetched_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64),
        content_type: None,
        body: None,
        sha256: None,
        is_html: false,
        duplicate: false,
        canonical: None,
        not_parsed: None,
        error: Some("http_404".into()),
        error_message: Some("server answered 404 Not Found".into()),
        exchange: None,
        items: Vec::new(),
    };
    if i % 7 == 3 {
        return record;
    }
    let mut body = format!("<!doctype html><title>Page {i}</title>{URL_MARK}{url} -->\n");
    let mut state = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while body.len() < body_len {
        // Hex noise: compresses only about 2:1, so gzip'd outputs still grow.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        body.push_str(&format!("{state:016x}"));
    }
    // In pieces, as a body read off the wire is: every sink must write them all, in order.
    let third = body.len() / 3;
    let body: Body = [&body[..third], &body[third..2 * third], &body[2 * third..]]
        .into_iter()
        .map(|piece| Bytes::copy_from_slice(piece.as_bytes()))
        .collect();
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    headers.insert("server", HeaderValue::from_static("conformance"));
    let mut request_headers = HeaderMap::new();
    request_headers.insert("host", HeaderValue::from_static("conformance.test"));
    request_headers.insert(
        "user-agent",
        HeaderValue::from_static("dragnet-conformance"),
    );
    record.exchange = Some(Arc::new(Fetched {
        url: url.clone(),
        final_url: url,
        status: 200,
        headers,
        raw_body: body.clone(),
        redirects: 0,
        elapsed: Duration::from_millis(3),
        version: http::Version::HTTP_11,
        request_headers,
        remote_addr: Some(([127, 0, 0, 1], 8080).into()),
    }));
    record.status = Some(200);
    record.content_type = Some("text/html; charset=utf-8".into());
    record.body = Some(body);
    record.sha256 = Some(format!("{i:064x}"));
    record.is_html = true;
    record.error = None;
    record.error_message = None;
    let items = if i % 11 == 0 {
        0
    } else if i % 5 == 0 {
        2
    } else {
        1
    };
    record.items = (0..items)
        .map(|k| Item {
            fields: vec![
                (
                    "title".into(),
                    Some(format!("Page {i}, \"item\" {k}\r\nline two: ü")),
                ),
                ("n".into(), (k == 0).then(|| i.to_string())),
            ],
        })
        .collect();
    record
}

/// The URL a body written by the suite names (for readers of saved bodies).
pub fn url_in_body(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let start = text.find(URL_MARK)? + URL_MARK.len();
    let end = start + text[start..].find(" -->")?;
    Some(text[start..end].to_owned())
}

/// The indexes `0..n` in a scrambled order (a step coprime to `n`).
fn shuffled(n: usize) -> Vec<usize> {
    let step = (n / 2..n).find(|s| gcd(*s, n) == 1).unwrap_or(1);
    (0..n).map(|i| (i * step + 7) % n).collect()
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// What should be read back after writing `records`: one URL per row, sorted.
fn expected<H: SinkHarness>(harness: &H, records: &[PageRecord]) -> Vec<String> {
    let mut urls: Vec<String> = records
        .iter()
        .flat_map(|r| std::iter::repeat_n(r.url.to_string(), harness.rows_for(r)))
        .collect();
    urls.sort();
    urls
}

#[track_caller]
fn assert_same_rows(mut got: Vec<String>, want: &[String], what: &str) {
    got.sort();
    if got == want {
        return;
    }
    let missing: Vec<_> = want.iter().filter(|u| !got.contains(u)).take(5).collect();
    let extra: Vec<_> = got.iter().filter(|u| !want.contains(u)).take(5).collect();
    panic!(
        "{what}: read back {} rows, expected {}; missing {missing:?}, unexpected {extra:?}",
        got.len(),
        want.len()
    );
}

/// A folder under the system temp dir, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!(
            "dragnet-sink-conformance-{}-{nanos}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a scratch folder");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// 150 records in scrambled order, failures among them: every row read back, exactly once.
pub fn completeness<H: SinkHarness>(harness: H) {
    if !harness.available() {
        return;
    }
    let dir = ScratchDir::new();
    let mut sink = harness.make(&dir.0).expect("make the sink");
    let records: Vec<PageRecord> = shuffled(150).into_iter().map(|i| page(i, 600)).collect();
    for record in &records {
        sink.write(record).expect("write");
    }
    sink.finish().expect("finish");
    drop(sink);
    let want = expected(&harness, &records);
    assert!(
        !want.is_empty(),
        "the suite gives this sink something to write"
    );
    assert_same_rows(harness.read_back(&dir.0), &want, "completeness");
}

/// A few records (fewer than any sensible flush batch) are readable once `finish` returns,
/// before the sink is dropped.
pub fn flushes_on_finish<H: SinkHarness>(harness: H) {
    if !harness.available() {
        return;
    }
    let dir = ScratchDir::new();
    let mut sink = harness.make(&dir.0).expect("make the sink");
    let records: Vec<PageRecord> = [1, 2, 5].into_iter().map(|i| page(i, 300)).collect();
    for record in &records {
        sink.write(record).expect("write");
    }
    sink.finish().expect("finish");
    assert_same_rows(
        harness.read_back(&dir.0),
        &expected(&harness, &records),
        "after finish, before drop",
    );
    drop(sink);
}

/// Every error of a chain, for messages and checks.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A target that cannot be written gives an error naming it, at the latest on `finish`.
pub fn unwritable_target_is_a_clear_error<H: SinkHarness>(harness: H) {
    if !harness.available() {
        return;
    }
    let (made, mention) = harness.unwritable();
    let error = made.and_then(|mut sink| {
        for i in [1, 2, 5] {
            sink.write(&page(i, 300))?;
        }
        sink.finish()
    });
    let error = error.expect_err("writing to an unwritable target must fail");
    let text = error_chain(&error);
    assert!(
        text.contains(&mention),
        "the error should name the target {mention:?}: {text}"
    );
}

/// The test name libtest knows a check by: its module path without the crate.
fn libtest_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// When files hit a size limit mid-crawl: a clear error, and what was written before reads
/// back whole. Runs this same test again in a child process under `prlimit --fsize`, with
/// SIGXFSZ ignored so that writes past the limit fail with EFBIG, as on a full disk.
/// `test_path` is the check's full path (`module_path!()` + name; the macro passes it).
pub fn full_target_keeps_earlier_records<H: SinkHarness>(harness: H, test_path: &str) {
    if !harness.available() || !harness.writes_files() {
        return;
    }
    let name = libtest_name(test_path);
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var_os(DIR_ENV).expect("child knows its folder"));
        return fill_up(&harness, &dir);
    }
    if Command::new("prlimit").arg("--version").output().is_err() {
        println!("skipped {name}: prlimit (util-linux) is not installed");
        return;
    }
    let dir = ScratchDir::new();
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; exec prlimit --fsize="$0" -- "$@""#)
        .arg(FILE_SIZE_LIMIT.to_string())
        .arg(std::env::current_exe().expect("the test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env(DIR_ENV, &dir.0)
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        // libtest prints `test NAME ... ` first, on the same line.
        .find_map(|l| l.find(CHILD_LINE).map(|at| &l[at + CHILD_LINE.len()..]))
        .unwrap_or_else(|| {
            panic!(
                "the child reported nothing ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let (written, error) = report
        .trim()
        .split_once(' ')
        .and_then(|(w, e)| Some((w.strip_prefix("written=")?.parse::<usize>().ok()?, e)))
        .unwrap_or_else(|| panic!("unreadable child report {report:?}"));
    let error = error.strip_prefix("error=").unwrap_or(error);
    assert!(
        !error.is_empty(),
        "{written} records written past a {FILE_SIZE_LIMIT}-byte file limit without an error"
    );
    let shown = dir.0.display().to_string();
    assert!(
        error.contains(&shown),
        "the error should name the target {shown:?}: {error}"
    );
    let got = harness.read_back(&dir.0);
    let earlier: Vec<PageRecord> = (0..written).map(filling_page).collect();
    let allowed = expected(&harness, &earlier);
    assert!(
        !got.is_empty(),
        "records written before the failure are lost ({error})"
    );
    // Multiset inclusion: a row may be lost with the failure, never invented or doubled.
    let mut left = allowed;
    let mut extra = Vec::new();
    for url in got {
        match left.binary_search(&url) {
            Ok(at) => {
                left.remove(at);
            }
            Err(_) => extra.push(url),
        }
    }
    extra.truncate(5);
    assert!(
        extra.is_empty(),
        "rows never written, or read back twice: {extra:?}"
    );
}

/// Records for the full-disk child: 2 KB bodies, and one larger than the file limit (so a
/// sink writing one file per page fails too).
fn filling_page(i: usize) -> PageRecord {
    page(
        i,
        if i == 25 {
            2 * FILE_SIZE_LIMIT as usize
        } else {
            2048
        },
    )
}

/// The child's side: write until an error, try to finish, report on stdout.
fn fill_up<H: SinkHarness>(harness: &H, dir: &Path) {
    let mut written = 0;
    let mut failure: Option<SinkError> = None;
    match harness.make(dir) {
        Err(error) => failure = Some(error),
        Ok(mut sink) => {
            for i in 0..4000 {
                if let Err(error) = sink.write(&filling_page(i)) {
                    failure = Some(error);
                    break;
                }
                written += 1;
            }
            let finished = sink.finish();
            if failure.is_none() {
                failure = finished.err();
            }
        }
    }
    let error = failure.map(|e| error_chain(&e).replace('\n', " "));
    println!(
        "{CHILD_LINE} written={written} error={}",
        error.unwrap_or_default()
    );
}

/// 8 async tasks send 40 records each through a [`SinkSet`]: every row arrives.
pub fn many_tasks_through_a_sink_set<H: SinkHarness>(harness: H) {
    if !harness.available() {
        return;
    }
    let dir = ScratchDir::new();
    let sink = harness.make(&dir.0).expect("make the sink");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let set = Arc::new(SinkSet::start(vec![Box::new(sink)]).expect("start"));
        let tasks: Vec<_> = (0..8)
            .map(|task| {
                let set = Arc::clone(&set);
                tokio::spawn(async move {
                    for k in 0..40 {
                        let record = page(task * 40 + k, 400);
                        set.send(Arc::new(record)).await.expect("send");
                        if k % 8 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        let set = Arc::into_inner(set).expect("the tasks are done");
        set.finish().await.expect("finish");
    });
    let records: Vec<PageRecord> = (0..320).map(|i| page(i, 400)).collect();
    assert_same_rows(
        harness.read_back(&dir.0),
        &expected(&harness, &records),
        "through a SinkSet",
    );
}

/// A sink that fills `record.items` as the crawler's processor does (same rules, same
/// parse), then writes through `inner`: item sinks tested on real pages, without the
/// whole pipeline's item plumbing.
pub struct WithItems<S> {
    /// The item rules to apply to each record's body.
    pub rules: ItemRules,
    /// The sink under test.
    pub inner: S,
}

impl<S: Sink> Sink for WithItems<S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        let mut record = record.clone();
        if let (Some(body), Some(url)) = (&record.body, &record.final_url) {
            let found = extract_bytes_with_items(
                &body.contiguous(),
                record.content_type.as_deref(),
                url,
                None,
                Some(&self.rules),
            );
            record.items = found.items;
        }
        self.inner.write(&record)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        self.inner.finish()
    }
}

/// Runs every sink check for a harness, each as its own test:
/// `dragnet::sink_conformance!(MyHarness::new());` (the expression is evaluated once per
/// test). Use it once per module.
#[macro_export]
macro_rules! sink_conformance {
    ($harness:expr) => {
        mod sink_conformance {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn completeness() {
                $crate::sink::conformance::completeness($harness);
            }

            #[test]
            fn flushes_on_finish() {
                $crate::sink::conformance::flushes_on_finish($harness);
            }

            #[test]
            fn unwritable_target_is_a_clear_error() {
                $crate::sink::conformance::unwritable_target_is_a_clear_error($harness);
            }

            #[test]
            fn full_target_keeps_earlier_records() {
                $crate::sink::conformance::full_target_keeps_earlier_records(
                    $harness,
                    concat!(module_path!(), "::full_target_keeps_earlier_records"),
                );
            }

            #[test]
            fn many_tasks_through_a_sink_set() {
                $crate::sink::conformance::many_tasks_through_a_sink_set($harness);
            }
        }
    };
}
