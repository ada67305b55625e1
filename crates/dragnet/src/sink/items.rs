//! Extracted items as JSON lines ([`ItemsJsonl`], for jq) or CSV ([`ItemsCsv`], RFC 4180, for
//! Python's csv and pandas). Each item is one row: `url` (the page that answered, after
//! redirects), `fetched_at` (RFC 3339, UTC), then its fields.
//!
//! Both append to an existing file, so a resumed crawl adds to it: a torn last row left by a
//! crash is cut off first, and a CSV file must already have the same header. Rows are kept
//! in memory and written whole, at most [`ITEMS_FLUSH_ROWS`] rows or [`ITEMS_FLUSH_INTERVAL`] apart
//! (and on [`Sink::flush`] / [`Sink::finish`]), so a crash loses at most those; when a write
//! fails (disk full), the file is cut back to its last whole row.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use dragnet_extract::Item;
use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{PageRecord, Sink, SinkError};

/// Rows kept in memory before they are written.
pub const ITEMS_FLUSH_ROWS: usize = 32;
/// Longest a row waits in memory (checked when the next record arrives).
pub const ITEMS_FLUSH_INTERVAL: Duration = Duration::from_secs(1);

const JSONL: &str = "items jsonl";
const CSV: &str = "items csv";

/// Appends one JSON object per item: `{"url": …, "fetched_at": …, "<field>": "…" | null}`.
#[derive(Debug)]
pub struct ItemsJsonl {
    out: RowFile,
}

impl ItemsJsonl {
    /// Opens (creating or appending to) `path`.
    ///
    /// # Errors
    /// [`SinkError::Io`] when the file cannot be opened or repaired.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        Ok(Self {
            out: RowFile::open(JSONL, path.as_ref(), false)?,
        })
    }
}

/// One JSONL row; fields in rule order (a `serde_json::Map` would sort them).
struct JsonRow<'a> {
    url: &'a str,
    fetched_at: &'a str,
    item: &'a Item,
}

impl Serialize for JsonRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.item.fields.len() + 2))?;
        map.serialize_entry("url", self.url)?;
        map.serialize_entry("fetched_at", self.fetched_at)?;
        for (name, value) in &self.item.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl Sink for ItemsJsonl {
    fn name(&self) -> &'static str {
        JSONL
    }

    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        if record.items.is_empty() {
            return Ok(());
        }
        let (url, fetched_at) = row_context(record);
        for item in &record.items {
            let row = JsonRow {
                url,
                fetched_at: &fetched_at,
                item,
            };
            // Invariant: strings and nulls only, which always serialise.
            serde_json::to_writer(&mut self.out.pending, &row).expect("an item row serialises");
            self.out.pending.push(b'\n');
            self.out.rows += 1;
        }
        self.out.maybe_flush()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.finish()
    }
}

/// Writes one CSV row per item: `url,fetched_at,<field>...` under a header row. A field the
/// item lacks, or that matched nothing, is an empty cell.
#[derive(Debug)]
pub struct ItemsCsv {
    out: RowFile,
    fields: Vec<String>,
    csv: csv::WriterBuilder,
}

impl ItemsCsv {
    /// Opens (creating or appending to) `path` with the columns `url`, `fetched_at`, then
    /// `field_names` (normally [`ItemRules::field_names`](dragnet_extract::ItemRules)).
    ///
    /// # Errors
    /// [`SinkError::Io`] when the file cannot be opened or repaired;
    /// [`SinkError::Rejected`] when it already has a different header.
    pub fn create(path: impl AsRef<Path>, field_names: Vec<String>) -> Result<Self, SinkError> {
        let mut out = RowFile::open(CSV, path.as_ref(), true)?;
        let mut csv = csv::WriterBuilder::new();
        csv.terminator(csv::Terminator::CRLF);
        let header: Vec<&str> = ["url", "fetched_at"]
            .into_iter()
            .chain(field_names.iter().map(String::as_str))
            .collect();
        let mut header_line = Vec::new();
        let mut writer = csv.from_writer(&mut header_line);
        writer
            .write_record(&header)
            .map_err(|e| out.error(e.into()))?;
        writer.flush().map_err(|e| out.error(e))?;
        drop(writer);
        match out.first_line().map_err(|e| out.error(e))? {
            None => {
                out.pending = header_line;
                out.flush()?;
            }
            Some(existing) if existing == header_line => {}
            Some(existing) => {
                return Err(SinkError::Rejected {
                    sink: CSV,
                    target: out.path.display().to_string(),
                    message: format!(
                        "the file has columns {:?}, this crawl writes {:?}; use another file",
                        String::from_utf8_lossy(&existing).trim_end(),
                        header.join(",")
                    ),
                    source: None,
                });
            }
        }
        Ok(Self {
            out,
            fields: field_names,
            csv,
        })
    }
}

impl Sink for ItemsCsv {
    fn name(&self) -> &'static str {
        CSV
    }

    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        if record.items.is_empty() {
            return Ok(());
        }
        let (url, fetched_at) = row_context(record);
        // A writer per record, straight into the pending rows (csv's Writer cannot hand
        // its buffer back); rows are whole once `flush` returns.
        let mut writer = self.csv.from_writer(&mut self.out.pending);
        let mut result = Ok(());
        for item in &record.items {
            let row = [url, fetched_at.as_str()]
                .into_iter()
                .chain(self.fields.iter().map(|f| item.get(f).unwrap_or("")));
            result = writer.write_record(row).map_err(std::io::Error::from);
            if result.is_err() {
                break;
            }
        }
        let result = result.and_then(|()| writer.flush());
        drop(writer);
        result.map_err(|e| self.out.error(e))?;
        self.out.rows += record.items.len();
        self.out.maybe_flush()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush()
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.finish()
    }
}

/// The row's `url` and `fetched_at` columns.
fn row_context(record: &PageRecord) -> (&str, String) {
    let url = record.final_url.as_ref().unwrap_or(&record.url).as_str();
    let at = humantime::format_rfc3339_millis(record.fetched_at).to_string();
    (url, at)
}

/// An append-only file of whole rows with a memory buffer in front.
#[derive(Debug)]
struct RowFile {
    sink: &'static str,
    path: PathBuf,
    file: File,
    /// Length of the file's whole rows: where to cut back to after a failed write.
    len: u64,
    pending: Vec<u8>,
    rows: usize,
    last_flush: Instant,
}

impl RowFile {
    /// Opens `path` for appending and cuts off a torn last row. In CSV a newline inside
    /// quotes is data, so `csv_quotes` makes only newlines outside quotes end a row.
    fn open(sink: &'static str, path: &Path, csv_quotes: bool) -> Result<Self, SinkError> {
        let io = |e| SinkError::Io {
            sink,
            path: path.to_owned(),
            source: e,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        // Only a regular file can be scanned and cut (`/dev/full` reads zeros forever).
        let len = if file.metadata().map_err(io)?.is_file() {
            let len = whole_rows_len(&mut file, csv_quotes).map_err(io)?;
            if file.metadata().map_err(io)?.len() != len {
                file.set_len(len).map_err(io)?;
            }
            len
        } else {
            0
        };
        Ok(Self {
            sink,
            path: path.to_owned(),
            file,
            len,
            pending: Vec::new(),
            rows: 0,
            last_flush: Instant::now(),
        })
    }

    fn error(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: self.sink,
            path: self.path.clone(),
            source,
        }
    }

    /// The file's first line (with its line ending), or `None` when the file is empty.
    fn first_line(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        if self.len == 0 {
            return Ok(None);
        }
        self.file.seek(SeekFrom::Start(0))?;
        let mut head = Vec::new();
        (&self.file).take(64 * 1024).read_to_end(&mut head)?;
        let end = head
            .iter()
            .position(|&b| b == b'\n')
            .map_or(head.len(), |i| i + 1);
        head.truncate(end);
        Ok(Some(head))
    }

    fn maybe_flush(&mut self) -> Result<(), SinkError> {
        if self.rows >= ITEMS_FLUSH_ROWS || self.last_flush.elapsed() >= ITEMS_FLUSH_INTERVAL {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending rows whole; on failure cuts the file back to the last whole row.
    fn flush(&mut self) -> Result<(), SinkError> {
        self.last_flush = Instant::now();
        self.rows = 0;
        if self.pending.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.file.write_all(&self.pending) {
            let _ = self.file.set_len(self.len);
            return Err(self.error(error));
        }
        self.len += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        self.file.sync_data().map_err(|e| self.error(e))
    }
}

/// The length of the file's whole rows: up to and including the last row-ending newline.
fn whole_rows_len(file: &mut File, csv_quotes: bool) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 64 * 1024];
    let (mut offset, mut whole, mut quoted) = (0u64, 0u64, false);
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(whole);
        }
        for (i, &b) in buf[..n].iter().enumerate() {
            match b {
                // A doubled quote inside a quoted field flips twice: the parity still holds.
                b'"' if csv_quotes => quoted = !quoted,
                b'\n' if !quoted => whole = offset + i as u64 + 1,
                _ => {}
            }
        }
        offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::conformance::{FIELD_NAMES, page};

    fn fields() -> Vec<String> {
        FIELD_NAMES.iter().map(|f| (*f).to_owned()).collect()
    }

    #[test]
    fn jsonl_rows_keep_field_order_and_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        let mut sink = ItemsJsonl::create(&path).unwrap();
        sink.write(&page(5, 100)).unwrap(); // two items, the second without `n`
        sink.write(&page(3, 100)).unwrap(); // failed: no items
        sink.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with(
                r#"{"url":"http://conformance.test/p/5","fetched_at":"2023-11-14T22:13:25.000Z","title":"Page 5, \"item\" 0\r\nline two: ü","n":"5"}"#
            ),
            "{}",
            lines[0]
        );
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["n"], serde_json::Value::Null);
    }

    #[test]
    fn csv_quotes_per_rfc_4180_and_leaves_missing_cells_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.csv");
        let mut names = fields();
        names.push("absent".into());
        let mut sink = ItemsCsv::create(&path, names).unwrap();
        sink.write(&page(5, 100)).unwrap();
        sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert!(bytes.starts_with(b"url,fetched_at,title,n,absent\r\n"));
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][2], "Page 5, \"item\" 0\r\nline two: ü");
        assert_eq!((&rows[0][3], &rows[0][4]), ("5", ""));
        assert_eq!(
            &rows[1][3], "",
            "a field that matched nothing is an empty cell"
        );
    }

    #[test]
    fn reopening_appends_after_cutting_a_torn_row() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("items.csv");
        let jsonl_path = dir.path().join("items.jsonl");
        let mut csv_sink = ItemsCsv::create(&csv_path, fields()).unwrap();
        let mut jsonl_sink = ItemsJsonl::create(&jsonl_path).unwrap();
        for sink in [&mut csv_sink as &mut dyn Sink, &mut jsonl_sink] {
            sink.write(&page(1, 10)).unwrap();
            sink.finish().unwrap();
        }
        // A crash mid-row: inside a quoted CSV field, after its embedded line break.
        let mut file = OpenOptions::new().append(true).open(&csv_path).unwrap();
        file.write_all(b"http://x.test/,2024,\"torn\r\n").unwrap();
        let mut file = OpenOptions::new().append(true).open(&jsonl_path).unwrap();
        file.write_all(b"{\"url\":\"http://x.te").unwrap();

        let mut csv_sink = ItemsCsv::create(&csv_path, fields()).unwrap();
        let mut jsonl_sink = ItemsJsonl::create(&jsonl_path).unwrap();
        for sink in [&mut csv_sink as &mut dyn Sink, &mut jsonl_sink] {
            sink.write(&page(2, 10)).unwrap();
            sink.finish().unwrap();
        }
        let mut reader = csv::Reader::from_path(&csv_path).unwrap();
        let urls: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_owned()).collect();
        assert_eq!(
            urls,
            ["http://conformance.test/p/1", "http://conformance.test/p/2"]
        );
        let text = std::fs::read_to_string(&jsonl_path).unwrap();
        let urls: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["url"].to_string())
            .collect();
        assert_eq!(urls.len(), 2, "{text}");
    }

    #[test]
    fn csv_with_other_columns_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.csv");
        ItemsCsv::create(&path, fields()).unwrap().finish().unwrap();
        let error = ItemsCsv::create(&path, vec!["other".into()]).unwrap_err();
        assert!(matches!(error, SinkError::Rejected { .. }), "{error:?}");
        assert!(
            error.to_string().contains("url,fetched_at,other"),
            "{error}"
        );
    }

    #[test]
    fn rows_wait_in_memory_until_a_batch_or_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        let mut sink = ItemsJsonl::create(&path).unwrap();
        sink.write(&page(1, 10)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
        sink.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        for i in 0..ITEMS_FLUSH_ROWS {
            sink.write(&page(i * 7 + 1, 10)).unwrap();
        }
        let lines = std::fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines > 1, "a full batch is written without being asked");
    }

    #[test]
    fn a_full_disk_is_a_clear_error() {
        let mut sink = ItemsJsonl::create("/dev/full").unwrap();
        sink.write(&page(1, 10)).unwrap();
        let error = sink.finish().unwrap_err();
        assert!(error.to_string().contains("/dev/full"), "{error}");
        let error = ItemsCsv::create("/dev/full", fields()).unwrap_err();
        assert!(error.to_string().contains("/dev/full"), "{error}");
    }
}
