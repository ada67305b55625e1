//! Decoding, parsing and link extraction never panic, whatever the bytes and declared charset,
//! and only followable links come out.

#![no_main]

use std::sync::LazyLock;

use dragnet_extract::{LinkSelector, decode_html, extract_bytes, is_html};
use libfuzzer_sys::fuzz_target;
use url::Url;

static PAGE: LazyLock<Url> =
    LazyLock::new(|| Url::parse("https://en.wikipedia.org/wiki/List?x=1").expect("constant URL"));
static ALL: LazyLock<LinkSelector> = LazyLock::new(LinkSelector::all_links);
static ADJACENT: LazyLock<LinkSelector> =
    LazyLock::new(|| LinkSelector::parse("td .flagicon + a, h2 ~ a").expect("constant selector"));

const CONTENT_TYPES: [Option<&str>; 5] = [
    None,
    Some("text/html"),
    Some("text/html; charset=windows-1252"),
    Some("text/html; charset=Shift_JIS"),
    Some("text/html; charset=utf-16le"),
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the declared Content-Type; the rest is the body.
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(choice) % CONTENT_TYPES.len()];
    let _ = is_html(content_type, body);
    let _ = decode_html(body, content_type);
    for selector in [&*ALL, &*ADJACENT] {
        let out = extract_bytes(body, content_type, &PAGE, selector);
        assert!(
            out.links
                .iter()
                .all(|u| matches!(u.scheme(), "http" | "https"))
        );
        assert!(
            out.canonical
                .iter()
                .all(|u| matches!(u.scheme(), "http" | "https"))
        );
    }
});
