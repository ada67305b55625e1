//! `pages.jsonl`: one JSON line per URL, successful or not. Lines are appended whole, so a
//! reader (jq, pandas) sees complete records only, apart from a torn last line after a crash.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{PageRecord, Sink, SinkError};
use crate::fetch::Body;

const NAME: &str = "pages log";
/// Lines buffered before they are pushed to the file, so a crash loses at most this many.
const FLUSH_EVERY: usize = 32;

/// Appends one line per URL to a JSONL file.
#[derive(Debug)]
pub struct PagesLog {
    path: PathBuf,
    out: BufWriter<File>,
    unflushed: usize,
}

#[derive(Serialize)]
struct Line<'a> {
    url: &'a str,
    final_url: Option<&'a str>,
    status: Option<u16>,
    bytes: Option<usize>,
    sha256: Option<&'a str>,
    fetch_ms: u64,
    depth: u32,
    attempts: u32,
    fetched_at: String,
    content_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    canonical: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_parsed: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

impl PagesLog {
    /// Opens (creating or appending to) the log at `path`.
    ///
    /// # Errors
    /// [`SinkError::Io`] when the file cannot be opened.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_owned();
        let io = |source| SinkError::Io {
            sink: NAME,
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(&path)
            .map_err(io)?;
        cut_torn_tail(&file).map_err(io)?;
        Ok(Self {
            path,
            out: BufWriter::new(file),
            unflushed: 0,
        })
    }

    fn io_error(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: NAME,
            path: self.path.clone(),
            source,
        }
    }
}

/// Keeps one line per URL, the last: a resumed job fetches again what was in flight when
/// the previous run died, and those URLs may already have a line. Run when a job finishes.
/// Reads the file twice and holds 16 bytes per line, so it works for logs of any length.
///
/// # Errors
/// The I/O error; the log is replaced atomically (temporary file + rename), so it is never
/// left half-written.
pub fn compact(path: &Path) -> std::io::Result<u64> {
    use std::collections::HashMap;
    use std::io::BufRead;
    let url_hash = |line: &str| {
        let url = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("url").and_then(|u| u.as_str()).map(str::to_owned))
            .unwrap_or_else(|| line.to_owned());
        xxhash_rust::xxh3::xxh3_64(url.as_bytes())
    };
    let mut last: HashMap<u64, u64> = HashMap::new();
    for (index, line) in std::io::BufReader::new(File::open(path)?)
        .lines()
        .enumerate()
    {
        last.insert(url_hash(&line?), index as u64);
    }
    let temp = path.with_extension("jsonl.compacting");
    let mut out = BufWriter::new(File::create(&temp)?);
    let mut removed = 0;
    for (index, line) in std::io::BufReader::new(File::open(path)?)
        .lines()
        .enumerate()
    {
        let line = line?;
        if last.get(&url_hash(&line)) == Some(&(index as u64)) {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
        } else {
            removed += 1;
        }
    }
    out.flush()?;
    out.get_ref().sync_data()?;
    drop(out);
    std::fs::rename(&temp, path)?;
    Ok(removed)
}

/// A crash can leave half a line at the end; appending after it would glue two records
/// together. Cut the file back to its last complete line.
fn cut_torn_tail(file: &File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(());
    }
    let mut reader = file;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        reader.seek(SeekFrom::Start(start))?;
        reader.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep != len {
                tracing::warn!(
                    message = "Cut a torn last line from the pages log.",
                    bytes = len - keep
                );
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    tracing::warn!(
        message = "The pages log held no complete line; starting it afresh.",
        bytes = len
    );
    file.set_len(0)
}

impl Sink for PagesLog {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, record: &PageRecord) -> Result<(), SinkError> {
        let line = Line {
            url: record.url.as_str(),
            final_url: record.final_url.as_ref().map(url::Url::as_str),
            status: record.status,
            bytes: record.body.as_ref().map(Body::len),
            sha256: record.sha256.as_deref(),
            fetch_ms: record.fetch_ms,
            depth: record.depth,
            attempts: record.attempts,
            fetched_at: humantime::format_rfc3339_millis(record.fetched_at).to_string(),
            content_type: record.content_type.as_deref(),
            canonical: record.canonical.as_ref().map(url::Url::as_str),
            duplicate: record.duplicate,
            not_parsed: record.not_parsed,
            error: record.error.as_deref(),
            message: record.error_message.as_deref(),
        };
        // Invariant: `Line` holds only strings and numbers, which always serialise.
        let mut text = serde_json::to_vec(&line).expect("a pages-log line serialises");
        text.push(b'\n');
        self.out.write_all(&text).map_err(|e| self.io_error(e))?;
        self.unflushed += 1;
        if self.unflushed >= FLUSH_EVERY {
            self.out.flush().map_err(|e| self.io_error(e))?;
            self.unflushed = 0;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.unflushed = 0;
        self.out.flush().map_err(|e| self.io_error(e))
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|e| self.io_error(e))?;
        self.out.get_ref().sync_data().map_err(|e| self.io_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::tests::record;

    #[test]
    fn a_torn_last_line_is_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.jsonl");
        std::fs::write(&path, "{\"url\":\"a\"}\n{\"url\":\"b\"}\n{\"url\":\"tor").unwrap();
        let mut log = PagesLog::create(&path).unwrap();
        log.write(&record("http://a.test/c", Some(b"c"))).unwrap();
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let urls: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["url"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(urls, ["a", "b", "http://a.test/c"]);
        std::fs::write(&path, "no newline at all").unwrap();
        drop(PagesLog::create(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap().len(), 0);
    }

    #[test]
    fn compaction_keeps_the_last_line_per_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.jsonl");
        std::fs::write(
            &path,
            "{\"url\":\"a\",\"n\":1}\n{\"url\":\"b\"}\n{\"url\":\"a\",\"n\":2}\n",
        )
        .unwrap();
        assert_eq!(compact(&path).unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"url\":\"b\"}\n{\"url\":\"a\",\"n\":2}\n"
        );
    }

    #[test]
    fn one_json_line_per_url() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pages.jsonl");
        let mut log = PagesLog::create(&path).unwrap();
        log.write(&record("http://a.test/ok", Some(b"body")))
            .unwrap();
        log.write(&record("http://a.test/missing", None)).unwrap();
        log.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["url"], "http://a.test/ok");
        assert_eq!(lines[0]["status"], 200);
        assert_eq!(lines[0]["bytes"], 4);
        assert_eq!(lines[0]["fetched_at"], "1970-01-01T00:00:00.000Z");
        assert!(lines[0].get("error").is_none());
        assert_eq!(lines[1]["error"], "http_404");
        assert_eq!(lines[1]["bytes"], serde_json::Value::Null);
    }
}
