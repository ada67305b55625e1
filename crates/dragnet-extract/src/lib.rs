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
//! | [`items`](ItemRules) | structured items from the same parse: [`ItemRules`] (`--item`, `--extract name=CSS[@attr]`), [`extract_with_items`] → [`Extracted::items`] ([`Item`]) |
//! | [`canon`](Canonicalizer) | URL identity for dedup: [`Canonicalizer::key`], [`canonical_key`] |
//! | [`naming`](file_name) | saved file names that can never leave the output folder: [`file_name`], [`with_collision_suffix`] |
//! | [`scope`](Scope) | which discovered links may be followed: [`Scope`], [`registrable_domain`] |
//! | [`robots`](Robots) | robots.txt per RFC 9309 with Google's matching: [`Robots`], [`RobotsStatus`] (what a fetch outcome means), [`robots_url`], [`product_token`] |
//! | [`sitemap`](parse_sitemap) | sitemaps, indexes and text lists, gzip'd or not, size- and count-capped: [`parse_sitemap`] → [`ParsedSitemap`] |
//! | [`traps`](TrapGuard) | crawler-trap guards on a URL's shape: [`TrapGuard::check`] → [`TrapReason`] with a stable label |
//! | [`error`](ExtractError) | [`ExtractError`], only for user configuration (selectors, scope names) |
//!
//! Parsing goes through a private `parse` module that drives html5ever with a nesting-depth cap
//! (512, like Blink): deeply nested hostile markup is otherwise quadratic to parse.
//!
//! Bad input is data, not an error: unusable links are skipped and counted, undecodable bytes
//! become U+FFFD, and no function here panics on any input.
//!
//! The reference job, end to end:
//!
//! ```
//! use dragnet_extract::{LinkSelector, Scope, canonical_key, extract_bytes, file_name};
//! use url::Url;
//!
//! let page = Url::parse("https://en.wikipedia.org/wiki/List_of_countries")?;
//! let body = br#"<table><tr><td><span class="flagicon"><img src="cn.svg"></span>
//!     <a href="/wiki/China#top">China</a></td><td><a href="/wiki/Note">n</a></td></tr></table>"#;
//! let follow = LinkSelector::parse("td .flagicon + a")?;
//! let found = extract_bytes(body, Some("text/html"), &page, &follow);
//! assert_eq!(found.links.len(), 1);
//! let china = &found.links[0];
//! assert_eq!(china.as_str(), "https://en.wikipedia.org/wiki/China#top"); // requested as found
//! assert_eq!(canonical_key(china), "https://en.wikipedia.org/wiki/China"); // deduped on this
//! assert!(Scope::Host.allows(&page, china));
//! assert_eq!(file_name(china, true), "China.html");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

mod canon;
mod error;
mod html;
mod items;
mod links;
mod naming;
mod parse;
mod robots;
mod scope;
mod sitemap;
mod sniff;
mod traps;

pub use canon::{Canonicalizer, canonical_key};
pub use error::ExtractError;
pub use html::{SNIFF_LIMIT, decode_html, is_html};
pub use items::{Item, ItemRules, MAX_FIELD_NAME_LEN, RESERVED_FIELD_NAMES};
pub use links::{
    Extracted, LinkSelector, MAX_LINK_LEN, extract, extract_bytes, extract_bytes_with_items,
    extract_with_items,
};
pub use naming::{
    MAX_MIRROR_DEPTH, file_name, folder_index_name, mirror_path, with_collision_suffix,
};
pub use robots::{ROBOTS_MAX_BYTES, Robots, RobotsStatus, product_token, robots_url};
pub use scope::{Scope, registrable_domain};
pub use sitemap::{
    ParsedSitemap, SITEMAP_MAX_BYTES, SITEMAP_MAX_URLS, Sitemap, SitemapError, SitemapUrl,
    parse_sitemap,
};
pub use sniff::{BINARY_SNIFF_LIMIT, sniff_binary};
pub use traps::{TrapGuard, TrapReason};
