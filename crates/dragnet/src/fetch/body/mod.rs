//! The one path every body goes through: read with a size cap and a deadline, within the
//! fetcher's memory budget, keeping the pieces as they arrive ([`Body`]); then decode the
//! content encoding with a cap on the decoded size ([`decode_body`], on the CPU pool).

mod decode;
mod pieces;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use url::Url;

pub use decode::{DecodeError, decode_body};
pub use pieces::Body;

use super::failure::{FailureKind, FetchFailure, by_deadline};

/// Raw bodies held in memory at once, over the whole crawl: bodies being read, waiting for
/// the CPU pool and waiting for the sinks. A response whose body does not fit waits before
/// reading it (the bytes stay in the socket and TCP holds the server back) until earlier
/// bodies are written and dropped. Enough for dozens of pages of a few hundred KB, so the
/// pool and the sinks never run dry; a body larger than the whole budget takes all of it.
pub const BODY_MEMORY: u64 = 16 * 1024 * 1024;
/// The budget is counted in these units (tokio's semaphore counts `u32` permits at a time).
const UNIT: u64 = 1024;
/// What a body of unknown length reserves before reading.
const UNKNOWN_LENGTH_GUESS: u64 = 64 * 1024;

/// The memory budget for bodies ([`BODY_MEMORY`]), shared by every clone of a `Fetcher`.
///
/// A body reserves its declared length before its first byte is read, waiting in line
/// (first come, first served) until that much is free, and never waits again: so every
/// holder can finish and give its share back, and no set of half-read bodies can block
/// each other. A body longer than it declared, or of unknown length, takes more only when
/// it is free and otherwise goes over the budget by that much (bounded by the size cap).
/// The reservation travels with the body ([`Body`]) and is given back when its last clone
/// is dropped (after the sinks wrote the page). It counts the body's bytes, not the
/// client's read buffers the pieces sit in: a connection's last buffer may hold more than
/// its last body used, until the next response on that connection fills it.
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
    pub(crate) body: Body,
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
    let mut chunks = Vec::new();
    let mut len: u64 = 0;
    while len < max_bytes || overflow == Overflow::Fail {
        let next = by_deadline(deadline, response.chunk(), "body not finished in time", url);
        let Some(mut chunk) = next.await? else { break };
        let total = len + chunk.len() as u64;
        if total > max_bytes {
            if overflow == Overflow::Fail {
                return Err(too_large(format!(
                    "body is over the {max_bytes} byte limit"
                )));
            }
            // Lossless: what is left under the cap is less than this chunk's usize length.
            chunk.truncate((max_bytes - len) as usize);
        }
        if let Some(budget) = budget {
            budget.try_grow(&mut permit, total.min(max_bytes));
        }
        len += chunk.len() as u64;
        chunks.push(chunk);
    }
    if let Some(budget) = budget {
        budget.trim(&mut permit, len);
    }
    Ok(ReadBody {
        body: Body::held(chunks, permit),
        waited,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(len: usize) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(vec![7u8; len]))
    }

    /// A response whose body arrives as `pieces`.
    fn in_pieces(pieces: &[&'static [u8]]) -> reqwest::Response {
        let stream = futures_util::stream::iter(
            pieces
                .iter()
                .map(|p| Ok::<_, std::io::Error>(bytes::Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        );
        reqwest::Response::from(http::Response::new(reqwest::Body::wrap_stream(stream)))
    }

    #[tokio::test]
    async fn pieces_are_kept_as_they_came_and_a_kept_prefix_is_cut_inside_one() {
        let parts: &[&[u8]] = &[b"User-agent: *\n", b"Disallow: /a\n", b"Disallow: /b\n"];
        let whole = read(in_pieces(parts), 100, Overflow::Fail, None)
            .await
            .unwrap();
        assert_eq!(whole.body.chunks().count(), 3);
        assert_eq!(whole.body, *parts.concat().as_slice());
        let cut = read(in_pieces(parts), 20, Overflow::KeepPrefix, None)
            .await
            .unwrap();
        assert_eq!(cut.body, *b"User-agent: *\nDisall".as_slice());
        let failed = read(in_pieces(parts), 20, Overflow::Fail, None)
            .await
            .unwrap_err();
        assert_eq!(failed.kind, FailureKind::BodyTooLarge);
    }

    /// Reads `response`'s body, capped at `max`, within `budget` if given.
    async fn read(
        response: reqwest::Response,
        max: u64,
        overflow: Overflow,
        budget: Option<&BodyBudget>,
    ) -> Result<ReadBody, FetchFailure> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = Url::parse("http://example.test/page").unwrap();
        read_body(response, max, overflow, deadline, budget, &url).await
    }

    /// Reads a `len`-byte body within `budget`, capped at `max`.
    async fn read_within(
        budget: &BodyBudget,
        len: usize,
        max: u64,
        overflow: Overflow,
    ) -> Result<ReadBody, FetchFailure> {
        read(response(len), max, overflow, Some(budget)).await
    }

    // Paused clock: the 50 ms the second read is given passes on virtual time, at once.
    #[tokio::test(start_paused = true)]
    async fn a_body_holds_its_share_of_the_budget_until_its_last_copy_is_dropped() {
        let budget = BodyBudget::new(100 * 1024);
        let first = read_within(&budget, 60 * 1024, 1 << 20, Overflow::Fail)
            .await
            .unwrap();
        assert_eq!(first.body.len(), 60 * 1024);
        assert_eq!(budget.free_bytes(), 40 * 1024);

        // A second body of the same size does not fit: it waits, unread, for the first.
        let second = read_within(&budget, 60 * 1024, 1 << 20, Overflow::Fail);
        tokio::pin!(second);
        let copy = first.body.clone();
        drop(first);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), &mut second)
                .await
                .is_err(),
            "a copy of the first body still holds its share"
        );
        drop(copy);
        let second = second.await.unwrap();
        assert!(second.body.to_vec().iter().all(|&b| b == 7));
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
        assert_eq!(read.body.len(), 40 * 1024);
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
        assert_eq!(prefix.body.len(), 10 * 1024);
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
}
