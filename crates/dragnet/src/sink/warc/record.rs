//! Rendering WARC/1.1 records: header fields, HTTP message blocks and digests. Pure
//! functions over bytes; the sink decides what goes where.

use std::io::{self, Write};
use std::time::SystemTime;

use http::{HeaderMap, StatusCode, Version};
use sha1::{Digest as _, Sha1};

use crate::fetch::Fetched;

/// `Content-Type` of request and response blocks.
pub(super) const HTTP_RESPONSE: &str = "application/http; msgtype=response";
/// `Content-Type` of request blocks.
pub(super) const HTTP_REQUEST: &str = "application/http; msgtype=request";
/// The revisit profile for a payload already archived under another record.
pub(super) const IDENTICAL_PAYLOAD_PROFILE: &str =
    "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest";
/// Record header field we add when the HTTP message was changed from what came over the wire
/// (see [`response_head`]).
pub(super) const TRANSFER_DECODED_FIELD: &str = "X-Dragnet-Transfer-Decoded";

/// A SHA-1 digest (20 bytes): WARC's customary digest algorithm.
pub(super) type Sha1Digest = [u8; 20];

/// SHA-1 over the concatenation of `parts`.
pub(super) fn sha1(parts: &[&[u8]]) -> Sha1Digest {
    let mut hasher = Sha1::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The `sha1:BASE32` form WARC readers (warcio, pywb, Heritrix) expect.
pub(super) fn digest_field(digest: &Sha1Digest) -> String {
    format!("sha1:{}", data_encoding::BASE32.encode(digest))
}

/// A fresh record ID, `<urn:uuid:…>` with a random (version 4) UUID.
pub(super) fn record_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = |range: std::ops::Range<usize>| -> String {
        b[range].iter().map(|x| format!("{x:02x}")).collect()
    };
    format!(
        "<urn:uuid:{}-{}-{}-{}-{}>",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// `WARC-Date`: UTC, millisecond precision (WARC 1.1 allows fractions of a second).
pub(super) fn warc_date(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// A record's header, built field by field.
pub(super) struct Header {
    text: String,
}

impl Header {
    /// `WARC/1.1` and the three fields every record has.
    pub(super) fn new(kind: &str, id: &str, date: &str) -> Self {
        let mut header = Self {
            text: String::with_capacity(512),
        };
        header.text.push_str("WARC/1.1\r\n");
        header.field("WARC-Type", kind);
        header.field("WARC-Record-ID", id);
        header.field("WARC-Date", date);
        header
    }

    /// Adds `name: value`. Line breaks in the value would end the header early, so they
    /// become spaces (values here are URLs, dates and IDs, which have none).
    pub(super) fn field(&mut self, name: &str, value: &str) -> &mut Self {
        self.text.push_str(name);
        self.text.push_str(": ");
        self.text.extend(
            value
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c }),
        );
        self.text.push_str("\r\n");
        self
    }

    /// The header's bytes, ending with `Content-Length` and the blank line.
    pub(super) fn finish(mut self, content_length: usize) -> String {
        self.field("Content-Length", &content_length.to_string());
        self.text.push_str("\r\n");
        self.text
    }
}

/// Writes one record: header, block parts, and the two CRLFs that end a record. `write_all`
/// throughout: a partial write must never pass silently (research pitfall 9).
pub(super) fn write_record(out: &mut impl Write, header: &str, block: &[&[u8]]) -> io::Result<()> {
    out.write_all(header.as_bytes())?;
    for part in block {
        out.write_all(part)?;
    }
    out.write_all(b"\r\n\r\n")
}

/// The `WARC-Protocol` value for an HTTP version (the iipc proposal's identifiers).
pub(super) fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "http/0.9",
        Version::HTTP_10 => "http/1.0",
        Version::HTTP_2 => "h2",
        Version::HTTP_3 => "h3",
        _ => "http/1.1",
    }
}

/// The version written in the message's first line. HTTP/2 and HTTP/3 messages are written
/// in HTTP/1.1 syntax, as the iipc proposal and other crawlers do: many WARC readers (warcio
/// among them) reject a status line starting `HTTP/2`. `WARC-Protocol` keeps the truth.
fn message_version(version: Version) -> &'static str {
    if version == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// A response's status line and headers, as a WARC block starts.
pub(super) struct ResponseHead {
    /// Status line, headers and the blank line.
    pub(super) bytes: Vec<u8>,
    /// A `Transfer-Encoding` was dropped (the client had already undone it).
    pub(super) transfer_decoded: bool,
    /// `Content-Length` promised more than the body holds.
    pub(super) truncated: bool,
}

/// The status line and headers of `fetched` as received, with two unavoidable departures:
///
/// - header names are lower case (the `http` crate keeps them so; HTTP/2 sends them so) and
///   the reason phrase is the standard one for the code (the client does not keep the
///   server's);
/// - when the response had `Transfer-Encoding` (chunked), the client has already removed
///   the chunking, so the body we hold is the de-chunked entity. The header would then lie
///   about the bytes that follow, so it is dropped, `Content-Length` is set to the body we
///   write, and [`ResponseHead::transfer_decoded`] tells the caller to say so in the record
///   header ([`TRANSFER_DECODED_FIELD`]). The payload digest is of the entity either way.
pub(super) fn response_head(fetched: &Fetched) -> ResponseHead {
    let headers = &fetched.headers;
    let transfer_decoded = headers.contains_key(http::header::TRANSFER_ENCODING);
    let body_len = fetched.raw_body.len();
    let promised = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let truncated = !transfer_decoded && promised.is_some_and(|n| n > body_len);

    let reason = StatusCode::from_u16(fetched.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut bytes = Vec::with_capacity(512);
    bytes.extend_from_slice(
        format!(
            "{} {} {reason}\r\n",
            message_version(fetched.version),
            fetched.status
        )
        .as_bytes(),
    );
    let mut kept = headers.clone();
    if transfer_decoded {
        kept.remove(http::header::TRANSFER_ENCODING);
        kept.remove(http::header::CONTENT_LENGTH);
    }
    push_headers(&mut bytes, &kept);
    if transfer_decoded {
        bytes.extend_from_slice(format!("content-length: {body_len}\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    ResponseHead {
        bytes,
        transfer_decoded,
        truncated,
    }
}

/// The request line and headers as sent for the final hop (`Host` included).
pub(super) fn request_head(fetched: &Fetched) -> Vec<u8> {
    let url = &fetched.final_url;
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut bytes = Vec::with_capacity(512);
    bytes.extend_from_slice(
        format!("GET {target} {}\r\n", message_version(fetched.version)).as_bytes(),
    );
    push_headers(&mut bytes, &fetched.request_headers);
    bytes.extend_from_slice(b"\r\n");
    bytes
}

fn push_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        // Values are bytes as received; the http crate has already refused CR, LF and NUL.
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_base32_sha1() {
        // sha1("abc") = a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d
        assert_eq!(
            digest_field(&sha1(&[b"a", b"bc"])),
            "sha1:VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"
        );
    }

    #[test]
    fn record_ids_are_v4_uuids() {
        let id = record_id();
        assert_eq!(id.len(), "<urn:uuid:>".len() + 36, "{id}");
        assert!(id.starts_with("<urn:uuid:") && id.ends_with('>'));
        assert_eq!(&id[24..25], "4", "{id}");
        assert!(matches!(&id[29..30], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(record_id(), id);
    }

    #[test]
    fn header_fields_cannot_break_lines() {
        let mut header = Header::new("resource", "<urn:x>", "2024-01-01T00:00:00Z");
        header.field("WARC-Target-URI", "http://a.test/\r\nEvil: 1");
        let text = header.finish(3);
        assert!(text.contains("WARC-Target-URI: http://a.test/  Evil: 1\r\n"));
        assert!(text.starts_with("WARC/1.1\r\nWARC-Type: resource\r\n"));
        assert!(text.ends_with("Content-Length: 3\r\n\r\n"));
    }
}
