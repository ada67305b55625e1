//! robots.txt and the pages robots and scope tests crawl: the configured, failing and
//! oversized robots.txt; `/robots-test/`, `/private/…`, `/late/…`; and redirects out of scope.

use std::sync::OnceLock;

use bytes::Bytes;
use http::StatusCode;

use crate::config::SiteConfig;
use crate::response::{Routed, TEXT};
use crate::text::escape;

/// How much of a robots.txt RFC 9309 asks a crawler to read at least (500 KiB).
pub const ROBOTS_READ_LIMIT: usize = 500 * 1024;

/// Placeholder in [`SiteConfig::robots_txt`] replaced by the serving host's origin.
pub(crate) const ORIGIN_PLACEHOLDER: &str = "{origin}";

/// The valid start of an oversized robots.txt.
const OVERSIZED_PREFIX: &str = "User-agent: *\nDisallow: /private/\n";
/// The rule that appears only after [`ROBOTS_READ_LIMIT`] bytes.
const LATE_RULE: &str = "Disallow: /late/\n";
/// Length of one filler comment line, newline included.
const FILLER_LINE: usize = 64;

/// Where the redirect out of scope points: a port where nothing listens.
pub(crate) const OUT_OF_SCOPE_TARGET: &str = "http://127.0.0.1:1/elsewhere";

/// The robots.txt response of the host at `origin`: `robots_status` first, then
/// `robots_bytes` (the body is generated into `oversized` on first use), then `robots_txt`
/// (with `{origin}` replaced by `origin`), else 404.
pub(crate) fn robots_response(
    config: &SiteConfig,
    origin: &str,
    oversized: &OnceLock<Bytes>,
) -> Routed {
    if let Some(code) = config.robots_status {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Routed::text(status, format!("robots.txt answers {}\n", status.as_u16()));
    }
    if let Some(bytes) = config.robots_bytes {
        return Routed::ok(
            TEXT,
            oversized.get_or_init(|| self::oversized(bytes)).clone(),
        );
    }
    match &config.robots_txt {
        Some(robots) => Routed::ok(TEXT, robots.replace(ORIGIN_PLACEHOLDER, origin)),
        None => Routed::not_found(),
    }
}

/// An oversized robots.txt of exactly `bytes` bytes: `User-agent: *` / `Disallow: /private/`,
/// then comment lines, with `Disallow: /late/` starting at the first line boundary at or past
/// [`ROBOTS_READ_LIMIT`] when `bytes` leaves room for it, then comment lines to the end.
pub(crate) fn oversized(bytes: usize) -> Bytes {
    let mut out = String::with_capacity(bytes + FILLER_LINE);
    out.push_str(OVERSIZED_PREFIX);
    let mut late_done = false;
    let mut line = 0u64;
    while out.len() < bytes {
        if !late_done && out.len() >= ROBOTS_READ_LIMIT {
            late_done = true;
            if out.len() + LATE_RULE.len() <= bytes {
                out.push_str(LATE_RULE);
                continue;
            }
        }
        let start = out.len();
        out.push_str(&format!("# filler line {line:08}, nothing to see here "));
        line += 1;
        while out.len() - start < FILLER_LINE - 1 {
            out.push('.');
        }
        out.push('\n');
    }
    out.truncate(bytes);
    Bytes::from(out)
}

/// The pages of robots and scope tests, `None` for any other path.
pub(crate) fn route(path: &str) -> Option<Routed> {
    match path {
        "/robots-test/" => {
            return Some(Routed::html(link_page(
                "Robots test",
                &[
                    "/private/a",
                    "/private/b",
                    "/late/c",
                    "/files/ok1",
                    "/files/ok2",
                    "/robots-test/deeper",
                ],
            )));
        }
        "/robots-test/deeper" => {
            return Some(Routed::html(link_page(
                "Robots test, deeper",
                &["/robots-test/"],
            )));
        }
        "/redirect-out" => return Some(Routed::redirect(OUT_OF_SCOPE_TARGET.to_owned())),
        "/redirect-private" => return Some(Routed::redirect("/private/x".to_owned())),
        _ => {}
    }
    for area in ["/private/", "/late/"] {
        if path.starts_with(area) {
            return Some(Routed::html(link_page(
                &format!("Area {}", escape(path)),
                &["/robots-test/"],
            )));
        }
    }
    None
}

/// A small HTML page titled `title` (already escaped) linking to `links`.
fn link_page(title: &str, links: &[&str]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n"
    );
    for link in links {
        let link = escape(link);
        out.push_str(&format!("<li><a href=\"{link}\">{link}</a></li>\n"));
    }
    out.push_str("</ul>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_has_exact_length_and_a_late_rule() {
        for bytes in [10, 1_000, ROBOTS_READ_LIMIT, 520_000, 1 << 20] {
            let body = oversized(bytes);
            assert_eq!(body.len(), bytes);
            let text = std::str::from_utf8(&body).expect("ascii");
            let late = text.find(LATE_RULE);
            if bytes >= 520_000 {
                let at = late.expect("late rule present");
                assert!(at >= ROBOTS_READ_LIMIT, "{at}");
                assert!(text[..at].ends_with('\n'));
                assert_eq!(text.matches("Disallow").count(), 2);
            } else {
                assert_eq!(late, None);
            }
        }
        let head = oversized(2_000);
        assert!(head.starts_with(OVERSIZED_PREFIX.as_bytes()));
        let text = std::str::from_utf8(&head).expect("ascii");
        assert!(text.lines().skip(2).all(|l| l.starts_with('#')));
    }

    #[test]
    fn robots_precedence() {
        let oversized = OnceLock::new();
        let mut config = SiteConfig {
            robots_txt: Some("Sitemap: {origin}/sitemap.xml\n".to_owned()),
            ..SiteConfig::default()
        };
        let r = robots_response(&config, "http://h:1", &oversized);
        assert_eq!(
            (r.status, r.body.as_ref()),
            (
                StatusCode::OK,
                b"Sitemap: http://h:1/sitemap.xml\n".as_slice()
            )
        );
        config.robots_bytes = Some(600_000);
        assert_eq!(robots_response(&config, "", &oversized).body.len(), 600_000);
        config.robots_status = Some(503);
        assert_eq!(
            robots_response(&config, "", &oversized).status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        config.robots_status = Some(99);
        assert_eq!(
            robots_response(&config, "", &oversized).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let none = robots_response(&SiteConfig::default(), "", &oversized);
        assert_eq!(none.status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn robots_test_pages_link_as_documented() {
        let page = route("/robots-test/").expect("page");
        let html = std::str::from_utf8(&page.body).expect("utf-8");
        for link in [
            "/private/a",
            "/private/b",
            "/late/c",
            "/files/ok1",
            "/files/ok2",
            "/robots-test/deeper",
        ] {
            assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
        }
        let deeper = route("/robots-test/deeper").expect("page");
        assert!(
            std::str::from_utf8(&deeper.body)
                .expect("utf-8")
                .contains("href=\"/robots-test/\"")
        );
        assert_eq!(route("/private/x/y").expect("page").status, StatusCode::OK);
        assert_eq!(route("/late/c").expect("page").status, StatusCode::OK);
        assert_eq!(route("/robots-test").map(|r| r.status), None);
        let out = route("/redirect-out").expect("redirect");
        assert_eq!(out.location.as_deref(), Some(OUT_OF_SCOPE_TARGET));
        let private = route("/redirect-private").expect("redirect");
        assert_eq!(private.location.as_deref(), Some("/private/x"));
    }
}
