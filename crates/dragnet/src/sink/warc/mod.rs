//! WARC/1.1 archives that replay tools read: a small writer of our own on flate2 (the `warc`
//! crate truncates large records and writes gzip that warcio rejects; research §2.4).
//!
//! Layout of a file:
//! - a `warcinfo` record first (software, format, user fields);
//! - per successful page fetched over HTTP: a `response` record (status line and headers as
//!   received, then the body as received, before content decoding) followed by its `request`
//!   record (`WARC-Concurrent-To` the response; request line and headers as sent). Both carry
//!   `WARC-Block-Digest`; the response also `WARC-Payload-Digest` (sha1 of the entity body),
//!   `WARC-IP-Address` when known and `WARC-Protocol`;
//! - a page whose payload digest was already archived becomes a `revisit` record (profile
//!   identical-payload-digest, HTTP headers only) instead of a second copy of the body;
//! - a successful record without the exchange (not from the fetcher) becomes a `resource`
//!   record of its decoded body. Failed URLs are not archived (the pages log has them).
//!
//! Only the final hop of a redirect chain is archived: the fetcher keeps no earlier hops.
//! Each record is one gzip member in `.gz` files (what CDX indexers and replay need), and
//! is written with one `write_all` of the whole record (response and request together): when
//! a write fails, the file is cut back to the end of the last whole record, so a full disk
//! leaves a file whose every record reads back.

mod read;
mod record;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{PageRecord, Sink, SinkError};
pub use read::{WarcRecord, read_warc, read_warc_file};
use record::{Header, Sha1Digest};

const NAME: &str = "warc";

/// Payload digests remembered for revisit records. Past this many distinct payloads new ones
/// are no longer remembered (memory stays flat on huge crawls; at ~150 bytes each this is
/// ~30 MB); repeats of remembered ones still become revisits.
pub const REVISIT_TABLE_CAP: usize = 200_000;

/// Writes WARC/1.1 records of successful pages to one file or a folder of rotating files.
#[derive(Debug)]
pub struct WarcSink {
    target: Target,
    gzip: bool,
    file: Option<OpenWarc>,
    info_fields: Vec<(String, String)>,
    revisits: bool,
    originals: HashMap<Sha1Digest, Original>,
    /// One rendered record, reused between records.
    buf: Vec<u8>,
}

#[derive(Debug)]
enum Target {
    /// One file; its path is in the open file.
    File,
    Rotating {
        dir: PathBuf,
        prefix: String,
        max_bytes: u64,
        next_index: u64,
    },
}

#[derive(Debug)]
struct OpenWarc {
    path: PathBuf,
    file: File,
    /// Bytes of whole records written: where to cut back to after a failed write.
    len: u64,
    /// The `warcinfo` record's ID, referenced by every record of the file.
    info_id: String,
    info_written: bool,
}

/// Where a payload was first archived.
#[derive(Debug)]
struct Original {
    id: String,
    uri: String,
    date: String,
}

impl WarcSink {
    /// One file at `path`, replacing any file there: gzip (a member per record) when the
    /// name ends in `.gz` (`crawl.warc.gz`), uncompressed otherwise (`crawl.warc`).
    ///
    /// # Errors
    /// [`SinkError::Io`] when the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let path = path.as_ref().to_owned();
        let gzip = path.extension().is_some_and(|e| e == "gz");
        let file = File::create(&path).map_err(|e| io_error(&path, e))?;
        let mut sink = Self::new(Target::File, gzip);
        sink.file = Some(OpenWarc::new(path, file));
        Ok(sink)
    }

    /// Gzip files `PREFIX-00000.warc.gz`, `PREFIX-00001.warc.gz`, ... in `dir` (which must
    /// exist), starting a new one before a record once the current one holds `max_bytes`
    /// (so a file exceeds it by at most one record). Numbering continues after the highest
    /// existing file of that prefix, and a file is never overwritten, so a second run adds
    /// files beside the first run's.
    ///
    /// # Errors
    /// [`SinkError::Io`] when the folder cannot be read or the first file created.
    pub fn rotating(
        dir: impl AsRef<Path>,
        prefix: &str,
        max_bytes: u64,
    ) -> Result<Self, SinkError> {
        let dir = dir.as_ref().to_owned();
        let next_index = next_free_index(&dir, prefix).map_err(|e| io_error(&dir, e))?;
        let mut sink = Self::new(
            Target::Rotating {
                dir,
                prefix: prefix.to_owned(),
                max_bytes: max_bytes.max(1),
                next_index,
            },
            true,
        );
        sink.open_next()?;
        Ok(sink)
    }

    /// Adds a field to every file's `warcinfo` record (e.g. `operator`, `robots`,
    /// `isPartOf`). Call before the first record.
    pub fn with_info_field(mut self, name: &str, value: &str) -> Self {
        self.info_fields.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Whether a payload already archived is written as a `revisit` record (default: yes).
    pub fn with_revisits(mut self, revisits: bool) -> Self {
        self.revisits = revisits;
        self
    }

    /// The file currently written (for messages).
    pub fn current_path(&self) -> Option<&Path> {
        self.file.as_ref().map(|f| f.path.as_path())
    }

    fn new(target: Target, gzip: bool) -> Self {
        Self {
            target,
            gzip,
            file: None,
            info_fields: Vec::new(),
            revisits: true,
            originals: HashMap::new(),
            buf: Vec::new(),
        }
    }

    /// Closes the current file (flushed and synced) and opens the next rotating one.
    fn open_next(&mut self) -> Result<(), SinkError> {
        self.close_current()?;
        let Target::Rotating {
            dir,
            prefix,
            next_index,
            ..
        } = &mut self.target
        else {
            return Ok(());
        };
        loop {
            let path = dir.join(format!("{prefix}-{next_index:05}.warc.gz"));
            *next_index += 1;
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    self.file = Some(OpenWarc::new(path, file));
                    return Ok(());
                }
                // Another writer took this name since the scan: take the next.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
    }

    fn close_current(&mut self) -> Result<(), SinkError> {
        let Some(mut open) = self.file.take() else {
            return Ok(());
        };
        if !open.info_written {
            self.buf.clear();
            render_warcinfo(&mut self.buf, self.gzip, &open, &self.info_fields);
            open.append(&self.buf)?;
        }
        open.file.sync_all().map_err(|e| io_error(&open.path, e))
    }

    /// The file to write the next record to: rotated if full, its `warcinfo` written.
    fn file_for_next_record(&mut self) -> Result<&mut OpenWarc, SinkError> {
        if let Target::Rotating { max_bytes, .. } = self.target {
            let full = |f: &OpenWarc| f.info_written && f.len >= max_bytes;
            if self.file.as_ref().is_none_or(full) {
                self.open_next()?;
            }
        }
        let Some(open) = self.file.as_mut() else {
            return Err(SinkError::Stopped { sink: NAME });
        };
        if !open.info_written {
            self.buf.clear();
            render_warcinfo(&mut self.buf, self.gzip, open, &self.info_fields);
            open.append(&self.buf)?;
            open.info_written = true;
        }
        Ok(open)
    }

    /// Renders the record(s) for `page` into `self.buf`; `Some` with the payload digest and
    /// the original to remember when a new payload was archived.
    fn render(&mut self, page: &PageRecord, info_id: &str) -> Option<(Sha1Digest, Original)> {
        self.buf.clear();
        let date = record::warc_date(page.fetched_at);
        let Some(fetched) = page.exchange.as_deref() else {
            if let Some(body) = &page.body {
                let pieces: Vec<&[u8]> = body.chunks().collect();
                let uri = page.final_url.as_ref().unwrap_or(&page.url).as_str();
                let mut header = Header::new("resource", &record::record_id(), &date);
                header
                    .field("WARC-Target-URI", uri)
                    .field("WARC-Warcinfo-ID", info_id)
                    .field(
                        "Content-Type",
                        page.content_type
                            .as_deref()
                            .unwrap_or("application/octet-stream"),
                    )
                    .field(
                        "WARC-Block-Digest",
                        &record::digest_field(&record::sha1(&pieces)),
                    );
                let header = header.finish(body.len());
                push_record(&mut self.buf, self.gzip, &header, &pieces);
            }
            return None;
        };
        let uri = fetched.final_url.as_str();
        let head = record::response_head(fetched);
        let body: Vec<&[u8]> = fetched.raw_body.chunks().collect();
        let payload = record::sha1(&body);
        let original = self
            .originals
            .get(&payload)
            .filter(|_| self.revisits && !fetched.raw_body.is_empty());
        let response_id = record::record_id();
        let is_revisit = original.is_some();
        let mut block: Vec<&[u8]> = vec![&head.bytes];
        if !is_revisit {
            block.extend(&body);
        }
        let mut header = Header::new(
            if is_revisit { "revisit" } else { "response" },
            &response_id,
            &date,
        );
        header
            .field("WARC-Target-URI", uri)
            .field("WARC-Warcinfo-ID", info_id);
        if let Some(addr) = fetched.remote_addr {
            header.field("WARC-IP-Address", &addr.ip().to_string());
        }
        header
            .field("WARC-Protocol", record::protocol(fetched.version))
            .field("Content-Type", record::HTTP_RESPONSE);
        if let Some(original) = original {
            header
                .field("WARC-Profile", record::IDENTICAL_PAYLOAD_PROFILE)
                .field("WARC-Refers-To", &original.id)
                .field("WARC-Refers-To-Target-URI", &original.uri)
                .field("WARC-Refers-To-Date", &original.date);
        }
        if head.transfer_decoded {
            header.field(record::TRANSFER_DECODED_FIELD, "chunked");
        }
        if head.truncated {
            header.field("WARC-Truncated", "length");
        }
        header
            .field("WARC-Payload-Digest", &record::digest_field(&payload))
            .field(
                "WARC-Block-Digest",
                &record::digest_field(&record::sha1(&block)),
            );
        let length = block.iter().map(|part| part.len()).sum();
        push_record(&mut self.buf, self.gzip, &header.finish(length), &block);

        let request = record::request_head(fetched);
        let mut header = Header::new("request", &record::record_id(), &date);
        header
            .field("WARC-Target-URI", uri)
            .field("WARC-Warcinfo-ID", info_id)
            .field("WARC-Concurrent-To", &response_id);
        if let Some(addr) = fetched.remote_addr {
            header.field("WARC-IP-Address", &addr.ip().to_string());
        }
        header
            .field("WARC-Protocol", record::protocol(fetched.version))
            .field("Content-Type", record::HTTP_REQUEST)
            .field(
                "WARC-Block-Digest",
                &record::digest_field(&record::sha1(&[&request])),
            );
        push_record(
            &mut self.buf,
            self.gzip,
            &header.finish(request.len()),
            &[&request],
        );
        (!is_revisit && !fetched.raw_body.is_empty()).then(|| {
            (
                payload,
                Original {
                    id: response_id,
                    uri: uri.to_owned(),
                    date,
                },
            )
        })
    }
}

impl Sink for WarcSink {
    fn name(&self) -> &'static str {
        NAME
    }

    fn write(&mut self, page: &PageRecord) -> Result<(), SinkError> {
        if !page.is_ok() || (page.exchange.is_none() && page.body.is_none()) {
            return Ok(());
        }
        let info_id = self.file_for_next_record()?.info_id.clone();
        let remember = self.render(page, &info_id);
        if !self.buf.is_empty() {
            let Some(open) = self.file.as_mut() else {
                return Err(SinkError::Stopped { sink: NAME });
            };
            open.append(&self.buf)?;
        }
        if let Some((digest, original)) = remember {
            if self.originals.len() < REVISIT_TABLE_CAP {
                self.originals.insert(digest, original);
            }
        }
        Ok(())
    }

    /// Records go to the file whole as they are written, so there is nothing to push.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.close_current()
    }
}

impl OpenWarc {
    fn new(path: PathBuf, file: File) -> Self {
        Self {
            path,
            file,
            len: 0,
            info_id: record::record_id(),
            info_written: false,
        }
    }

    /// Appends whole records; on failure cuts the file back to the last whole record.
    fn append(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        if let Err(error) = self.file.write_all(bytes) {
            // Best effort: on a device that cannot be truncated (/dev/full) there is
            // nothing partial to remove anyway.
            let _ = self.file.set_len(self.len);
            return Err(io_error(&self.path, error));
        }
        self.len += bytes.len() as u64;
        Ok(())
    }
}

/// The `warcinfo` record that opens every file.
fn render_warcinfo(out: &mut Vec<u8>, gzip: bool, open: &OpenWarc, extra: &[(String, String)]) {
    let mut block = format!(
        "software: dragnet/{}\r\nformat: WARC File Format 1.1\r\n\
         conformsTo: http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/\r\n",
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in extra {
        block.push_str(&format!("{name}: {}\r\n", value.replace(['\r', '\n'], " ")));
    }
    let date = record::warc_date(std::time::SystemTime::now());
    let mut header = Header::new("warcinfo", &open.info_id, &date);
    if let Some(name) = open.path.file_name() {
        header.field("WARC-Filename", &name.to_string_lossy());
    }
    header
        .field("Content-Type", "application/warc-fields")
        .field(
            "WARC-Block-Digest",
            &record::digest_field(&record::sha1(&[block.as_bytes()])),
        );
    push_record(out, gzip, &header.finish(block.len()), &[block.as_bytes()]);
}

/// Appends one record to `out`, as its own gzip member when `gzip`.
fn push_record(out: &mut Vec<u8>, gzip: bool, header: &str, block: &[&[u8]]) {
    // Writing into a Vec cannot fail; the results are still checked, not ignored.
    let written = if gzip {
        // Level 1: about 7x faster than the default level 6 here (research/crates.md §2.9:
        // 369 vs 53 MB/s with zlib-rs) for a 25% larger file; archiving must keep up with
        // the crawl.
        let mut encoder = GzEncoder::new(std::mem::take(out), Compression::fast());
        let result = record::write_record(&mut encoder, header, block);
        match encoder.finish() {
            Ok(bytes) => {
                *out = bytes;
                result
            }
            Err(e) => Err(e),
        }
    } else {
        record::write_record(out, header, block)
    };
    debug_assert!(written.is_ok(), "writing to memory failed: {written:?}");
}

/// The number after the highest `PREFIX-NNNNN.warc.gz` in `dir`, or 0.
fn next_free_index(dir: &Path, prefix: &str) -> std::io::Result<u64> {
    let mut next = 0;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let index = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.strip_prefix('-'))
            .and_then(|n| n.strip_suffix(".warc.gz"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(index) = index {
            next = next.max(index + 1);
        }
    }
    Ok(next)
}

fn io_error(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Io {
        sink: NAME,
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
