//! The one path every body goes through: read with a size cap and a deadline, then decode
//! the content encoding with a cap on the decoded size (so a decompression bomb ends as a
//! counted `body_too_large`, not as exhausted memory).
//!
//! Reading is async and cheap; decoding is CPU work and runs on the rayon pool, called from
//! [`crate::process`].

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use flate2::read::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

use super::failure::{FailureKind, FetchFailure, by_deadline};

/// Raw bodies held in memory at once, over the whole crawl: bodies being read, waiting for
/// the CPU pool and waiting for the sinks. A response whose body does not fit waits before
/// reading it (the bytes stay in the socket and TCP holds the server back) until earlier
/// bodies are written and dropped. Enough for dozens of pages of a few hundred KB, so the
/// pool and the sinks never run dry; a body larger than the whole budget takes all of it.
pub const BODY_MEMORY: u64 = 16 * 1024 * 1024;
/// The budget is counted in these units (tokio's semaphore counts `u32` permits at a time).
const UNIT: u64 = 1024;
/// What a body of unknown length reserves (and its buffer starts at) before reading.
const UNKNOWN_LENGTH_GUESS: u64 = 64 * 1024;

/// The memory budget for bodies ([`BODY_MEMORY`]), shared by every clone of a `Fetcher`.
///
/// A body reserves its declared length before its first byte is read, waiting in line
/// (first come, first served) until that much is free, and never waits again: so every
/// holder can finish and give its share back, and no set of half-read bodies can block
/// each other. A body longer than it declared, or of unknown length, takes more only when
/// it is free and otherwise goes over the budget by that much (bounded by the size cap).
/// The reservation travels with the body's bytes and is given back when the last copy of
/// them is dropped (after the sinks wrote the page).
#[derive(Clone, Debug)]
pub(crate) struct BodyBudget {
    permits: Arc<Semaphore>,
    units: u32,
}

impl BodyBudget {
    pub(crate) fn new(bytes: u64) -> Self {
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX);
        // `units` is at most u32::MAX, far below the semaphore's maximum (usize::MAX >> 3).
        let permits = Arc::new(Semaphore::new(units as usize));
        Self { permits, units }
    }

    /// Units for `bytes`, at most the whole budget.
    fn units_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.div_ceil(UNIT))
            .unwrap_or(u32::MAX)
            .min(self.units)
    }

    /// Waits until `bytes` (at most the whole budget) are free and takes them.
    async fn reserve(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        // Fails only when the semaphore is closed, which this type never does.
        Arc::clone(&self.permits)
            .acquire_many_owned(self.units_for(bytes))
            .await
            .ok()
    }

    /// Grows `held` to cover `bytes` if that much is free now; never waits.
    fn try_grow(&self, held: &mut Option<OwnedSemaphorePermit>, bytes: u64) {
        let have = held.as_ref().map_or(0, |p| p.num_permits());
        let want = self.units_for(bytes) as usize;
        if want <= have {
            return;
        }
        let extra = u32::try_from(want - have).unwrap_or(u32::MAX);
        if let Ok(more) = Arc::clone(&self.permits).try_acquire_many_owned(extra) {
            match held {
                Some(permit) => permit.merge(more),
                None => *held = Some(more),
            }
        }
    }

    /// Gives back what `held` has beyond what `bytes` need.
    fn trim(&self, held: &mut Option<OwnedSemaphorePermit>, bytes: u64) {
        let want = self.units_for(bytes) as usize;
        if let Some(permit) = held {
            if permit.num_permits() > want {
                drop(permit.split(permit.num_permits() - want));
            }
        }
    }

    /// Bytes currently free (for tests).
    #[cfg(test)]
    fn free_bytes(&self) -> u64 {
        self.permits.available_permits() as u64 * UNIT
    }
}

/// A body's bytes with the share of the budget they hold: given back on drop.
struct Held {
    bytes: Vec<u8>,
    _permit: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// What to do with a body longer than the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// Fail the URL (`body_too_large`): pages.
    Fail,
    /// Keep the first `max_bytes` and drop the rest, closing the connection rather than
    /// draining it: robots.txt (RFC 9309 reads the first 500 KiB) and sitemaps.
    KeepPrefix,
}

/// A body read off the wire.
#[derive(Debug)]
pub(crate) struct ReadBody {
    /// The bytes as received (still content-encoded).
    pub(crate) bytes: Bytes,
    /// Time spent waiting for room in the memory budget before reading: not the server's.
    pub(crate) waited: Duration,
}

/// Reads a response body as received on the wire (still content-encoded), at most
/// `max_bytes` of it, giving up at `deadline` (moved back by the time spent waiting for
/// `budget`, which is ours, not the server's). The only body read in the crate.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    max_bytes: u64,
    overflow: Overflow,
    deadline: Instant,
    budget: Option<&BodyBudget>,
    url: &Url,
) -> Result<ReadBody, FetchFailure> {
    let too_large = |message: String| FetchFailure::new(FailureKind::BodyTooLarge, message, url);
    let declared = response.content_length();
    if overflow == Overflow::Fail && declared.is_some_and(|length| length > max_bytes) {
        return Err(too_large(format!(
            "Content-Length {} is over the {max_bytes} byte limit",
            declared.unwrap_or_default()
        )));
    }
    let expected = declared.unwrap_or(UNKNOWN_LENGTH_GUESS).min(max_bytes);
    let mut waited = Duration::ZERO;
    let mut permit = None;
    if let Some(budget) = budget {
        let asked = Instant::now();
        permit = budget.reserve(expected).await;
        waited = asked.elapsed();
    }
    let deadline = deadline + waited;
    // Invariant: the capacity is at most `max_bytes`, itself a body size that fits in memory.
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(usize::MAX));
    while (body.len() as u64) < max_bytes || overflow == Overflow::Fail {
        let next = by_deadline(deadline, response.chunk(), "body not finished in time", url);
        let Some(chunk) = next.await? else { break };
        let len = (body.len() + chunk.len()) as u64;
        if overflow == Overflow::Fail && len > max_bytes {
            return Err(too_large(format!(
                "body is over the {max_bytes} byte limit"
            )));
        }
        if let Some(budget) = budget {
            budget.try_grow(&mut permit, len.min(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    body.truncate(usize::try_from(max_bytes).unwrap_or(usize::MAX));
    // A body of unknown length grew by doubling; give the slack back.
    if body.capacity() - body.len() > body.len() / 8 {
        body.shrink_to_fit();
    }
    if let Some(budget) = budget {
        budget.trim(&mut permit, body.len() as u64);
    }
    let bytes = match permit {
        Some(permit) => Bytes::from_owner(Held {
            bytes: body,
            _permit: permit,
        }),
        None => Bytes::from(body),
    };
    Ok(ReadBody { bytes, waited })
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

    fn response(len: usize) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(vec![7u8; len]))
    }

    /// Reads a `len`-byte body within `budget`, capped at `max`.
    async fn read_within(
        budget: &BodyBudget,
        len: usize,
        max: u64,
        overflow: Overflow,
    ) -> Result<ReadBody, FetchFailure> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = Url::parse("http://example.test/page").unwrap();
        read_body(response(len), max, overflow, deadline, Some(budget), &url).await
    }

    #[tokio::test]
    async fn a_body_holds_its_share_of_the_budget_until_its_last_copy_is_dropped() {
        let budget = BodyBudget::new(100 * 1024);
        let first = read_within(&budget, 60 * 1024, 1 << 20, Overflow::Fail)
            .await
            .unwrap();
        assert_eq!(first.bytes.len(), 60 * 1024);
        assert_eq!(budget.free_bytes(), 40 * 1024);

        // A second body of the same size does not fit: it waits, unread, for the first.
        let second = read_within(&budget, 60 * 1024, 1 << 20, Overflow::Fail);
        tokio::pin!(second);
        let copy = first.bytes.clone();
        drop(first);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "a copy of the first body still holds its share"
        );
        drop(copy);
        let second = second.await.unwrap();
        assert!(second.bytes.iter().all(|&b| b == 7));
        assert_eq!(budget.free_bytes(), 40 * 1024);
        drop(second);
        assert_eq!(budget.free_bytes(), 100 * 1024);
    }

    #[tokio::test]
    async fn a_body_larger_than_the_budget_takes_all_of_it_and_still_completes() {
        let budget = BodyBudget::new(16 * 1024);
        let read = read_within(&budget, 40 * 1024, 1 << 20, Overflow::Fail)
            .await
            .unwrap();
        assert_eq!(read.bytes.len(), 40 * 1024);
        assert_eq!(budget.free_bytes(), 0);
        drop(read);
        assert_eq!(budget.free_bytes(), 16 * 1024);
    }

    #[tokio::test]
    async fn a_failed_read_gives_its_share_back() {
        let budget = BodyBudget::new(100 * 1024);
        let failure = read_within(&budget, 60 * 1024, 10 * 1024, Overflow::Fail)
            .await
            .unwrap_err();
        assert_eq!(failure.kind, FailureKind::BodyTooLarge);
        assert_eq!(budget.free_bytes(), 100 * 1024);
        // A kept prefix holds only what it kept.
        let prefix = read_within(&budget, 60 * 1024, 10 * 1024, Overflow::KeepPrefix)
            .await
            .unwrap();
        assert_eq!(prefix.bytes.len(), 10 * 1024);
        assert_eq!(budget.free_bytes(), 90 * 1024);
    }

    #[test]
    fn growing_never_waits_and_trimming_gives_back_the_rest() {
        let budget = BodyBudget::new(8 * 1024);
        let mut held = None;
        budget.try_grow(&mut held, 6 * 1024);
        assert_eq!(budget.free_bytes(), 2 * 1024);
        let mut other = None;
        budget.try_grow(&mut other, 1024);
        assert_eq!(budget.free_bytes(), 1024);
        // More than is free: no wait, no change (the body goes over the budget instead).
        budget.try_grow(&mut held, 12 * 1024);
        assert_eq!(budget.free_bytes(), 1024);
        budget.trim(&mut held, 1024);
        assert_eq!(budget.free_bytes(), 6 * 1024);
        drop(held);
        drop(other);
        assert_eq!(budget.free_bytes(), 8 * 1024);
    }

    #[test]
    fn an_identity_body_over_the_limit_fails() {
        let err = decode_body(Bytes::from(vec![1u8; 11]), None, 10).unwrap_err();
        assert_eq!(err.kind, FailureKind::BodyTooLarge);
    }
}
