//! The CPU stage: decode the body, hash it, parse it once and pull out links. Plain
//! synchronous code, run on the rayon pool ([`CpuPool`]) so the async threads never parse.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use dragnet_extract::{
    BINARY_SNIFF_LIMIT, Extracted, Item, ItemRules, LinkSelector, SNIFF_LIMIT,
    extract_bytes_with_items, is_html, sniff_binary,
};
use sha2::{Digest, Sha256};
use url::Url;

use crate::error::Error;
use crate::fetch::body::{Body, DecodeError, decode_body};
use crate::fetch::{FailureKind, Fetched};
use crate::stats::Stats;

/// The label of a body served as HTML whose first bytes are binary data.
pub const BINARY_AS_HTML: &str = "binary_as_html";

/// What processing a page produced. Owned data only: the parsed tree never leaves the pool
/// (scraper's `Html` is not `Send`).
#[derive(Clone, Debug)]
pub struct Processed {
    /// The body after content decoding.
    pub body: Body,
    /// sha256 of `body`, lowercase hex.
    pub sha256: String,
    /// Whether the body is HTML (decides link extraction and the saved file's extension).
    pub is_html: bool,
    /// Links selected by the follow rule, resolved, in document order.
    pub links: Vec<Url>,
    /// `<link rel=canonical>`, resolved.
    pub canonical: Option<Url>,
    /// Items extracted by the item rules.
    pub items: Vec<Item>,
    /// Why the body was not parsed although its Content-Type said HTML (`binary_as_html`).
    pub not_parsed: Option<&'static str>,
    /// Elements the follow rule matched that gave no followable link (no URL, not http(s),
    /// unparsable, or longer than 8 KiB).
    pub unusable_links: u64,
    /// Start tags the parser dropped to stay linear (nesting past 512, element budget).
    pub dropped_tags: u64,
}

/// Decodes, hashes and (when `follow` is given and the body is HTML) extracts links.
///
/// # Errors
/// A [`DecodeError`] when the content encoding cannot be undone within `max_body`.
pub fn process(
    fetched: &Fetched,
    rules: &PageRules<'_>,
    max_body: u64,
) -> Result<Processed, DecodeError> {
    let body = decode_body(
        fetched.raw_body.clone(),
        fetched.content_encoding(),
        max_body,
    )?;
    let mut hasher = Sha256::new();
    for chunk in body.chunks() {
        hasher.update(chunk);
    }
    let sha256 = hex(&hasher.finalize());
    let head = body.head(SNIFF_LIMIT.max(BINARY_SNIFF_LIMIT));
    let claimed_html = is_html(fetched.content_type(), &head);
    // Binary data labelled HTML (an image behind a default Content-Type, a hostile site) is
    // saved as it is, not parsed: the parser would spend the pool on it for garbage links.
    let binary = claimed_html.then(|| sniff_binary(&head)).flatten();
    if let Some(kind) = binary {
        tracing::debug!(message = "Binary body served as HTML; not parsed.", url = %fetched.final_url, kind);
    }
    let not_parsed = binary.map(|_| BINARY_AS_HTML);
    let html = claimed_html && binary.is_none();
    let wanted = rules.follow.is_some() || rules.items.is_some();
    let extracted = if html && wanted {
        extract_bytes_with_items(
            &body.contiguous(),
            fetched.content_type(),
            &fetched.final_url,
            rules.follow,
            rules.items,
        )
    } else {
        Extracted::default()
    };
    Ok(Processed {
        body,
        sha256,
        is_html: html,
        links: extracted.links,
        canonical: extracted.canonical,
        items: extracted.items,
        not_parsed,
        unusable_links: extracted.skipped_links,
        dropped_tags: extracted.dropped_deep_tags,
    })
}

/// What to pull out of a page, from the one parse.
#[derive(Clone, Copy, Debug, Default)]
pub struct PageRules<'a> {
    /// Links to follow (none at the crawl's last depth).
    pub follow: Option<&'a LinkSelector>,
    /// Items to extract.
    pub items: Option<&'a ItemRules>,
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The rayon pool that runs CPU work, with results handed back to async code over a
/// oneshot channel. Time spent in jobs is added to the crawl's busy counter.
#[derive(Debug)]
pub struct CpuPool {
    pool: rayon::ThreadPool,
    stats: Arc<Stats>,
}

impl CpuPool {
    pub(crate) fn new(threads: usize, stats: Arc<Stats>) -> Result<Self, Error> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("dragnet-cpu-{i}"))
            .build()
            .map_err(Error::Pool)?;
        Ok(Self { pool, stats })
    }

    /// Runs `job` on the pool and waits for it without blocking the async thread. A panic
    /// in the job (a parser bug on hostile input) becomes an error for that page, never a
    /// crash of the crawl.
    pub(crate) async fn run<T, F>(&self, job: F) -> Result<T, DecodeError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, DecodeError> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let stats = Arc::clone(&self.stats);
        stats.cpu_backlog.fetch_add(1, Ordering::Relaxed);
        self.pool.spawn(move || {
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(job)).unwrap_or_else(|_| {
                Err(DecodeError {
                    kind: FailureKind::Other,
                    message: "processing panicked".into(),
                })
            });
            stats
                .cpu_busy_nanos
                .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
            stats.cpu_backlog.fetch_sub(1, Ordering::Relaxed);
            // The receiver is gone only when the crawl was torn down; nothing to do then.
            let _ = tx.send(result);
        });
        rx.await.unwrap_or_else(|_| {
            Err(DecodeError {
                kind: FailureKind::Other,
                message: "CPU pool shut down".into(),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;
    use std::time::Duration;

    use super::*;

    fn fetched(body: &'static [u8], content_type: &str) -> Fetched {
        let url = Url::parse("http://example.test/dir/page").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("content-type", content_type.parse().unwrap());
        Fetched {
            url: url.clone(),
            final_url: url,
            status: 200,
            headers,
            raw_body: Body::from(body),
            redirects: 0,
            elapsed: Duration::ZERO,
            version: http::Version::HTTP_11,
            request_headers: HeaderMap::new(),
            remote_addr: None,
        }
    }

    #[test]
    fn hashes_and_follows_links() {
        let page = fetched(
            b"<html><body><a href='a'>a</a><a href='/b'>b</a></body></html>",
            "text/html",
        );
        let selector = LinkSelector::all_links();
        let rules = PageRules {
            follow: Some(&selector),
            items: None,
        };
        let out = process(&page, &rules, 1 << 20).unwrap();
        assert_eq!(out.sha256, hex(&Sha256::digest(page.raw_body.to_vec())));
        let links: Vec<&str> = out.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            ["http://example.test/dir/a", "http://example.test/b"]
        );
        assert!(out.is_html);
    }

    #[test]
    fn non_html_is_not_parsed() {
        let page = fetched(b"<a href='x'>not html</a>", "image/png");
        let all = LinkSelector::all_links();
        let out = process(
            &page,
            &PageRules {
                follow: Some(&all),
                items: None,
            },
            1 << 20,
        )
        .unwrap();
        assert!(out.links.is_empty());
        assert!(!out.is_html);
    }

    #[test]
    fn binary_served_as_html_is_not_parsed() {
        let all = LinkSelector::all_links();
        let rules = PageRules {
            follow: Some(&all),
            items: None,
        };
        let png = fetched(
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR<a href='/x'>x</a>",
            "text/html; charset=utf-8",
        );
        let out = process(&png, &rules, 1 << 20).unwrap();
        assert_eq!(out.links.len(), 0);
        assert!(!out.is_html);
        assert_eq!(out.not_parsed, Some(BINARY_AS_HTML));
        assert_eq!(out.body.len(), png.raw_body.len(), "saved whole");
        let nul = fetched(b"<a href='/x'>x</a>\0\0\0", "text/html");
        assert_eq!(process(&nul, &rules, 1 << 20).unwrap().links.len(), 0);
        let html = fetched(b"<a href='/x'>x</a>", "text/html");
        let out = process(&html, &rules, 1 << 20).unwrap();
        assert_eq!((out.links.len(), out.not_parsed), (1, None));
    }

    #[test]
    fn long_links_and_dropped_tags_are_counted() {
        let all = LinkSelector::all_links();
        let rules = PageRules {
            follow: Some(&all),
            items: None,
        };
        let long = format!("<a href='/{}'>long</a>", "x".repeat(9 * 1024));
        let deep = "<div>".repeat(600);
        let page = format!(
            "<a href='/ok'>ok</a>{long}<a href='mailto:x@y.test'>mail</a>{deep}<a href='/deep'>d</a>"
        );
        let body: &'static [u8] = Box::leak(page.into_bytes().into_boxed_slice());
        let out = process(&fetched(body, "text/html"), &rules, 1 << 20).unwrap();
        assert_eq!(out.links.len(), 1, "{:?}", out.links);
        assert_eq!(out.unusable_links, 2, "the 9 KiB link and the mailto");
        assert!(out.dropped_tags >= 600 - 512, "{}", out.dropped_tags);
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
    }
}
