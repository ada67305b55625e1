//! Seeds beyond the command line: sitemaps and sitemap indexes (`--sitemap`), and the
//! `Sitemap:` lines of the seed hosts' robots.txt (`--sitemaps`).

use std::collections::{HashSet, VecDeque};

use dragnet_extract::{SITEMAP_MAX_BYTES, Sitemap, parse_sitemap};
use url::Url;

use crate::fetch::body::decode_body;
use crate::fetch::{Fetcher, FollowAll};
use crate::robots::RobotsCache;

/// Sitemap files read at most per crawl (an index of indexes could otherwise go on forever).
pub const MAX_SITEMAP_FILES: usize = 1000;
/// Seed URLs taken from sitemaps at most; the rest are dropped with a warning. Keeps the
/// start of a crawl bounded in memory (50,000 files × 50,000 URLs would be 2.5 billion).
pub const MAX_SITEMAP_SEEDS: usize = 1_000_000;

/// What reading the sitemaps gave.
#[derive(Debug, Default)]
pub struct SitemapSeeds {
    /// Page URLs, in the order found, without duplicates.
    pub urls: Vec<Url>,
    /// Sitemap files read.
    pub files: usize,
    /// Problems, one line each (a sitemap that failed is not fatal).
    pub problems: Vec<String>,
}

/// Reads `sitemaps` (following indexes, breadth first) and, when `robots` is given, the
/// `Sitemap:` lines of each seed host's robots.txt.
pub async fn read_sitemaps(
    fetcher: &Fetcher,
    sitemaps: &[Url],
    robots_of: Option<(&RobotsCache, &[Url])>,
) -> SitemapSeeds {
    let mut queue: VecDeque<Url> = sitemaps.iter().cloned().collect();
    if let Some((robots, seeds)) = robots_of {
        let mut hosts = HashSet::new();
        for seed in seeds
            .iter()
            .filter(|s| hosts.insert(s.origin().ascii_serialization()))
        {
            for line in robots.sitemaps(seed).await {
                match seed.join(&line) {
                    Ok(url) => queue.push_back(url),
                    Err(error) => {
                        tracing::warn!(message = "Bad Sitemap line in robots.txt.", %line, %error)
                    }
                }
            }
        }
    }
    let fetcher = fetcher.truncating(SITEMAP_MAX_BYTES);
    let mut out = SitemapSeeds::default();
    let mut seen_files = HashSet::new();
    let mut seen_urls = HashSet::new();
    while let Some(sitemap) = queue.pop_front() {
        if out.files >= MAX_SITEMAP_FILES || !seen_files.insert(sitemap.clone()) {
            continue;
        }
        out.files += 1;
        let fetched = match fetcher.fetch(&sitemap, &FollowAll).await {
            Ok(fetched) => fetched,
            Err(failure) => {
                out.problems.push(format!("sitemap {sitemap}: {failure}"));
                continue;
            }
        };
        let base = fetched.final_url.clone();
        let parsed = tokio::task::spawn_blocking(move || {
            let body = decode_body(
                fetched.raw_body.clone(),
                fetched.content_encoding(),
                SITEMAP_MAX_BYTES,
            )
            .map_err(|e| e.message)?;
            parse_sitemap(&body.contiguous(), fetched.content_type(), &base)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("sitemap parsing panicked".to_owned()));
        match parsed {
            Ok(parsed) => {
                match parsed.sitemap {
                    Sitemap::Index(children) => queue.extend(children),
                    Sitemap::Urls(entries) => {
                        for entry in entries {
                            if out.urls.len() >= MAX_SITEMAP_SEEDS {
                                out.problems.push(format!("more than {MAX_SITEMAP_SEEDS} sitemap URLs; the rest are ignored"));
                                return out;
                            }
                            if seen_urls.insert(entry.loc.clone()) {
                                out.urls.push(entry.loc);
                            }
                        }
                    }
                }
            }
            Err(message) => out.problems.push(format!("sitemap {sitemap}: {message}")),
        }
    }
    out
}
