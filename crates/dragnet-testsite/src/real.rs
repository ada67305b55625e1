//! The real pages profile: every `*.html` file of a folder served at `/real/{file name}`,
//! with an index page `/real/` linking to all of them.
//!
//! The folder's `INDEX.json` (optional; see `shared/data/README.md`) gives each file's form
//! and declared charset. The `Content-Type` charset is what the stored bytes are in, when that
//! is known: for `raw` pages (stored as served) the declared charset; for the other forms
//! (re-serialised by the source repository and stored as UTF-8) `utf-8`. Files with no known
//! charset are sent as plain `text/html`, so clients have to sniff.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::OnceLock;

use bytes::Bytes;
use serde::Deserialize;

use crate::manifest::sha256_hex;
use crate::response::Routed;
use crate::text::{decode_path, encode_title, escape};

/// Path of the index page.
pub(crate) const INDEX_PATH: &str = "/real/";

/// One real page.
#[derive(Debug)]
struct RealPage {
    name: String,
    body: Bytes,
    content_type: String,
    site: Option<String>,
}

/// The relevant part of `INDEX.json`.
#[derive(Deserialize)]
struct IndexJson {
    files: Vec<IndexFile>,
}

#[derive(Deserialize)]
struct IndexFile {
    file: String,
    #[serde(default)]
    form: Option<String>,
    #[serde(default)]
    declared_charset: Option<String>,
    #[serde(default)]
    site: Option<String>,
}

impl IndexFile {
    /// The charset the stored bytes are in, when known.
    fn charset(&self) -> Option<&str> {
        match self.form.as_deref() {
            Some("raw") => self.declared_charset.as_deref(),
            Some(_) => Some("utf-8"),
            None => None,
        }
    }
}

/// Every page of the folder, loaded at start.
#[derive(Debug)]
pub(crate) struct RealPages {
    pages: Vec<RealPage>,
    by_name: HashMap<String, usize>,
    index: Bytes,
    hashes: OnceLock<Vec<String>>,
}

impl RealPages {
    /// Reads every `*.html` file of `dir` (sorted by name) and `dir/INDEX.json` if present.
    /// Blocking: call it off the async threads.
    pub(crate) fn load(dir: &Path) -> io::Result<RealPages> {
        let meta: HashMap<String, IndexFile> = match std::fs::read(dir.join("INDEX.json")) {
            Ok(json) => serde_json::from_slice::<IndexJson>(&json)
                .map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", dir.join("INDEX.json").display()),
                    )
                })?
                .files
                .into_iter()
                .map(|f| (f.file.clone(), f))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.ends_with(".html") && entry.file_type()?.is_file() {
                names.push(name);
            }
        }
        names.sort();
        let mut pages = Vec::with_capacity(names.len());
        for name in names {
            let body = Bytes::from(std::fs::read(dir.join(&name))?);
            let info = meta.get(&name);
            let content_type = match info.and_then(IndexFile::charset) {
                Some(charset) => format!("text/html; charset={charset}"),
                None => "text/html".to_owned(),
            };
            pages.push(RealPage {
                site: info.and_then(|i| i.site.clone()),
                name,
                body,
                content_type,
            });
        }
        Ok(RealPages::from_pages(pages))
    }

    fn from_pages(pages: Vec<RealPage>) -> RealPages {
        RealPages {
            index: Bytes::from(index_page(&pages)),
            by_name: pages
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.clone(), i))
                .collect(),
            pages,
            hashes: OnceLock::new(),
        }
    }

    /// The path of every page (index excluded), in name order.
    pub(crate) fn page_paths(&self) -> impl Iterator<Item = String> + '_ {
        self.pages.iter().map(|p| page_path(&p.name))
    }

    /// The index page and the pages, `None` for any other path.
    pub(crate) fn route(&self, path: &str) -> Option<Routed> {
        if path == INDEX_PATH {
            return Some(Routed::html(self.index.clone()));
        }
        let name = decode_path(path.strip_prefix(INDEX_PATH)?);
        let page = &self.pages[*self.by_name.get(&name)?];
        Some(Routed::ok(page.content_type.clone(), page.body.clone()))
    }

    /// `(path, sha256 hex, bytes, kind)` for the index (`"list"`) and every page (`"real"`).
    /// The first call hashes every page.
    pub(crate) fn manifest_entries(&self) -> Vec<(String, String, u64, &'static str)> {
        let hashes = self
            .hashes
            .get_or_init(|| self.pages.iter().map(|p| sha256_hex(&p.body)).collect());
        let mut out = Vec::with_capacity(self.pages.len() + 1);
        out.push((
            INDEX_PATH.to_owned(),
            sha256_hex(&self.index),
            self.index.len() as u64,
            "list",
        ));
        for (page, hash) in self.pages.iter().zip(hashes) {
            out.push((
                page_path(&page.name),
                hash.clone(),
                page.body.len() as u64,
                "real",
            ));
        }
        out
    }
}

/// `/real/{name}`, percent-encoded.
fn page_path(name: &str) -> String {
    format!("{INDEX_PATH}{}", encode_title(name))
}

/// The index page: one link per page.
fn index_page(pages: &[RealPage]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Real pages</title></head>\n<body>\n<h1>Real pages</h1>\n<p>{} pages.</p>\n<ul>\n",
        pages.len()
    );
    for page in pages {
        out.push_str(&format!(
            "<li><a href=\"{}\">{}</a>",
            escape(&page_path(&page.name)),
            escape(&page.name)
        ));
        if let Some(site) = &page.site {
            out.push_str(&format!(" ({})", escape(site)));
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::HTML;

    fn page(name: &str, body: &str, content_type: &str) -> RealPage {
        RealPage {
            name: name.to_owned(),
            body: Bytes::from(body.to_owned()),
            content_type: content_type.to_owned(),
            site: Some("example.org".to_owned()),
        }
    }

    #[test]
    fn routes_and_manifest() {
        let r = RealPages::from_pages(vec![
            page("001-a.html", "<p>a", HTML),
            page("002-b c.html", "<p>b", "text/html; charset=iso-8859-1"),
        ]);
        let paths: Vec<String> = r.page_paths().collect();
        assert_eq!(paths, ["/real/001-a.html", "/real/002-b%20c.html"]);
        let index = r.route("/real/").expect("index");
        let html = std::str::from_utf8(&index.body).expect("utf-8");
        assert!(html.contains("<a href=\"/real/002-b%20c.html\">002-b c.html</a> (example.org)"));
        let b = r.route("/real/002-b%20c.html").expect("page");
        assert_eq!(
            (b.content_type.as_ref(), b.body.as_ref()),
            ("text/html; charset=iso-8859-1", b"<p>b".as_slice())
        );
        assert!(r.route("/real/003.html").is_none());
        assert!(r.route("/other").is_none());
        let m = r.manifest_entries();
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].0.as_str(), m[0].3), ("/real/", "list"));
        assert_eq!(
            (m[1].0.as_str(), m[1].2, m[1].3),
            ("/real/001-a.html", 4, "real")
        );
    }

    #[test]
    fn charset_follows_the_stored_bytes() {
        let file = |form: Option<&str>, cs: Option<&str>| IndexFile {
            file: String::new(),
            form: form.map(str::to_owned),
            declared_charset: cs.map(str::to_owned),
            site: None,
        };
        assert_eq!(
            file(Some("raw"), Some("windows-1250")).charset(),
            Some("windows-1250")
        );
        assert_eq!(file(Some("raw"), None).charset(), None);
        assert_eq!(
            file(Some("normalized"), Some("gb2312")).charset(),
            Some("utf-8")
        );
        assert_eq!(file(None, Some("utf-8")).charset(), None);
    }
}
