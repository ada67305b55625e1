//! Sitemaps: `/sitemap.xml`, its gzip twin `/sitemap.xml.gz`, and `/sitemap_index.xml`
//! pointing at `/sitemaps/part-1.xml` and `/sitemaps/part-2.xml.gz`, which split the same
//! URLs in two halves.
//!
//! Each host lists its own pages (absolute URLs with its port): the 233 country pages, the
//! first [`WEB_SITEMAP_MAX`] web pages living on that host, or every real page. The first URL,
//! in part 1, is [`ENTITY_URL_PATH`], whose `&` is written `&amp;` in the XML.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;

use crate::countries::country_names;
use crate::response::{GZIP, Routed, XML};
use crate::server::Content;
use crate::text::encode_title;

/// Web pages a host's sitemap lists at most.
pub(crate) const WEB_SITEMAP_MAX: u64 = 1_000;

/// A URL with two query parameters, to exercise `&amp;` in sitemaps (served by `/files/`).
pub(crate) const ENTITY_URL_PATH: &str = "/files/sitemap?x=1&y=2";

const URLSET_OPEN: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n";
const LASTMOD: &str = "2024-07-01";

/// The sitemaps of one host, rendered once.
#[derive(Debug)]
pub(crate) struct Sitemaps {
    urls: Vec<String>,
    sitemap: Bytes,
    sitemap_gz: Bytes,
    index: Bytes,
    part1: Bytes,
    part2_gz: Bytes,
}

/// The paths a host's sitemaps list, in order.
pub(crate) fn paths_for(content: &Content, host: usize) -> Vec<String> {
    let mut paths = vec![ENTITY_URL_PATH.to_owned()];
    match content {
        Content::Countries(_) => paths.extend(
            country_names()
                .iter()
                .map(|t| format!("/wiki/{}", encode_title(t))),
        ),
        // Page `id` lives on host `id % hosts`.
        Content::Web(w) => paths.extend(
            (host as u64..w.pages())
                .step_by(w.hosts())
                .take(WEB_SITEMAP_MAX as usize)
                .map(|id| format!("/p/{id}")),
        ),
        Content::Real(r) => paths.extend(r.page_paths()),
    }
    paths
}

impl Sitemaps {
    /// The sitemaps of the host at `origin` (`http://127.0.0.1:PORT`) listing `paths`.
    pub(crate) fn build(origin: &str, paths: &[String]) -> Sitemaps {
        let urls: Vec<String> = paths.iter().map(|p| format!("{origin}{p}")).collect();
        let half = urls.len().div_ceil(2);
        let sitemap = urlset(&urls);
        let index = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n<sitemap><loc>{origin}/sitemaps/part-1.xml</loc><lastmod>{LASTMOD}</lastmod></sitemap>\n<sitemap><loc>{origin}/sitemaps/part-2.xml.gz</loc><lastmod>{LASTMOD}</lastmod></sitemap>\n</sitemapindex>\n"
        );
        Sitemaps {
            sitemap_gz: gzip(sitemap.as_bytes()),
            sitemap: Bytes::from(sitemap),
            index: Bytes::from(index),
            part1: Bytes::from(urlset(&urls[..half])),
            part2_gz: gzip(urlset(&urls[half..]).as_bytes()),
            urls,
        }
    }

    /// Every URL listed, in order.
    pub(crate) fn urls(&self) -> &[String] {
        &self.urls
    }

    /// The sitemap documents, `None` for any other path.
    pub(crate) fn route(&self, path: &str) -> Option<Routed> {
        let (content_type, body) = match path {
            "/sitemap.xml" => (XML, &self.sitemap),
            "/sitemap.xml.gz" => (GZIP, &self.sitemap_gz),
            "/sitemap_index.xml" => (XML, &self.index),
            "/sitemaps/part-1.xml" => (XML, &self.part1),
            "/sitemaps/part-2.xml.gz" => (GZIP, &self.part2_gz),
            _ => return None,
        };
        Some(Routed::ok(content_type, body.clone()))
    }
}

/// Whether `path` is one of the sitemap documents.
pub(crate) fn is_sitemap_path(path: &str) -> bool {
    path.starts_with("/sitemap")
}

/// A `<urlset>` listing `urls`.
fn urlset(urls: &[String]) -> String {
    let mut out = String::with_capacity(URLSET_OPEN.len() + urls.len() * 100 + 16);
    out.push_str(URLSET_OPEN);
    for url in urls {
        out.push_str("<url><loc>");
        push_xml_escaped(&mut out, url);
        out.push_str("</loc><lastmod>");
        out.push_str(LASTMOD);
        out.push_str("</lastmod></url>\n");
    }
    out.push_str("</urlset>\n");
    out
}

/// Appends `s` escaped for XML text, as the sitemaps protocol asks.
fn push_xml_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
}

/// `data` as one gzip member.
fn gzip(data: &[u8]) -> Bytes {
    let mut enc = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    // Writing into a Vec never fails, so neither does compressing into one.
    enc.write_all(data).expect("writing into a Vec cannot fail");
    Bytes::from(enc.finish().expect("writing into a Vec cannot fail"))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

    fn gunzip(data: &[u8]) -> String {
        let mut out = String::new();
        GzDecoder::new(data)
            .read_to_string(&mut out)
            .expect("valid gzip");
        out
    }

    fn locs(xml: &str) -> Vec<String> {
        xml.split("<loc>")
            .skip(1)
            .filter_map(|r| r.split("</loc>").next())
            .map(|l| l.replace("&amp;", "&"))
            .collect()
    }

    #[test]
    fn documents_agree() {
        let paths: Vec<String> = [ENTITY_URL_PATH, "/a", "/b", "/c", "/d"]
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        let s = Sitemaps::build("http://h:1", &paths);
        assert_eq!(s.urls()[0], "http://h:1/files/sitemap?x=1&y=2");
        let body = |p: &str| s.route(p).expect("a sitemap").body;
        let plain = String::from_utf8(body("/sitemap.xml").to_vec()).expect("utf-8");
        assert!(plain.contains("<loc>http://h:1/files/sitemap?x=1&amp;y=2</loc>"));
        assert_eq!(locs(&plain), s.urls());
        assert_eq!(gunzip(&body("/sitemap.xml.gz")), plain);
        let index = String::from_utf8(body("/sitemap_index.xml").to_vec()).expect("utf-8");
        assert_eq!(
            locs(&index),
            [
                "http://h:1/sitemaps/part-1.xml",
                "http://h:1/sitemaps/part-2.xml.gz"
            ]
        );
        let part1 = String::from_utf8(body("/sitemaps/part-1.xml").to_vec()).expect("utf-8");
        assert!(part1.contains("&amp;"));
        let mut joined = locs(&part1);
        assert_eq!(joined.len(), 3);
        joined.extend(locs(&gunzip(&body("/sitemaps/part-2.xml.gz"))));
        assert_eq!(joined, s.urls());
        assert_eq!(
            s.route("/sitemap.xml.gz").map(|r| r.content_type),
            Some(GZIP.into())
        );
        assert!(s.route("/sitemaps/part-3.xml").is_none());
    }
}
