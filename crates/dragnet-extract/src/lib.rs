//! Synchronous, I/O-free page processing for dragnet.
//!
//! Everything here is plain CPU work meant to run on the crawler's CPU pool, never on the async
//! runtime: it does no I/O, spawns nothing, and returns owned data (scraper's `Html` is `!Send`
//! and never escapes this crate).
//!
//! | module | concern |
//! |---|---|
//! | [`html`](decode_html) | bytes to text: BOM / Content-Type / `<meta>` charset detection, [`is_html`] |
//! | [`links`](extract) | one parse per page: [`LinkSelector`] (full CSS incl. `+`, `~`), [`extract`] → [`Extracted`] (links, base, canonical, title) |
//! | [`canon`](Canonicalizer) | URL identity for dedup: [`Canonicalizer::key`], [`canonical_key`] |
//! | [`naming`](file_name) | saved file names that can never leave the output folder: [`file_name`], [`with_collision_suffix`] |
//! | [`scope`](Scope) | which discovered links may be followed: [`Scope`], [`registrable_domain`] |
//! | [`error`](ExtractError) | [`ExtractError`], only for user configuration (selectors, scope names) |
//!
//! Bad input is data, not an error: unusable links are skipped and counted, undecodable bytes
//! become U+FFFD, and no function here panics on any input.

#![deny(missing_docs)]

mod canon;
mod error;
mod html;
mod links;
mod naming;
mod parse;
mod scope;

pub use canon::{Canonicalizer, canonical_key};
pub use error::ExtractError;
pub use html::{decode_html, is_html};
pub use links::{Extracted, LinkSelector, MAX_LINK_LEN, extract, extract_bytes};
pub use naming::{file_name, with_collision_suffix};
pub use scope::{Scope, registrable_domain};
