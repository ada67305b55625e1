//! The one path every body goes through: read with a size cap and a deadline, then decode
//! the content encoding with a cap on the decoded size (so a decompression bomb ends as a
//! counted `body_too_large`, not as exhausted memory).
//!
//! Reading is async and cheap; decoding is CPU work and runs on the rayon pool, called from
//! [`crate::process`].

use std::io::Read;

use bytes::{Bytes, BytesMut};
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use tokio::time::Instant;
use url::Url;

use super::failure::{FailureKind, FetchFailure};

/// What to do with a body longer than the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Fail the URL (`body_too_large`): pages.
    Fail,
    /// Keep the first `max_bytes` and drop the rest, closing the connection rather than
    /// draining it: robots.txt (RFC 9309 reads the first 500 KiB) and sitemaps.
    KeepPrefix,
}

/// Reads a response body as received on the wire (still content-encoded), at most
/// `max_bytes` of it, giving up at `deadline`. The only body read in the crate.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    max_bytes: u64,
    overflow: Overflow,
    deadline: Instant,
    url: &Url,
) -> Result<Bytes, FetchFailure> {
    let too_large = |message: String| FetchFailure::new(FailureKind::BodyTooLarge, message, url);
    let declared = response.content_length();
    if overflow == Overflow::Fail && declared.is_some_and(|length| length > max_bytes) {
        return Err(too_large(format!(
            "Content-Length {} is over the {max_bytes} byte limit",
            declared.unwrap_or_default()
        )));
    }
    // Invariant: the capacity is at most `max_bytes`, itself a body size that fits in memory.
    let capacity = declared.unwrap_or(64 * 1024).min(max_bytes);
    let mut body = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(usize::MAX));
    while (body.len() as u64) < max_bytes || overflow == Overflow::Fail {
        let chunk = match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => {
                return Err(FetchFailure::new(
                    FailureKind::Timeout,
                    "body not finished in time",
                    url,
                ));
            }
            Ok(Err(error)) => return Err(FetchFailure::from_reqwest(&error, url)),
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        if overflow == Overflow::Fail && (body.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large(format!(
                "body is over the {max_bytes} byte limit"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    body.truncate(usize::try_from(max_bytes).unwrap_or(usize::MAX));
    Ok(body.freeze())
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// `BodyTooLarge` or `Decode`.
    pub kind: FailureKind,
    /// Detail.
    pub message: String,
}

/// Undoes the Content-Encoding (gzip, deflate, identity), producing at most `max_bytes`.
///
/// # Errors
/// `BodyTooLarge` when the decoded body would exceed `max_bytes`, `Decode` when the bytes are
/// not valid for the encoding or the encoding is one we never asked for.
pub fn decode_body(
    raw: Bytes,
    content_encoding: Option<&str>,
    max_bytes: u64,
) -> Result<Bytes, DecodeError> {
    let encodings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    let mut body = raw;
    // Encodings are listed in the order they were applied: undo them from the last.
    for encoding in encodings.iter().rev() {
        body = match encoding.as_str() {
            "gzip" | "x-gzip" => read_all(MultiGzDecoder::new(&body[..]), max_bytes, encoding)?,
            "deflate" => {
                // "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
                read_all(ZlibDecoder::new(&body[..]), max_bytes, encoding)
                    .or_else(|_| read_all(DeflateDecoder::new(&body[..]), max_bytes, encoding))?
            }
            other => {
                return Err(DecodeError {
                    kind: FailureKind::Decode,
                    message: format!("unsupported content encoding {other:?}"),
                });
            }
        };
    }
    if body.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(body)
}

fn read_all(decoder: impl Read, max_bytes: u64, encoding: &str) -> Result<Bytes, DecodeError> {
    let mut out = Vec::new();
    decoder
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| DecodeError {
            kind: FailureKind::Decode,
            message: format!("invalid {encoding} body: {e}"),
        })?;
    if out.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(Bytes::from(out))
}

fn too_large(max_bytes: u64) -> DecodeError {
    DecodeError {
        kind: FailureKind::BodyTooLarge,
        message: format!("decoded body is over the {max_bytes} byte limit"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    #[test]
    fn identity_passes_through() {
        let body = decode_body(Bytes::from_static(b"hello"), None, 10).unwrap();
        assert_eq!(&body[..], b"hello");
        let body = decode_body(Bytes::from_static(b"hello"), Some("identity"), 10).unwrap();
        assert_eq!(&body[..], b"hello");
    }

    #[test]
    fn gzip_and_deflate_are_decoded() {
        assert_eq!(
            &decode_body(gzip(b"page"), Some("gzip"), 100).unwrap()[..],
            b"page"
        );
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(b"zlib page").unwrap();
        let zlib = Bytes::from(enc.finish().unwrap());
        assert_eq!(
            &decode_body(zlib, Some("Deflate"), 100).unwrap()[..],
            b"zlib page"
        );
    }

    #[test]
    fn a_decompression_bomb_is_cut_at_the_limit() {
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(
            bomb.len() < 100_000,
            "the bomb is small on the wire: {}",
            bomb.len()
        );
        let err = decode_body(bomb, Some("gzip"), 1024 * 1024).unwrap_err();
        assert_eq!(err.kind, FailureKind::BodyTooLarge);
    }

    #[test]
    fn garbage_and_unknown_encodings_fail_cleanly() {
        let err = decode_body(Bytes::from_static(b"not gzip"), Some("gzip"), 100).unwrap_err();
        assert_eq!(err.kind, FailureKind::Decode);
        let err = decode_body(Bytes::from_static(b"x"), Some("br"), 100).unwrap_err();
        assert_eq!(err.kind, FailureKind::Decode);
    }

    #[test]
    fn an_identity_body_over_the_limit_fails() {
        let err = decode_body(Bytes::from(vec![1u8; 11]), None, 10).unwrap_err();
        assert_eq!(err.kind, FailureKind::BodyTooLarge);
    }
}
