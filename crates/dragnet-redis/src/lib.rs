//! The distributed frontier of dragnet: many worker processes, on any machines, share one
//! crawl through Redis.
//!
//! [`RedisFrontier`] implements [`dragnet::frontier::Frontier`] and passes the shared
//! conformance suite. What it adds over a Redis list (the scrapy-redis design):
//!
//! - **Nothing is lost when a worker dies.** A URL is handed out on a lease with an expiry kept
//!   in Redis time. Expired leases go back to the head of their queue at the next `lease` or
//!   `counts` call from any worker. A live worker keeps its leases with a heartbeat task.
//! - **A result is recorded once.** Each lease has a fresh fencing token; `complete` and
//!   `release` refuse a token that is no longer current, so a stalled worker's late answer is
//!   dropped ([`FrontierError::StaleLease`](dragnet::frontier::FrontierError::StaleLease)).
//! - **Politeness holds across the fleet.** At most [`RedisOptions::per_host_leases`] live
//!   leases per host, fleet-wide, and optionally a pause ([`RedisOptions::host_delay`]) between
//!   one lease of a host ending and the next starting.
//! - **Dedup is shared**, on 64-bit fingerprints of canonical keys (~8-10 bytes per URL).
//! - **One round trip per state change**: every operation is one Lua script. A page costs one
//!   `complete` call plus its share of one `lease` call.
//! - **Redis restarts are survived**: calls that meet a broken connection are retried with
//!   backoff for [`RedisOptions::reconnect_for`]; a retried `complete` whose first attempt had
//!   landed replays its answer instead of reporting a stale lease.
//!
//! # Key layout
//!
//! Every key of job `J` starts with `dragnet:{J}:`. The braces are a Redis Cluster hash tag:
//! only `J` is hashed, so all of a job's keys live in one slot and every Lua script touches a
//! single node. Several jobs share one Redis without seeing each other.
//!
//! | key (after the prefix) | type | holds |
//! |---|---|---|
//! | `seen:<b>` | SET of integers | 64-bit fingerprints of canonical keys; `b` is the top 16 bits |
//! | `q:<host>` | LIST | queued entries of one host, FIFO (reclaimed and released ones go first) |
//! | `ready` | ZSET host → turn | hosts with queued work that may be leased now, in turn order |
//! | `delayed` | ZSET host → ms | hosts with queued work waiting out the politeness delay |
//! | `next` | HASH host → ms | when an idle host may next be leased (only with a host delay) |
//! | `active` | HASH host → n | live leases per host, fleet-wide |
//! | `lease` | HASH token → `host\tentry` | every live lease |
//! | `lease_exp` | ZSET token → ms | when each live lease expires (Redis clock) |
//! | `token`, `turn` | STRING | counters: fencing tokens, host turn order |
//! | `counts` | HASH | `queued`, `leased`, `done`, `failed`, `reclaimed` |
//! | `failures` | HASH reason → n | failed URLs by reason |
//! | `claimed` | HASH fingerprint → fingerprint | redirect targets (in `seen`, never queued) → the URL whose redirect reached them |
//! | `ack:<token>` | STRING, expires | the answer to a completion, so a retried call after a lost reply replays it |
//! | `workers` | SET | worker ids that registered |
//! | `worker:<id>` | STRING, expires | a live worker's heartbeat (value: leases it holds) |
//! | `drain`, `settings` | STRING | the drain flag; the seeding command's settings (JSON) |
//!
//! # Costs (measured, Redis 7.0 on loopback)
//!
//! - **Round trips**: 1.06 script calls per page (one `complete` each, one `lease` per batch of
//!   16); ~42 Redis commands per page run inside those scripts when every page links to 10
//!   URLs (`tests/ops.rs`). A heartbeat adds one call per worker per third of the lease TTL.
//! - **Memory**: the seen set costs 15.9 bytes per URL at 1 M URLs (8 bytes per fingerprint plus
//!   the fixed cost of 65,536 bucket keys, ~7.6 MB), tending to ~9 bytes per URL up to ~33 M
//!   URLs. A queued URL costs ~75 bytes more (its entry: fingerprint, depth and the URL as
//!   found), released when it is leased. Each completion leaves a ~100-byte replay marker
//!   for two minutes (longer with a longer `reconnect_for`).
//!
//! # Operating notes
//!
//! - Redis 6.2 or newer; in a cluster, a job lives on the node that owns its slot.
//! - `maxmemory-policy noeviction`: an evicting Redis silently drops frontier keys.
//! - `appendonly yes`. With `appendfsync everysec` a crash of Redis itself can forget up to a
//!   second of completions, whose URLs are then fetched again; `always` forgets none.
//! - Beyond ~33 M URLs per job, raise `set-max-intset-entries` (e.g. 4096) to keep seen
//!   buckets packed; otherwise they turn into hash tables one by one (~60 bytes per URL).
//! - Fencing tokens are per job: a lease must go back to the job it came from.
#![deny(missing_docs)]

mod entry;
mod frontier;
mod retry;
mod scripts;
mod status;
#[cfg(feature = "testing")]
pub mod testing;

use std::time::Duration;

use dragnet_extract::Canonicalizer;

pub use frontier::RedisFrontier;
pub use status::{HostState, HostStatus, RedisJobStatus, WorkerStatus};

/// How a [`RedisFrontier`] behaves. Every worker of a job should use the same values (the CLI
/// shares them through the job's saved settings).
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Dedup keys. Must be the same for every worker of a job.
    pub canon: Canonicalizer,
    /// How long a lease lives without renewal. The heartbeat renews every third of it, so a
    /// worker's URLs return to the queue at most this long after it dies. Also the longest
    /// Redis outage a worker rides out without its leases being reclaimed.
    pub lease_ttl: Duration,
    /// The most live leases one host may have across the whole fleet (1: one request at a
    /// time per host, the polite default).
    pub per_host_leases: usize,
    /// Fleet-wide pause between a lease of a host ending and the next lease of that host
    /// starting (zero: none; the worker's own per-host delay then only spaces its own requests).
    pub host_delay: Duration,
    /// This worker's name in the job's status. Unique per process.
    pub worker_id: String,
    /// How long an operation keeps retrying while Redis is unreachable before it fails with
    /// `FrontierError::Storage`.
    pub reconnect_for: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            canon: Canonicalizer::new(),
            lease_ttl: Duration::from_secs(30),
            per_host_leases: 1,
            host_delay: Duration::ZERO,
            worker_id: default_worker_id(),
            reconnect_for: Duration::from_secs(60),
        }
    }
}

/// `HOSTNAME-pid-random`: unique per process even when many start on one machine at once.
fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".to_owned());
    let suffix: u16 = rand::random();
    format!("{host}-{}-{suffix:04x}", std::process::id())
}
