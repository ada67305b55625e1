//! URL identity for dedup.
//!
//! The frontier dedups on [`Canonicalizer::key`]; the URL as found is still what gets requested.
//! The rules are deliberately conservative: only spellings that every server must treat the same
//! (RFC 3986 §6.2.2 syntax-based normalisation) collapse into one key. In particular the query is
//! never form-decoded, re-encoded or sorted: `%20` and `+` and parameter order can all mean
//! something to a server (research pitfall 13).
//!
//! The `url` crate already does most of the work when a URL is parsed: scheme and host are
//! lowercased (and IDNA-mapped), the default port is dropped, dot segments are resolved and
//! characters that must be escaped are escaped. What remains is done here.

use url::{Position, Url};

/// Computes dedup keys for URLs. Cheap to clone; build one per crawl.
///
/// The key is: scheme and host lowercase, default port dropped, dot segments resolved,
/// percent-encoding normalised (hex digits uppercase, unreserved characters `A-Z a-z 0-9 - . _ ~`
/// decoded) in the path and query, fragment dropped, an empty `?` dropped, configured query
/// parameters removed, an empty path (on a URL with a host) written as `/`. The key is itself a
/// URL, and keying it again gives the same key.
#[derive(Clone, Debug, Default)]
pub struct Canonicalizer {
    /// Lowercased `*`-globs of query parameter names to remove.
    strip: Vec<String>,
}

impl Canonicalizer {
    /// The conservative default: no query parameters removed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also removes query parameters whose name matches one of `globs` (e.g. `"utm_*"`,
    /// `"sessionid"`). `*` matches any run of characters; names compare case-insensitively, after
    /// percent-encoding normalisation (so `utm%5Fsource` is `utm_source`). The remaining pairs are
    /// kept byte for byte and in order.
    pub fn strip_query_params(mut self, globs: &[&str]) -> Self {
        self.strip
            .extend(globs.iter().map(|glob| glob.to_ascii_lowercase()));
        self
    }

    /// The dedup key of `url`. See [`Canonicalizer`] for the rules.
    pub fn key(&self, url: &Url) -> String {
        let mut key = String::with_capacity(url.as_str().len());
        // Scheme, `//`, userinfo, host and (non-default) port, exactly as `url` serialised them.
        // This also carries the `/.` that `url` inserts before a host-less `//path`, which keeps
        // the key from re-parsing with a host.
        key.push_str(&url[..Position::BeforePath]);
        let path = url.path();
        if path.is_empty() && url.has_host() {
            key.push('/');
        } else {
            push_normalized(&mut key, path);
        }
        if let Some(query) = url.query() {
            self.push_query(&mut key, query);
        }
        if url.cannot_be_a_base() && key.ends_with(' ') {
            // An opaque path (`mailto:a `) keeps trailing spaces only while a query or fragment
            // follows; with those dropped, re-parsing would strip them. Escape them to keep the
            // key a fixed point.
            let spaces = key.len() - key.trim_end_matches(' ').len();
            key.truncate(key.len() - spaces);
            key.push_str(&"%20".repeat(spaces));
        }
        key
    }

    /// Appends `?query` with every pair normalised and stripped pairs removed; appends nothing if
    /// no pair is left.
    fn push_query(&self, key: &mut String, query: &str) {
        let question_mark = key.len();
        key.push('?');
        let mut first = true;
        let mut pair = String::new();
        for raw in query.split('&') {
            pair.clear();
            push_normalized(&mut pair, raw);
            let name = pair.split_once('=').map_or(pair.as_str(), |(name, _)| name);
            if self.strip.iter().any(|glob| glob_matches(glob, name)) {
                continue;
            }
            if !first {
                key.push('&');
            }
            first = false;
            key.push_str(&pair);
        }
        if key.len() == question_mark + 1 {
            key.truncate(question_mark);
        }
    }
}

/// Convenience: `Canonicalizer::new().key(url)`.
pub fn canonical_key(url: &Url) -> String {
    Canonicalizer::new().key(url)
}

/// Appends `text` with each valid `%XX` either decoded (unreserved characters) or uppercased.
///
/// A `%` not followed by two hex digits (which `url` leaves alone) is written `%25`: otherwise a
/// decoded digit could complete it into a new escape (`%3%30` → `%30` → `0`), and the key would
/// change every time it is keyed again. Servers read a bare `%` and `%25` alike.
fn push_normalized(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        // `i` is at an ASCII `%`, so these slices end on char boundaries.
        out.push_str(&text[copied..i]);
        let hex = |at: usize| bytes.get(at).copied().and_then(hex_value);
        match (hex(i + 1), hex(i + 2)) {
            (Some(high), Some(low)) => {
                let byte = high << 4 | low;
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(byte));
                } else {
                    out.push('%');
                    out.push(char::from(HEX_UPPER[usize::from(high)]));
                    out.push(char::from(HEX_UPPER[usize::from(low)]));
                }
                i += 3;
            }
            _ => {
                out.push_str("%25");
                i += 1;
            }
        }
        copied = i;
    }
    out.push_str(&text[copied..]);
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// `*`-glob match of a lowercased pattern against `name`, ignoring ASCII case in `name`.
/// Iterative with one backtrack point: linear-ish, no recursion, whatever the pattern.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (pattern.as_bytes(), name.as_bytes());
    let (mut p, mut n) = (0, 0);
    // Position of the last `*` seen, and where in `name` it started matching.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n].to_ascii_lowercase() {
            p += 1;
            n += 1;
        } else if let Some((star_p, star_n)) = star {
            // Let the last `*` swallow one more byte and retry from just after it.
            star = Some((star_p, star_n + 1));
            p = star_p + 1;
            n = star_n + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(s: &str) -> String {
        canonical_key(&Url::parse(s).unwrap())
    }

    #[test]
    fn equivalent_spellings_share_a_key() {
        let expected = "http://example.com/a/c";
        for spelling in [
            "HTTP://Example.COM:80/a/./b/../c#x",
            "http://example.com/a/c",
            "http://example.com/a/c?",
            "http://example.com/a/c?#frag",
            "http://example.com/a/%2e/c",
            "http://example.com/a/b/%2E%2E/c",
            "http://ex%61mple.com/%61/c",
        ] {
            assert_eq!(key(spelling), expected, "{spelling}");
        }
        assert_eq!(key("https://example.com:443"), "https://example.com/");
        assert_eq!(key("https://example.com:8443"), "https://example.com:8443/");
        assert_eq!(
            key("http://BÜcher.example/"),
            "http://xn--bcher-kva.example/"
        );
        // A trailing root dot is a different Host header, so it stays a different key.
        assert_ne!(key("http://example.com./"), key("http://example.com/"));
    }

    #[test]
    fn percent_encoding_is_normalised_not_decoded() {
        assert_eq!(
            key("http://x/%7euser/%c3%a9/%2f?q=%7e%2f%41&r=%zz%"),
            "http://x/~user/%C3%A9/%2F?q=~%2FA&r=%25zz%25"
        );
        // No decoding step may create a new escape: a bare `%` is escaped first.
        assert_eq!(key("foo:%3%30"), "foo:%2530");
        assert_eq!(key("http://x/%%34%31"), "http://x/%2541");
        // Non-ASCII is escaped by the parser, then normalised like any other escape.
        assert_eq!(key("http://x/Côte"), "http://x/C%C3%B4te");
    }

    #[test]
    fn query_is_kept_raw_and_in_order() {
        assert_eq!(key("http://x/?b=2&a=1"), "http://x/?b=2&a=1");
        assert_eq!(key("http://x/?q=a+b%20c&&z"), "http://x/?q=a+b%20c&&z");
        assert_ne!(key("http://x/?a=1&b=2"), key("http://x/?b=2&a=1"));
    }

    #[test]
    fn stripping_query_params() {
        let canon = Canonicalizer::new().strip_query_params(&["utm_*", "SessionID", "*_ref"]);
        let url = Url::parse(
            "https://x/p?utm_source=a&id=1&SESSIONID=2&utm_medium&q=%20+&utm%5Fterm=t&fb_ref=r#f",
        )
        .unwrap();
        assert_eq!(canon.key(&url), "https://x/p?id=1&q=%20+");
        let only_stripped = Url::parse("https://x/p?utm_a=1&sessionid=2").unwrap();
        assert_eq!(canon.key(&only_stripped), "https://x/p");
        // Names only: a value that looks like a stripped name stays.
        let value = Url::parse("https://x/p?next=utm_x").unwrap();
        assert_eq!(canon.key(&value), "https://x/p?next=utm_x");
    }

    #[test]
    fn glob_matching() {
        assert!(glob_matches("utm_*", "UTM_Source"));
        assert!(glob_matches("utm_*", "utm_"));
        assert!(!glob_matches("utm_*", "utm"));
        assert!(glob_matches("*id", "sessionid"));
        assert!(glob_matches("a*b*c", "aXXbYYbc"));
        assert!(!glob_matches("a*b*c", "aXXbYYb"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("", "x"));
        assert!(glob_matches("**a**", "bab"));
    }

    #[test]
    fn other_schemes_and_shapes() {
        assert_eq!(key("foo://Host"), "foo://Host/");
        assert_eq!(key("foo:/.//not-a-host/x"), "foo:/.//not-a-host/x");
        assert_eq!(key("mailto:%7eA@x?subject=%41"), "mailto:~A@x?subject=A");
        assert_eq!(key("http://u:p@x:81/?#"), "http://u:p@x:81/");
        assert_eq!(key("http://[::1]:80/"), "http://[::1]/");
        assert_eq!(key("foo:a  ?#x"), "foo:a%20%20");
    }

    fn assert_idempotent(url: &Url) -> Result<(), TestCaseError> {
        let canon = Canonicalizer::new().strip_query_params(&["utm_*", "x"]);
        for key in [canonical_key(url), canon.key(url)] {
            let reparsed = Url::parse(&key);
            prop_assert!(reparsed.is_ok(), "key {key:?} of {url} does not parse");
            let again = match reparsed {
                Ok(reparsed) if key == canonical_key(url) => canonical_key(&reparsed),
                Ok(reparsed) => canon.key(&reparsed),
                Err(_) => unreachable!(),
            };
            prop_assert_eq!(&again, &key, "not idempotent for {}", url);
        }
        Ok(())
    }

    /// URL-shaped strings with the characters that matter to the parser over-represented.
    fn urlish() -> impl Strategy<Value = String> {
        let scheme = prop_oneof![
            Just("http:"),
            Just("HTTPS:"),
            Just("foo:"),
            Just("file:"),
            Just("mailto:"),
            Just("data:"),
            Just(""),
        ];
        let body = proptest::collection::vec(
            prop_oneof![
                Just("/".to_owned()),
                Just("//".to_owned()),
                Just(".".to_owned()),
                Just("..".to_owned()),
                Just("%2e".to_owned()),
                Just("%".to_owned()),
                Just("?".to_owned()),
                Just("#".to_owned()),
                Just("&".to_owned()),
                Just("=".to_owned()),
                Just("@".to_owned()),
                Just(":".to_owned()),
                Just("[::1]".to_owned()),
                Just("\\".to_owned()),
                "%[0-9a-fA-F]{2}",
                "[a-zA-Z0-9~_+ -]{1,4}",
                any::<char>().prop_map(String::from),
            ],
            0..24,
        );
        (scheme, body).prop_map(|(scheme, body)| format!("{scheme}{}", body.concat()))
    }

    proptest! {
        #[test]
        fn key_is_idempotent_on_urlish_strings(s in urlish()) {
            if let Ok(url) = Url::parse(&s) {
                assert_idempotent(&url)?;
            }
            let base = Url::parse("http://example.com/dir/page?q#f").unwrap();
            if let Ok(url) = base.join(&s) {
                assert_idempotent(&url)?;
            }
        }

        #[test]
        fn key_never_panics_on_arbitrary_strings(s in any::<String>()) {
            if let Ok(url) = Url::parse(&s) {
                assert_idempotent(&url)?;
            }
            let base = Url::parse("https://example.com/").unwrap();
            if let Ok(url) = base.join(&s) {
                assert_idempotent(&url)?;
            }
        }

        #[test]
        fn equivalent_spellings_agree(
            host in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
            segments in proptest::collection::vec("[a-z0-9]{1,6}", 0..5),
            frag in "[a-z]{0,5}",
        ) {
            let plain = format!("http://{host}/{}", segments.join("/"));
            let shouty = format!(
                "HTTP://{}:80/x/../{}#{frag}",
                host.to_uppercase(),
                segments.join("/./")
            );
            prop_assert_eq!(key(&shouty), key(&plain));
        }
    }
}
