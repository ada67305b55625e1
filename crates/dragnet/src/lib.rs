//! dragnet: a web crawler and scraper that fetches concurrently and parses in parallel.
//!
//! The stages, in the order a URL meets them:
//!
//! ```text
//!  seeds ─► Frontier ─► Scheduler ─► Fetcher ─────► Processor ─────► Sinks
//!           (dedup,     (gate: global (async I/O,   (rayon pool:     (files,
//!            state)      + per-host    retries,      decode, links,   pages log)
//!                        limits)       capped body)  sha256)
//!      ▲                                                  │ new links
//!      └──────────────────────────────────────────────────┘
//! ```
//!
//! - [`frontier`]: URL identity and state (`queued → leased → done | failed`), one trait with
//!   an in-memory backend and a [`frontier::conformance`] suite every backend must pass.
//! - [`fetch`]: the HTTP client, retries with backoff, and the one capped body path.
//! - [`process`]: synchronous CPU work, run on the rayon pool, never on the async threads.
//! - [`sink`]: outputs, each on its own thread behind a bounded channel.
//! - [`pipeline`]: [`Crawler`] wires the stages together.
//! - [`stats`] and [`report`]: live counters and the final [`Summary`].
//!
//! The library never prints and never exits: a failed URL is data in the summary and the
//! pages log, and only fatal problems (bad configuration, an output that cannot be written)
//! come back as [`Error`].
#![deny(missing_docs)]

pub mod config;
pub mod control;
pub mod error;
pub mod fetch;
pub mod frontier;
pub mod gate;
pub mod links;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod request;
pub mod robots;
pub mod scope;
pub mod seed;
pub mod sink;
pub mod stats;
pub mod testing;

pub use config::Config;
pub use dragnet_extract::{LinkSelector, Scope};
pub use error::Error;
pub use pipeline::Crawler;
pub use report::Summary;
pub use request::CrawlRequest;
