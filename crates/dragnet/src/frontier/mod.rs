//! The frontier owns URL identity and state.
//!
//! A URL is `queued → leased → done | failed`. Dedup is on a canonical key
//! ([`dragnet_extract::Canonicalizer`]); the URL as found is what gets requested. Every
//! backend implements [`Frontier`] and must pass [`conformance`]. Backends: [`MemoryFrontier`]
//! (tests and runs that need no resume); on-disk and Redis backends plug into the same seam.

pub mod conformance;
mod disk;
mod memory;

use std::future::Future;

use serde::Serialize;

pub use disk::{DB_FILE, DiskFrontier, JobStatus};
pub use memory::MemoryFrontier;

use crate::request::CrawlRequest;

/// A frontier backend failed (storage, connection). The crawl cannot continue safely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrontierError {
    /// The lease was not the current one for its URL: it was completed or released already,
    /// or reclaimed and handed to someone else. Its result must not be recorded.
    #[error("stale lease for {key} (token {token})")]
    StaleLease {
        /// The canonical key.
        key: String,
        /// The token presented.
        token: u64,
    },
    /// The backend's storage failed.
    #[error("frontier storage failed: {0}")]
    Storage(String),
}

/// A queued request handed out for fetching. Only the holder of the current token may
/// complete or release it (a fencing token: a late answer from a stale holder is refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What to fetch.
    pub request: CrawlRequest,
    /// The canonical key the frontier knows it by.
    pub key: String,
    /// The fencing token of this lease.
    pub token: u64,
}

/// How a leased URL ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched and processed.
    Done {
        /// Attempts it took (1 = first try).
        attempts: u32,
    },
    /// Given up on; the reason is a short stable label such as `http_404` or `timeout`.
    Failed {
        /// Why.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// How many URLs are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FrontierCounts {
    /// Waiting to be leased.
    pub queued: u64,
    /// Handed out, not yet completed.
    pub leased: u64,
    /// Completed successfully.
    pub done: u64,
    /// Completed as failed.
    pub failed: u64,
}

impl FrontierCounts {
    /// Nothing queued and nothing leased: the crawl is over.
    pub fn is_finished(&self) -> bool {
        self.queued == 0 && self.leased == 0
    }

    /// Every distinct URL the frontier has seen.
    pub fn seen(&self) -> u64 {
        self.queued + self.leased + self.done + self.failed
    }
}

/// The contract every frontier backend keeps. Checked by [`conformance`].
///
/// Methods are async because real backends do I/O; all of them must be safe to call from
/// many tasks at once.
pub trait Frontier: Send + Sync + 'static {
    /// Queues the requests whose canonical key was never seen before. Returns how many
    /// were new; the others are duplicates and are dropped.
    fn add(
        &self,
        requests: Vec<CrawlRequest>,
    ) -> impl Future<Output = Result<u64, FrontierError>> + Send;

    /// Leases up to `max` queued requests, taking hosts in turn so one large host does not
    /// crowd out the rest. An empty answer means nothing is leasable right now: nothing is
    /// queued, or (for a shared frontier) the queued hosts are held back by fleet-wide
    /// politeness; [`Frontier::counts`] tells which.
    fn lease(&self, max: usize) -> impl Future<Output = Result<Vec<Lease>, FrontierError>> + Send;

    /// Records the outcome of a lease and queues what it discovered, in one step: after a
    /// crash either both are recorded or neither. Returns how many discovered requests were
    /// new.
    ///
    /// # Errors
    /// [`FrontierError::StaleLease`] when the lease is no longer current; nothing is
    /// recorded then.
    fn complete(
        &self,
        lease: &Lease,
        outcome: Outcome,
        discovered: Vec<CrawlRequest>,
    ) -> impl Future<Output = Result<u64, FrontierError>> + Send;

    /// Marks `target`, reached by following a redirect from `lease`'s URL, as seen, so that
    /// a link to it found later is a duplicate: its body is then fetched once, and saved
    /// under the name of the URL that reached it first. Returns `false` when `target` is
    /// already known, under its own entry (queued, leased, done or failed) or claimed by
    /// another URL's redirect: the caller does not follow the redirect then (the target is,
    /// or was, fetched on its own). Claiming again for the same key (a retry, or the same
    /// URL after a resume) returns `true`, as does a target whose key is the lease's own.
    /// A claimed target is never queued and is not in [`Frontier::counts`].
    ///
    /// The default claims nothing and returns `true`: a backend without claims fetches a
    /// page reached both by a redirect and by a link twice, as before.
    fn claim_redirect(
        &self,
        lease: &Lease,
        target: &url::Url,
    ) -> impl Future<Output = Result<bool, FrontierError>> + Send {
        let _ = (lease, target);
        std::future::ready(Ok(true))
    }

    /// Puts a leased request back in the queue without an outcome (the crawl is stopping).
    ///
    /// # Errors
    /// [`FrontierError::StaleLease`] when the lease is no longer current.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), FrontierError>> + Send;

    /// How many URLs are in each state.
    fn counts(&self) -> impl Future<Output = Result<FrontierCounts, FrontierError>> + Send;

    /// Whether the state outlives the process (a job can resume). The pipeline then writes
    /// a URL's record out of the process before completing it, so a done URL is never
    /// missing from the outputs after a crash.
    fn is_durable(&self) -> bool {
        false
    }

    /// Whether other processes lease from the same frontier. The scheduler then leases only
    /// what it can start now: a lease held in a local buffer would keep another worker from
    /// the host (per-host limits are fleet-wide) until it expired.
    fn is_shared(&self) -> bool {
        false
    }
}
