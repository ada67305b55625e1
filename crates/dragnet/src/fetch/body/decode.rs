//! Undoing the Content-Encoding, with a cap on the decoded size (so a decompression bomb
//! ends as a counted `body_too_large`, not as exhausted memory). CPU work: called on the
//! rayon pool from [`crate::process`].

use std::io::Read;

use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

use super::Body;
use crate::fetch::FailureKind;

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
    raw: Body,
    content_encoding: Option<&str>,
    max_bytes: u64,
) -> Result<Body, DecodeError> {
    let encodings: Vec<String> = content_encoding
        .unwrap_or("")
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e != "identity")
        .collect();
    let mut body = raw;
    // Encodings are listed in the order they were applied: undo them from the last.
    for encoding in encodings.iter().rev() {
        // The decoders read one slice; a compressed body is small next to what it decodes to.
        let coded = body.contiguous();
        let decoded = match encoding.as_str() {
            "gzip" | "x-gzip" => read_all(MultiGzDecoder::new(&coded[..]), max_bytes, encoding)?,
            "deflate" => {
                // "deflate" is meant to be zlib-wrapped, but some servers send raw deflate.
                read_all(ZlibDecoder::new(&coded[..]), max_bytes, encoding)
                    .or_else(|_| read_all(DeflateDecoder::new(&coded[..]), max_bytes, encoding))?
            }
            other => {
                return Err(DecodeError {
                    kind: FailureKind::Decode,
                    message: format!("unsupported content encoding {other:?}"),
                });
            }
        };
        drop(coded);
        body = decoded;
    }
    if body.len() as u64 > max_bytes {
        return Err(too_large(max_bytes));
    }
    Ok(body)
}

fn read_all(decoder: impl Read, max_bytes: u64, encoding: &str) -> Result<Body, DecodeError> {
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
    Ok(Body::from(out))
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

    fn gzip(data: &[u8]) -> Body {
        let mut enc = GzEncoder::new(Vec::new(), Compression::best());
        enc.write_all(data).unwrap();
        Body::from(enc.finish().unwrap())
    }

    #[test]
    fn identity_passes_through() {
        let body = decode_body(Body::from(&b"hello"[..]), None, 10).unwrap();
        assert_eq!(&body.to_vec()[..], b"hello");
        let body = decode_body(Body::from(&b"hello"[..]), Some("identity"), 10).unwrap();
        assert_eq!(&body.to_vec()[..], b"hello");
    }

    #[test]
    fn gzip_and_deflate_are_decoded() {
        assert_eq!(
            decode_body(gzip(b"page"), Some("gzip"), 100)
                .unwrap()
                .to_vec(),
            b"page"
        );
        let mut enc = ZlibEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(b"zlib page").unwrap();
        let zlib = Body::from(enc.finish().unwrap());
        assert_eq!(
            decode_body(zlib, Some("Deflate"), 100).unwrap().to_vec(),
            b"zlib page"
        );
    }

    #[test]
    fn a_body_in_pieces_is_decoded_whole() {
        let coded = gzip(b"a page that arrived in several pieces").to_vec();
        let pieces = coded.chunks(7).map(bytes::Bytes::copy_from_slice).collect();
        let body = decode_body(Body::held(pieces, None), Some("gzip"), 100).unwrap();
        assert_eq!(body, *b"a page that arrived in several pieces".as_slice());
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
        let err = decode_body(Body::from(&b"not gzip"[..]), Some("gzip"), 100).unwrap_err();
        assert_eq!(err.kind, FailureKind::Decode);
        let err = decode_body(Body::from(&b"x"[..]), Some("br"), 100).unwrap_err();
        assert_eq!(err.kind, FailureKind::Decode);
    }

    #[test]
    fn an_identity_body_over_the_limit_fails() {
        let err = decode_body(Body::from(vec![1u8; 11]), None, 10).unwrap_err();
        assert_eq!(err.kind, FailureKind::BodyTooLarge);
    }
}
