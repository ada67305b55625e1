//! Link selection: one parse of a page, then the followed links, `<base>`, canonical link and
//! title from that one parse.
//!
//! scraper's `Html` is `!Send`, so it never leaves [`extract`]: callers get owned data only
//! (research pitfall 1). The selector type is `Send + Sync` and meant to be parsed once per crawl.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::LazyLock;

use encoding_rs::Encoding;
use scraper::{ElementRef, Html, Selector};
use url::{EncodingOverride, ParseOptions, Url};

use crate::error::ExtractError;
use crate::html::decode;
use crate::items::{Item, ItemRules};
use crate::parse::{MAX_DEPTH, parse_document};

/// The selector behind [`LinkSelector::all_links`].
const ALL_LINKS_CSS: &str = "a[href], area[href]";

/// Longest link (in bytes, as written in the page) that is followed. Longer ones are skipped and
/// counted: few servers accept URLs that long, and a hostile page could otherwise push megabyte URLs into
/// the frontier.
pub const MAX_LINK_LEN: usize = 8 * 1024;

/// The HTML namespace: `<title>`, `<base>` and `<link>` only count there (an SVG `<title>` is not
/// the page title).
const HTML_NS: &str = "http://www.w3.org/1999/xhtml";

static ALL_LINKS: LazyLock<LinkSelector> = LazyLock::new(|| {
    // Invariant: a constant, known-good selector; the unit tests parse it too.
    LinkSelector::parse(ALL_LINKS_CSS).expect("the all-links selector is valid CSS")
});

/// A compiled CSS selector choosing which elements' links to follow.
///
/// Full CSS selector syntax as scraper supports it, including the `+` and `~` combinators
/// (`td .flagicon + a`). Cheap to clone; `Send + Sync`, so one can be shared by a whole pool.
#[derive(Clone, Debug)]
pub struct LinkSelector {
    selector: Selector,
    source: String,
}

impl LinkSelector {
    /// Compiles `css`, keeping the text for messages and reports.
    pub fn parse(css: &str) -> Result<Self, ExtractError> {
        let selector = Selector::parse(css).map_err(|e| ExtractError::Selector {
            selector: css.to_owned(),
            message: e.to_string(),
        })?;
        Ok(Self {
            selector,
            source: css.to_owned(),
        })
    }

    /// Every hyperlink: `a[href], area[href]`.
    pub fn all_links() -> Self {
        ALL_LINKS.clone()
    }

    /// The selector text as given to [`LinkSelector::parse`].
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl FromStr for LinkSelector {
    type Err = ExtractError;

    fn from_str(css: &str) -> Result<Self, Self::Err> {
        Self::parse(css)
    }
}

/// Everything taken from one parse of a page.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extracted {
    /// Links of the elements the selector matched, in document order, resolved against the
    /// document's base URL exactly as a browser would (fragment kept; removing it is the
    /// canonicaliser's job). Only `http`/`https`. Duplicates are kept: the frontier dedups.
    pub links: Vec<Url>,
    /// The first usable `<link rel=canonical href>`, resolved.
    pub canonical: Option<Url>,
    /// The `<base href>` the links were resolved against, if the page had a usable one.
    pub base: Option<Url>,
    /// The first `<title>`'s text with whitespace collapsed; `None` when absent or blank.
    pub title: Option<String>,
    /// Matched elements that yielded no followable link: no `href`/`src`, an unparsable URL, a
    /// non-HTTP scheme (`javascript:`, `mailto:`, `data:`, `tel:`, ...), or longer than
    /// [`MAX_LINK_LEN`].
    pub skipped_links: u64,
    /// Start tags ignored to keep parsing linear: those that would nest elements more than 512
    /// deep (as browsers cap it), and all after the page created more elements than it has bytes.
    /// Zero on real pages; non-zero marks a hostile or broken page.
    pub dropped_deep_tags: u64,
    /// Items found by the [`ItemRules`] given to [`extract_with_items`] (empty otherwise).
    pub items: Vec<Item>,
}

/// Parses once and extracts everything from that one parse.
///
/// Links: for each element matched by `follow`, take its `href` (a, area, link) or, if it has
/// none, its `src` (img, script, iframe, ...); resolve it against the first `<base href>` (itself resolved against `page_url`) or `page_url`, after
/// trimming surrounding whitespace as browsers do. Query strings are UTF-8 encoded; use
/// [`extract_bytes`] to get a browser's behaviour on non-UTF-8 pages.
pub fn extract(html: &str, page_url: &Url, follow: &LinkSelector) -> Extracted {
    extract_with_encoding(html, page_url, Some(follow), None, None)
}

/// Convenience: [`decode_html`](crate::decode_html) + [`extract`].
///
/// Also encodes the query part of links in the page's encoding, as browsers do: `?q=é` on a
/// windows-1252 page is requested as `?q=%E9`, which is what that server expects.
pub fn extract_bytes(
    body: &[u8],
    content_type: Option<&str>,
    page_url: &Url,
    follow: &LinkSelector,
) -> Extracted {
    let (text, encoding) = decode(body, content_type);
    extract_with_encoding(&text, page_url, Some(follow), None, Some(encoding))
}

/// One parse for links (when `follow` is given) and items (when `items` is given); see
/// [`extract`] and [`ItemRules`]. URL fields resolve like links.
pub fn extract_with_items(
    html: &str,
    page_url: &Url,
    follow: Option<&LinkSelector>,
    items: Option<&ItemRules>,
) -> Extracted {
    extract_with_encoding(html, page_url, follow, items, None)
}

/// [`decode_html`](crate::decode_html) + [`extract_with_items`], with the page's encoding
/// for query strings as in [`extract_bytes`].
pub fn extract_bytes_with_items(
    body: &[u8],
    content_type: Option<&str>,
    page_url: &Url,
    follow: Option<&LinkSelector>,
    items: Option<&ItemRules>,
) -> Extracted {
    let (text, encoding) = decode(body, content_type);
    extract_with_encoding(&text, page_url, follow, items, Some(encoding))
}

fn extract_with_encoding(
    html: &str,
    page_url: &Url,
    follow: Option<&LinkSelector>,
    items: Option<&ItemRules>,
    encoding: Option<&'static Encoding>,
) -> Extracted {
    let (doc, dropped_deep_tags) = parse_document(html, MAX_DEPTH);
    // The URL parser takes the query encoder as a trait object. UTF-8 (the parser's own default)
    // and the UTF-16s (whose output encoding is UTF-8) need none.
    let query_encoding = encoding
        .map(Encoding::output_encoding)
        .filter(|&e| e != encoding_rs::UTF_8);
    let encoding = query_encoding.unwrap_or(encoding_rs::UTF_8);
    let encode: &dyn Fn(&str) -> Cow<'_, [u8]> = &move |s: &str| encoding.encode(s).0;
    let encode_query: EncodingOverride<'_> = query_encoding.map(|_| encode);

    let head = HeadInfo::scan(&doc);
    let base = head
        .base_href
        .and_then(|href| resolve(options(page_url, encode_query), href));
    let base_url = base.as_ref().unwrap_or(page_url);
    let resolve_here = |href| resolve(options(base_url, encode_query), href);

    let mut out = Extracted {
        canonical: head.canonical_hrefs.into_iter().find_map(resolve_here),
        title: head.title,
        dropped_deep_tags,
        ..Extracted::default()
    };
    for element in follow.into_iter().flat_map(|f| doc.select(&f.selector)) {
        let href = element.attr("href").or_else(|| element.attr("src"));
        match href.and_then(resolve_here) {
            Some(url) => out.links.push(url),
            None => out.skipped_links += 1,
        }
    }
    if let Some(rules) = items {
        // Item URLs keep any scheme (a `mailto:` field is data, not a link to follow).
        let resolve_any = |href: &str| options(base_url, encode_query).parse(href).ok();
        out.items = rules.extract(&doc, &resolve_any);
    }
    out.base = base;
    out
}

/// Parse options resolving against `base`, with the page's query encoder if it needs one.
fn options<'a>(base: &'a Url, encode_query: EncodingOverride<'a>) -> ParseOptions<'a> {
    Url::options()
        .base_url(Some(base))
        .encoding_override(encode_query)
}

/// Resolves one attribute value to a followable URL, or `None` (skipped).
fn resolve(options: ParseOptions<'_>, href: &str) -> Option<Url> {
    // HTML strips leading and trailing ASCII whitespace from URL attributes; the URL parser then
    // drops tabs and newlines inside (`java\nscript:` is still `javascript:`).
    let href = href.trim_matches(|c: char| c.is_ascii_whitespace());
    if href.len() > MAX_LINK_LEN {
        return None;
    }
    let url = options.parse(href).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

/// The document-level facts, found in one walk of the element tree.
struct HeadInfo<'a> {
    base_href: Option<&'a str>,
    /// Every `<link rel=canonical>` href in order: the first one that resolves wins.
    canonical_hrefs: Vec<&'a str>,
    title: Option<String>,
}

impl<'a> HeadInfo<'a> {
    fn scan(doc: &'a Html) -> Self {
        let mut info = HeadInfo {
            base_href: None,
            canonical_hrefs: Vec::new(),
            title: None,
        };
        let mut seen_title = false;
        for element in doc.root_element().descendent_elements() {
            let name = &element.value().name;
            if &*name.ns != HTML_NS {
                continue;
            }
            match &*name.local {
                // The first <base> *with an href* sets the base URL (HTML "frozen base URL").
                "base" if info.base_href.is_none() => info.base_href = element.attr("href"),
                "link" if is_canonical(&element) => {
                    if let Some(href) = element.attr("href") {
                        info.canonical_hrefs.push(href);
                    }
                }
                "title" if !seen_title => {
                    seen_title = true;
                    info.title = collapse_whitespace(&element.text().collect::<String>());
                }
                _ => {}
            }
        }
        info
    }
}

/// `rel` is a set of space-separated, ASCII case-insensitive tokens.
fn is_canonical(element: &ElementRef<'_>) -> bool {
    element.attr("rel").is_some_and(|rel| {
        rel.split_ascii_whitespace()
            .any(|token| token.eq_ignore_ascii_case("canonical"))
    })
}

/// `document.title`'s rule: strip and collapse ASCII whitespace. Blank becomes `None`.
fn collapse_whitespace(text: &str) -> Option<String> {
    let collapsed = text.split_ascii_whitespace().collect::<Vec<_>>().join(" ");
    (!collapsed.is_empty()).then_some(collapsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://en.wikipedia.org/wiki/List_of_countries?x=1#top").unwrap()
    }

    fn links(html: &str, css: &str) -> Vec<String> {
        let selector = LinkSelector::parse(css).unwrap();
        extract(html, &page(), &selector)
            .links
            .iter()
            .map(Url::to_string)
            .collect()
    }

    #[test]
    fn selector_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<LinkSelector>();
        check::<Extracted>();
        assert_eq!(LinkSelector::all_links().as_str(), ALL_LINKS_CSS);
    }

    #[test]
    fn resolves_relative_parent_protocol_relative_and_absolute() {
        let html = r#"<a href="China">1</a><a href="../w/index.php?a=b">2</a>
            <a href="//upload.example.org/x.png">3</a><a href="http://other.example/">4</a>
            <a href="/wiki/India#History">5</a><a href="?page=2">6</a><a href="">7</a>"#;
        assert_eq!(
            links(html, "a"),
            [
                "https://en.wikipedia.org/wiki/China",
                "https://en.wikipedia.org/w/index.php?a=b",
                "https://upload.example.org/x.png",
                "http://other.example/",
                "https://en.wikipedia.org/wiki/India#History",
                "https://en.wikipedia.org/wiki/List_of_countries?page=2",
                "https://en.wikipedia.org/wiki/List_of_countries?x=1",
            ]
        );
    }

    #[test]
    fn whitespace_in_href_is_trimmed_and_inner_newlines_dropped() {
        let html = "<a href=\"  \n /wiki/Chi\nna \t\">x</a>";
        assert_eq!(links(html, "a"), ["https://en.wikipedia.org/wiki/China"]);
    }

    #[test]
    fn base_href_relative_and_absolute() {
        let relative = r#"<head><base href="/other/dir/"><base href="/ignored/"></head>
            <a href="x">x</a>"#;
        let out = extract(relative, &page(), &LinkSelector::all_links());
        assert_eq!(
            out.base.unwrap().as_str(),
            "https://en.wikipedia.org/other/dir/"
        );
        assert_eq!(
            out.links[0].as_str(),
            "https://en.wikipedia.org/other/dir/x"
        );

        let absolute = r#"<base target="_blank"><base href="https://cdn.example/b/c">
            <a href="d">x</a><a href="/e">y</a>"#;
        let out = extract(absolute, &page(), &LinkSelector::all_links());
        assert_eq!(out.base.unwrap().as_str(), "https://cdn.example/b/c");
        let got: Vec<_> = out.links.iter().map(Url::as_str).collect();
        assert_eq!(got, ["https://cdn.example/b/d", "https://cdn.example/e"]);
    }

    #[test]
    fn unusable_base_is_ignored() {
        let html = r#"<base href="javascript:void(0)"><a href="x">x</a>"#;
        let out = extract(html, &page(), &LinkSelector::all_links());
        assert_eq!(out.base, None);
        assert_eq!(out.links[0].as_str(), "https://en.wikipedia.org/wiki/x");
    }

    #[test]
    fn non_http_links_are_skipped_and_counted() {
        let html = r#"<a href="javascript:alert(1)">1</a><a href=" JavaScript:x">2</a>
            <a href="mailto:a@b.c">3</a><a href="data:text/html,hi">4</a><a href="tel:123">5</a>
            <a href="http://[::1">6</a><a href="https://ok.example/">7</a><a name="anchor">8</a>"#;
        let out = extract(html, &page(), &LinkSelector::parse("a").unwrap());
        assert_eq!(out.links.len(), 1);
        assert_eq!(out.links[0].as_str(), "https://ok.example/");
        assert_eq!(out.skipped_links, 7);
        // all_links only matches elements with an href, so the bare anchor is not counted.
        let out = extract(html, &page(), &LinkSelector::all_links());
        assert_eq!(out.skipped_links, 6);
    }

    #[test]
    fn overlong_links_are_skipped() {
        let html = format!("<a href=\"/{}\">x</a>", "a".repeat(MAX_LINK_LEN));
        let out = extract(&html, &page(), &LinkSelector::all_links());
        assert!(out.links.is_empty());
        assert_eq!(out.skipped_links, 1);
    }

    #[test]
    fn src_is_used_when_there_is_no_href() {
        let html = r#"<link href="/c.css"><body><img src="/a.png"><script src="s.js"></script>"#;
        assert_eq!(
            links(html, "img, script, link"),
            [
                "https://en.wikipedia.org/c.css",
                "https://en.wikipedia.org/a.png",
                "https://en.wikipedia.org/wiki/s.js",
            ]
        );
    }

    #[test]
    fn flagicon_adjacent_sibling_selects_only_country_links() {
        let html = r##"<table class="wikitable"><tbody>
            <tr><th>Rank</th><th>Country</th><th>Population</th></tr>
            <tr><td>1</td><td><span class="flagicon"><img src="cn.png"></span> <a href="/wiki/China">China</a></td>
                <td>1,411,750,000</td><td><a href="/wiki/Census">census</a><a href="#cite_note-1">[1]</a></td></tr>
            <tr><td>2</td><td><span class="flagicon"><img src="in.png"></span>&nbsp;<a href="/wiki/India">India</a>
                <a href="/wiki/Note">note</a></td><td><a href="/wiki/Estimate">est</a></td></tr>
            <tr><td>3</td><td><a href="/wiki/No_flag">No flag</a></td></tr>
            </tbody></table><p><span class="flagicon"></span> <a href="/wiki/Not_in_td">x</a></p>"##;
        assert_eq!(
            links(html, "td .flagicon + a"),
            [
                "https://en.wikipedia.org/wiki/China",
                "https://en.wikipedia.org/wiki/India",
            ]
        );
    }

    #[test]
    fn general_sibling_combinator() {
        let html = r#"<div><h2>T</h2><a href="/before">b</a><hr><p><a href="/nested">n</a></p>
            <a href="/one">1</a><span></span><a href="/two">2</a></div>"#;
        assert_eq!(
            links(html, "hr ~ a"),
            [
                "https://en.wikipedia.org/one",
                "https://en.wikipedia.org/two"
            ]
        );
    }

    #[test]
    fn invalid_selector_is_an_error_naming_it() {
        let err = LinkSelector::parse("td ++ a").unwrap_err();
        let ExtractError::Selector { selector, message } = &err else {
            panic!("wrong error: {err:?}");
        };
        assert_eq!(selector, "td ++ a");
        assert!(!message.is_empty());
        assert!(
            err.to_string()
                .starts_with("invalid CSS selector \"td ++ a\": ")
        );
        assert!("a[".parse::<LinkSelector>().is_err());
        assert!(LinkSelector::parse("").is_err());
    }

    #[test]
    fn canonical_and_title() {
        let html = r#"<html><head><title>
              Population   of
            countries </title>
            <link rel="alternate" href="/alt"><link rel="Shortlink CANONICAL" href="/wiki/Canon">
            <link rel="canonical" href="/second"></head>
            <body><svg><title>not this</title></svg></body></html>"#;
        let out = extract(html, &page(), &LinkSelector::all_links());
        assert_eq!(out.title.as_deref(), Some("Population of countries"));
        assert_eq!(
            out.canonical.unwrap().as_str(),
            "https://en.wikipedia.org/wiki/Canon"
        );
        let out = extract("<title> </title><p>x", &page(), &LinkSelector::all_links());
        assert_eq!(out, Extracted::default());
    }

    #[test]
    fn extract_bytes_decodes_and_encodes_queries_like_a_browser() {
        let body = b"<meta charset=windows-1252><title>Caf\xE9</title><a href='/s?q=\xE9'>\xE9</a>";
        let out = extract_bytes(body, None, &page(), &LinkSelector::all_links());
        assert_eq!(out.title.as_deref(), Some("Café"));
        assert_eq!(out.links[0].as_str(), "https://en.wikipedia.org/s?q=%E9");
        // The same link in a UTF-8 page (or through `extract`) is UTF-8 encoded.
        let out = extract("<a href='/s?q=é'>", &page(), &LinkSelector::all_links());
        assert_eq!(out.links[0].as_str(), "https://en.wikipedia.org/s?q=%C3%A9");
    }

    #[test]
    fn deep_nesting_is_capped_not_quadratic() {
        // Without the cap this page takes seconds to parse (quadratic in the depth).
        let html = format!(
            "<a href='/shallow'>s</a>{}<a href='/deep'>x</a>",
            "<div>".repeat(50_000)
        );
        let out = extract(
            &html,
            &page(),
            &LinkSelector::parse("div > a, body > a").unwrap(),
        );
        let got: Vec<_> = out.links.iter().map(Url::path).collect();
        assert_eq!(got, ["/shallow"]);
        assert_eq!(out.dropped_deep_tags, 50_000 - 510 + 1);
        assert_eq!(out.skipped_links, 0);
    }
}
