//! Reading WARC files back: enough to check what [`WarcSink`](super::WarcSink) wrote (tests,
//! the sink conformance suite, fuzzing). Gzip files (any number of members) and plain files.
//! Not a general-purpose reader: it holds one record's block in memory at a time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::record;

/// Largest header block accepted, against a corrupt file making us read forever.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// One record read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarcRecord {
    /// The header fields in file order (the `WARC/1.1` line excluded).
    pub headers: Vec<(String, String)>,
    /// The record block (`Content-Length` bytes).
    pub block: Vec<u8>,
}

impl WarcRecord {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `WARC-Type`, or `""`.
    pub fn kind(&self) -> &str {
        self.header("WARC-Type").unwrap_or("")
    }

    /// For an `application/http` block: the bytes after the HTTP header (the payload as
    /// archived); for any other block, the block.
    pub fn payload(&self) -> &[u8] {
        let is_http = self
            .header("Content-Type")
            .is_some_and(|t| t.starts_with("application/http"));
        if !is_http {
            return &self.block;
        }
        self.block
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(&[][..], |at| &self.block[at + 4..])
    }

    /// Whether `WARC-Block-Digest` and (except for revisits, whose payload is elsewhere)
    /// `WARC-Payload-Digest` match the bytes; fields that are absent are not checked.
    pub fn digests_match(&self) -> bool {
        let check = |field: &str, data: &[u8]| {
            self.header(field)
                .is_none_or(|d| d == record::digest_field(&record::sha1(&[data])))
        };
        check("WARC-Block-Digest", &self.block)
            && (self.kind() == "revisit" || check("WARC-Payload-Digest", self.payload()))
    }
}

/// Reads every record of the file at `path`.
///
/// # Errors
/// An I/O error, or `InvalidData` naming what is malformed (a torn record included).
pub fn read_warc_file(path: impl AsRef<Path>) -> io::Result<Vec<WarcRecord>> {
    let mut file = BufReader::new(File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::new(MultiGzDecoder::new(file)))
    } else {
        Box::new(file)
    };
    read_warc(reader)
}

/// Reads every record from an uncompressed WARC stream.
///
/// # Errors
/// As [`read_warc_file`].
pub fn read_warc(mut reader: impl BufRead) -> io::Result<Vec<WarcRecord>> {
    let mut records = Vec::new();
    while let Some(record) = read_one(&mut reader)? {
        records.push(record);
    }
    Ok(records)
}

fn read_one(reader: &mut impl BufRead) -> io::Result<Option<WarcRecord>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(None);
    }
    if !line.starts_with(b"WARC/1.") {
        return Err(invalid(format!(
            "expected a WARC/1.x version line, found {:?}",
            String::from_utf8_lossy(&line)
        )));
    }
    let mut headers = Vec::new();
    let mut total = line.len();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        total += n;
        if n == 0 || total > MAX_HEADER_BYTES {
            return Err(invalid("record header is cut short or too long".into()));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            break;
        }
        let (name, value) = text
            .split_once(':')
            .ok_or_else(|| invalid(format!("header line without a colon: {text:?}")))?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| invalid("record without a valid Content-Length".into()))?;
    let mut block = Vec::new();
    reader
        .by_ref()
        .take(length as u64)
        .read_to_end(&mut block)?;
    let mut end = [0u8; 4];
    if block.len() != length || reader.read_exact(&mut end).is_err() || &end != b"\r\n\r\n" {
        return Err(invalid(format!(
            "record block is cut short (Content-Length {length}, read {})",
            block.len()
        )));
    }
    Ok(Some(WarcRecord { headers, block }))
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}
