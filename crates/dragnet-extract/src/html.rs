//! Bytes to text: character-encoding detection and "is this HTML?".
//!
//! html5ever (through scraper) only accepts `&str`, so every body is decoded first. The order
//! follows the WHATWG "determine the character encoding" algorithm, minus the parts that need a
//! browser (parent frames, user overrides): byte-order mark, then the transport layer
//! (Content-Type), then the `<meta>` prescan, then a default. The default is UTF-8 with lossy
//! replacement rather than the locale-dependent windows-1252, because most of today's web is UTF-8
//! and a wrong single-byte guess garbles every non-ASCII link, while lossy UTF-8 only garbles the
//! invalid bytes.

use std::borrow::Cow;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252, X_USER_DEFINED};

/// How many bytes the `<meta>` prescan looks at (the WHATWG value).
const PRESCAN_LIMIT: usize = 1024;

/// How far the second, late-`<meta>` prescan may look (it also stops at `<body`). Browsers honour
/// a `<meta charset>` anywhere in the head by re-decoding ("change the encoding"); real pages put
/// it after 1 KB of scripts often enough (2 of the 8 non-UTF-8 pages in the shared corpus, one at
/// 58 KB) that one prescan of the first 1024 bytes is not enough.
const LATE_PRESCAN_LIMIT: usize = 64 * 1024;

/// How many leading bytes `is_html` examines when sniffing (the WHATWG resource header size).
pub const SNIFF_LIMIT: usize = 1445;

/// Decodes an HTML body: BOM first, then the Content-Type charset, then a `<meta charset>` /
/// `http-equiv` prescan of the first 1024 bytes, then UTF-8 (lossy). Returns the text and the
/// encoding name used (encoding_rs's canonical name, e.g. `"UTF-8"`, `"windows-1252"`).
///
/// When the first 1024 bytes declare nothing, the prescan goes on through the head (up to
/// `<body` or 64 KiB), because browsers also honour a late `<meta>` there.
///
/// Never fails: undecodable bytes become U+FFFD. Borrows from `body` when it is valid UTF-8 (or
/// ASCII in an ASCII-compatible encoding), so the common case copies nothing.
pub fn decode_html<'a>(body: &'a [u8], content_type: Option<&str>) -> (Cow<'a, str>, &'static str) {
    let (text, encoding) = decode(body, content_type);
    (text, encoding.name())
}

/// [`decode_html`], returning the encoding itself: the extractor needs it to encode query strings
/// the way a browser would on a non-UTF-8 page.
pub(crate) fn decode<'a>(
    body: &'a [u8],
    content_type: Option<&str>,
) -> (Cow<'a, str>, &'static Encoding) {
    if let Some((encoding, bom_len)) = Encoding::for_bom(body) {
        let (text, _had_errors) = encoding.decode_without_bom_handling(&body[bom_len..]);
        return (text, encoding);
    }
    let encoding = content_type
        .and_then(charset_from_content_type)
        .or_else(|| prescan(&body[..body.len().min(PRESCAN_LIMIT)], false))
        .or_else(|| prescan(&body[..body.len().min(LATE_PRESCAN_LIMIT)], true))
        .unwrap_or(UTF_8);
    let (text, _had_errors) = encoding.decode_without_bom_handling(body);
    (text, encoding)
}

/// True when the body should be parsed as HTML: the Content-Type essence is `text/html` or
/// `application/xhtml+xml`; when there is no (or an empty) Content-Type, the first bytes are
/// sniffed for a tag an HTML document starts with (WHATWG MIME sniffing, HTML patterns).
pub fn is_html(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type.map(mime_essence) {
        Some(essence) if !essence.is_empty() => {
            essence.eq_ignore_ascii_case("text/html")
                || essence.eq_ignore_ascii_case("application/xhtml+xml")
        }
        _ => sniff_html(body),
    }
}

/// The `type/subtype` part of a Content-Type value, trimmed.
fn mime_essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// WHATWG "rules for identifying an unknown MIME type", the HTML rows only.
fn sniff_html(body: &[u8]) -> bool {
    // Tags that, as the first thing in a resource, mean HTML. Each must be followed by a space or
    // `>` so that e.g. `<bold>` or `<ab>` do not count.
    const PATTERNS: [&[u8]; 17] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
    ];
    let head = &body[..body.len().min(SNIFF_LIMIT)];
    // A UTF-8 BOM is not whitespace, but a document starting with one is still HTML.
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' '))
        .unwrap_or(head.len());
    let head = &head[start..];
    PATTERNS.iter().any(|pattern| {
        head.len() > pattern.len()
            && head[..pattern.len()].eq_ignore_ascii_case(pattern)
            && matches!(head[pattern.len()], b' ' | b'>')
    })
}

/// The encoding named by the `charset` parameter of a Content-Type value, if it is a known label.
fn charset_from_content_type(content_type: &str) -> Option<&'static Encoding> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
        Encoding::for_label(value.as_bytes())
    })
}

/// A cursor over the prescan window. Every read is bounds-checked: running off the end ends the
/// prescan with no result, as the spec requires.
struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn starts_with_ci(&self, pattern: &[u8]) -> bool {
        self.bytes
            .get(self.pos..self.pos + pattern.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(pattern))
    }

    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
    }

    /// Moves just past the next occurrence of `needle`, or to the end.
    fn skip_past(&mut self, needle: &[u8]) {
        match self.bytes[self.pos..]
            .windows(needle.len())
            .position(|w| w == needle)
        {
            Some(i) => self.pos += i + needle.len(),
            None => self.pos = self.bytes.len(),
        }
    }

    /// WHATWG "get an attribute": returns (lowercased name, value) or None at `>` / end.
    fn attribute(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.skip_while(|b| is_space(b) || b == b'/');
        let mut name = Vec::new();
        loop {
            let b = self.peek()?;
            match b {
                b'>' if name.is_empty() => return None,
                b'=' if !name.is_empty() => break,
                b'>' | b'/' => return Some((name, Vec::new())),
                b if is_space(b) => {
                    self.skip_while(is_space);
                    if self.peek()? != b'=' {
                        return Some((name, Vec::new()));
                    }
                    break;
                }
                b => name.push(b.to_ascii_lowercase()),
            }
            self.pos += 1;
        }
        // At '='.
        self.pos += 1;
        self.skip_while(is_space);
        let mut value = Vec::new();
        match self.peek()? {
            quote @ (b'"' | b'\'') => {
                self.pos += 1;
                loop {
                    let b = self.peek()?;
                    self.pos += 1;
                    if b == quote {
                        return Some((name, value));
                    }
                    value.push(b.to_ascii_lowercase());
                }
            }
            b'>' => Some((name, value)),
            _ => loop {
                // `?`: an unquoted value running into the end of the window aborts, like the
                // quoted case, so a value cut at byte 1024 is never used.
                let b = self.peek()?;
                if is_space(b) || b == b'>' {
                    return Some((name, value));
                }
                value.push(b.to_ascii_lowercase());
                self.pos += 1;
            },
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0C' | b'\r' | b' ')
}

/// WHATWG "prescan a byte stream to determine its encoding", over an already truncated window;
/// with `head_only`, it also gives up at the first `<body` tag.
fn prescan(bytes: &[u8], head_only: bool) -> Option<&'static Encoding> {
    let mut scan = Scan { bytes, pos: 0 };
    while scan.pos < bytes.len() {
        if scan.starts_with_ci(b"<!--") {
            scan.pos += 2; // `<!-->` closes itself: the `--` may be shared.
            scan.skip_past(b"-->");
        } else if scan.starts_with_ci(b"<meta")
            && bytes
                .get(scan.pos + 5)
                .is_some_and(|&b| is_space(b) || b == b'/')
        {
            scan.pos += 6;
            if let Some(encoding) = meta_encoding(&mut scan) {
                return Some(encoding);
            }
        } else if scan.starts_with_ci(b"<")
            && (bytes.get(scan.pos + 1).is_some_and(u8::is_ascii_alphabetic)
                || (bytes.get(scan.pos + 1) == Some(&b'/')
                    && bytes.get(scan.pos + 2).is_some_and(u8::is_ascii_alphabetic)))
        {
            // Some other tag: skip its name and attributes so that a `<meta` inside an
            // attribute value is not mistaken for a tag.
            let name_start = scan.pos + 1;
            scan.skip_while(|b| !is_space(b) && b != b'>');
            if head_only && bytes[name_start..scan.pos].eq_ignore_ascii_case(b"body") {
                return None;
            }
            while scan.attribute().is_some() {}
            scan.pos += 1;
        } else if scan.starts_with_ci(b"<!")
            || scan.starts_with_ci(b"</")
            || scan.starts_with_ci(b"<?")
        {
            scan.skip_past(b">");
        } else {
            scan.pos += 1;
        }
    }
    None
}

/// The attribute loop of the prescan for one `<meta>` tag.
fn meta_encoding(scan: &mut Scan<'_>) -> Option<&'static Encoding> {
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut got_pragma = false;
    let mut need_pragma: Option<bool> = None;
    let mut charset: Option<&'static Encoding> = None;
    while let Some((name, value)) = scan.attribute() {
        if seen.contains(&name) {
            continue;
        }
        match name.as_slice() {
            b"http-equiv" => got_pragma |= value == b"content-type",
            b"content" if charset.is_none() => {
                if let Some(label) = charset_from_meta_content(&value) {
                    charset = Encoding::for_label(label);
                    need_pragma = Some(true);
                }
            }
            b"charset" => {
                charset = Encoding::for_label(&value);
                need_pragma = Some(false);
            }
            _ => {}
        }
        seen.push(name);
    }
    // A tag cut off by the end of the window: the spec aborts the prescan.
    scan.peek()?;
    match need_pragma {
        None => return None,
        Some(true) if !got_pragma => return None,
        _ => {}
    }
    // A page cannot declare itself UTF-16 in ASCII bytes; the spec maps these two as below.
    charset.map(|encoding| {
        if encoding == UTF_16BE || encoding == UTF_16LE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        }
    })
}

/// WHATWG "extracting character encodings from a meta element" (`content="text/html; charset=x"`).
fn charset_from_meta_content(content: &[u8]) -> Option<&[u8]> {
    let mut rest = content;
    loop {
        let at = rest
            .windows(7)
            .position(|w| w.eq_ignore_ascii_case(b"charset"))?;
        rest = &rest[at + 7..];
        let after_space = rest.iter().position(|&b| !is_space(b))?;
        if rest[after_space] != b'=' {
            // Not `charset=`: keep looking after this occurrence.
            continue;
        }
        rest = &rest[after_space + 1..];
        let start = rest.iter().position(|&b| !is_space(b))?;
        rest = &rest[start..];
        return match rest[0] {
            quote @ (b'"' | b'\'') => {
                let end = rest[1..].iter().position(|&b| b == quote)?;
                Some(&rest[1..1 + end])
            }
            _ => {
                let end = rest
                    .iter()
                    .position(|&b| is_space(b) || b == b';')
                    .unwrap_or(rest.len());
                Some(&rest[..end])
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_borrowed_and_named() {
        let (text, name) = decode_html(b"<p>caf\xC3\xA9</p>", None);
        assert_eq!(text, "<p>café</p>");
        assert!(matches!(text, Cow::Borrowed(_)));
        assert_eq!(name, "UTF-8");
    }

    #[test]
    fn utf8_bom_is_removed_and_wins_over_content_type() {
        let body = b"\xEF\xBB\xBF<p>caf\xC3\xA9</p>";
        let (text, name) = decode_html(body, Some("text/html; charset=windows-1252"));
        assert_eq!(text, "<p>café</p>");
        assert_eq!(name, "UTF-8");
    }

    #[test]
    fn utf16le_bom() {
        let mut body = vec![0xFF, 0xFE];
        for unit in "<p>é</p>".encode_utf16() {
            body.extend_from_slice(&unit.to_le_bytes());
        }
        let (text, name) = decode_html(&body, None);
        assert_eq!(text, "<p>é</p>");
        assert_eq!(name, "UTF-16LE");
    }

    #[test]
    fn windows_1252_via_meta_charset() {
        let body =
            b"<!doctype html><html><head><meta charset=\"windows-1252\"><title>Caf\xE9</title>";
        let (text, name) = decode_html(body, None);
        assert_eq!(name, "windows-1252");
        assert!(text.contains("Café"));
    }

    #[test]
    fn latin1_via_http_equiv() {
        let body = b"<html><head><META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=ISO-8859-1'>\xE9";
        let (text, name) = decode_html(body, Some("text/html"));
        // iso-8859-1 is a label of windows-1252 in the Encoding Standard.
        assert_eq!(name, "windows-1252");
        assert!(text.ends_with('é'));
    }

    #[test]
    fn http_equiv_content_without_pragma_is_ignored() {
        let body = b"<meta content='text/html; charset=iso-8859-1'>\xC3\xA9";
        assert_eq!(decode_html(body, None).1, "UTF-8");
    }

    #[test]
    fn shift_jis_via_content_type_beats_meta() {
        // "日本" in Shift_JIS.
        let body = b"<meta charset=utf-8><p>\x93\xFA\x96\x7B</p>";
        let (text, name) = decode_html(body, Some("text/html; Charset=\"Shift_JIS\""));
        assert_eq!(name, "Shift_JIS");
        assert!(text.contains("日本"));
    }

    #[test]
    fn meta_in_comment_or_attribute_or_late_is_ignored() {
        let body = b"<!-- <meta charset=windows-1252> --><div title='<meta charset=koi8-r>'>";
        assert_eq!(decode_html(body, None).1, "UTF-8");
    }

    #[test]
    fn late_meta_in_the_head_counts_but_not_in_the_body() {
        let script = format!("<script>{}</script>", "x".repeat(5000));
        let late = format!("<html><head>{script}<meta charset=windows-1252></head><body>");
        assert_eq!(decode_html(late.as_bytes(), None).1, "windows-1252");
        let in_body = format!("<html><head>{script}</head><body><meta charset=windows-1252>");
        assert_eq!(decode_html(in_body.as_bytes(), None).1, "UTF-8");
        let mut too_late = vec![b' '; LATE_PRESCAN_LIMIT];
        too_late.extend_from_slice(b"<meta charset=windows-1252>");
        assert_eq!(decode_html(&too_late, None).1, "UTF-8");
    }

    #[test]
    fn meta_utf16_means_utf8_and_unknown_label_falls_through() {
        assert_eq!(decode_html(b"<meta charset=utf-16le>", None).1, "UTF-8");
        assert_eq!(
            decode_html(b"<meta charset=x-user-defined>", None).1,
            "windows-1252"
        );
        assert_eq!(decode_html(b"<meta charset=nonsense>", None).1, "UTF-8");
        assert_eq!(
            decode_html(b"x", Some("text/html; charset=nonsense")).1,
            "UTF-8"
        );
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (text, name) = decode_html(b"a\xFFb", None);
        assert_eq!(text, "a\u{FFFD}b");
        assert_eq!(name, "UTF-8");
    }

    #[test]
    fn truncated_prescan_inputs_do_not_panic() {
        for body in [
            &b"<meta"[..],
            b"<meta ",
            b"<meta charset",
            b"<meta charset=",
            b"<meta charset='x",
            b"<meta http-equiv=content-type content='charset=",
            b"<meta http-equiv=content-type content=\"charset='x",
            b"<!--",
            b"<a b='",
            b"</",
            b"<",
        ] {
            assert_eq!(decode_html(body, None).1, "UTF-8", "{body:?}");
        }
    }

    #[test]
    fn is_html_by_content_type_and_sniffing() {
        assert!(is_html(Some("text/html; charset=utf-8"), b""));
        assert!(is_html(Some("Application/XHTML+XML"), b""));
        assert!(!is_html(Some("application/json"), b"<html>"));
        assert!(!is_html(Some("image/png"), b"\x89PNG"));
        assert!(is_html(None, b"\n  <!DOCTYPE html><html>"));
        assert!(is_html(None, b"\xEF\xBB\xBF<html lang=en>"));
        assert!(is_html(Some(""), b"<p>hi"));
        assert!(is_html(None, b"<!-- c --><html>"));
        assert!(!is_html(None, b"<bold>"));
        assert!(!is_html(None, b"{\"a\": 1}"));
        assert!(!is_html(None, b""));
    }
}
