//! The synthetic web profile: `pages` pages `/p/{id}` on `hosts` hosts, generated per request.
//!
//! Page `id` lives on host `id % hosts`. It links to `2id+1` and `2id+2` (so every page is
//! reachable from `/p/0` on host 0), to its parent, and to random pages; links to other hosts
//! are absolute, links on the same host mostly relative in several spellings.

use std::sync::Arc;

use crate::rng::{self, Rng};
use crate::text::TextPool;

const SIZE_SIGMA: f64 = 0.6;

/// The web profile's generator.
#[derive(Debug)]
pub(crate) struct Web {
    seed: u64,
    pages: u64,
    hosts: usize,
    links_per_page: usize,
    mean_page_bytes: usize,
    pool: Arc<TextPool>,
    /// `http://127.0.0.1:PORT` of each host (no trailing slash).
    origins: Vec<String>,
}

impl Web {
    /// A generator for the given shape, with one origin per host.
    pub(crate) fn new(
        seed: u64,
        pages: u64,
        links_per_page: usize,
        mean_page_bytes: usize,
        origins: Vec<String>,
    ) -> Web {
        Web {
            seed,
            pages,
            hosts: origins.len().max(1),
            links_per_page,
            mean_page_bytes: mean_page_bytes.max(256),
            pool: TextPool::for_seed(seed),
            origins,
        }
    }

    /// Number of pages.
    pub(crate) fn pages(&self) -> u64 {
        self.pages
    }

    /// Number of hosts.
    pub(crate) fn hosts(&self) -> usize {
        self.hosts
    }

    /// The host that serves page `id`.
    pub(crate) fn host_of(&self, id: u64) -> usize {
        (id % self.hosts as u64) as usize
    }

    /// The page id named by `path` if host `host` serves it.
    pub(crate) fn page_at(&self, host: usize, path: &str) -> Option<u64> {
        let id: u64 = path.strip_prefix("/p/")?.parse().ok()?;
        (id < self.pages && self.host_of(id) == host).then_some(id)
    }

    /// The absolute URL of page `id`.
    pub(crate) fn url(&self, id: u64) -> String {
        format!("{}/p/{id}", self.origins[self.host_of(id)])
    }

    /// The size the body of page `id` aims at.
    pub(crate) fn target_size(&self, id: u64) -> usize {
        let mean = self.mean_page_bytes as f64;
        let median = mean * (-SIZE_SIGMA * SIZE_SIGMA / 2.0).exp();
        let mut r = Rng::new(rng::key(self.seed, id, 0x5123, 0));
        r.lognormal_size(
            median,
            SIZE_SIGMA,
            (self.mean_page_bytes / 8).max(256),
            self.mean_page_bytes * 8,
        )
    }

    /// The ids page `id` links to, in page order (may repeat).
    pub(crate) fn link_targets(&self, id: u64) -> Vec<u64> {
        let mut out = Vec::with_capacity(self.links_per_page + 2);
        for child in [2 * id + 1, 2 * id + 2] {
            if child < self.pages {
                out.push(child);
            }
        }
        if id > 0 {
            out.push((id - 1) / 2);
        }
        let mut r = Rng::new(rng::key(self.seed, id, 0x1175, 0));
        while out.len() < self.links_per_page && self.pages > 1 {
            out.push(r.below(self.pages));
        }
        out
    }

    /// The body of page `id`.
    pub(crate) fn page(&self, id: u64) -> String {
        let host = self.host_of(id);
        let target = self.target_size(id);
        let mut r = Rng::new(rng::key(self.seed, id, 0x9a6e, 0));
        let mut out = String::with_capacity(target + 512);
        out.push_str(&format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Page {id}</title>\n<link rel=\"canonical\" href=\"{url}\">\n</head>\n<body>\n<header><a href=\"{home}\">Home</a></header>\n<h1>Page {id}</h1>\n<nav><ul class=\"links\">\n",
            url = self.url(id),
            home = self.url(0),
        ));
        for to in self.link_targets(id) {
            let href = if self.host_of(to) != host || r.chance(0.2) {
                self.url(to)
            } else {
                match r.below(4) {
                    0 => format!("/p/{to}"),
                    1 => to.to_string(),
                    2 => format!("./{to}"),
                    _ => format!("../p/{to}"),
                }
            };
            out.push_str(&format!("<li><a href=\"{href}\">Page {to}</a></li>\n"));
        }
        out.push_str("</ul></nav>\n<article>\n");
        let closing = "</article>\n<footer>dragnet test site</footer>\n</body>\n</html>\n";
        while out.len() + closing.len() < target {
            out.push_str("<p>");
            for _ in 0..r.range(3, 7) {
                out.push_str(self.pool.head(&mut r));
                out.push(' ');
                out.push_str(self.pool.tail(&mut r));
                out.push(' ');
            }
            out.push_str("</p>\n");
        }
        out.push_str(closing);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(pages: u64, hosts: usize) -> Web {
        let origins = (0..hosts)
            .map(|h| format!("http://127.0.0.1:{}", 9000 + h))
            .collect();
        Web::new(3, pages, 6, 4_000, origins)
    }

    #[test]
    fn every_page_reachable_from_root() {
        let w = web(1000, 3);
        let mut seen = vec![false; 1000];
        let mut stack = vec![0u64];
        seen[0] = true;
        while let Some(id) = stack.pop() {
            for to in w.link_targets(id) {
                if !seen[to as usize] {
                    seen[to as usize] = true;
                    stack.push(to);
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn sizes_center_on_mean() {
        let w = web(20_000, 1);
        let total: usize = (0..20_000).map(|id| w.target_size(id)).sum();
        let mean = total as f64 / 20_000.0;
        assert!((3_400.0..4_600.0).contains(&mean), "{mean}");
        let body = w.page(7);
        assert_eq!(body, w.page(7));
        assert!(body.len() + 100 >= w.target_size(7));
    }

    #[test]
    fn pages_live_on_their_host() {
        let w = web(10, 3);
        assert_eq!(w.page_at(1, "/p/4"), Some(4));
        assert_eq!(w.page_at(0, "/p/4"), None);
        assert_eq!(w.page_at(1, "/p/10"), None);
        assert_eq!(w.page_at(0, "/p/x"), None);
        assert_eq!(w.url(5), "http://127.0.0.1:9002/p/5");
    }
}
