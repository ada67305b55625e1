use std::io::Write;
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;

use super::*;

fn base() -> Url {
    Url::parse("https://h.example/sitemaps/sitemap.xml").unwrap()
}

fn parse(body: &[u8]) -> Result<ParsedSitemap, SitemapError> {
    parse_sitemap(body, None, &base())
}

fn urls(body: &[u8]) -> Vec<String> {
    match parse(body).unwrap().sitemap {
        Sitemap::Urls(urls) => urls.into_iter().map(|u| u.loc.to_string()).collect(),
        Sitemap::Index(_) => panic!("an index"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn plain_urlset() {
    let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<!-- generated -->
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url>
    <loc>
       https://h.example/a
    </loc>
    <lastmod> 2024-05-01T10:00:00+00:00 </lastmod>
    <changefreq>daily</changefreq><priority>0.8</priority>
  </url>
  <url><loc>https://h.example/b</loc><lastmod></lastmod></url>
  <url><lastmod>2024-01-01</lastmod></url>
  <url><loc></loc></url>
  <url><loc>not a url at all ://</loc></url>
  <url><loc>ftp://h.example/file</loc></url>
  <url/>
</urlset>"#;
    let parsed = parse(xml).unwrap();
    let Sitemap::Urls(urls) = parsed.sitemap else {
        panic!("not a urlset")
    };
    assert_eq!(urls.len(), 3, "{urls:?}");
    assert_eq!(urls[0].loc.as_str(), "https://h.example/a");
    assert_eq!(
        urls[0].lastmod.as_deref(),
        Some("2024-05-01T10:00:00+00:00")
    );
    assert_eq!(urls[1].loc.as_str(), "https://h.example/b");
    assert_eq!(urls[1].lastmod, None);
    // "not a url at all ://" is a relative reference, so it resolves against the base.
    assert_eq!(
        urls[2].loc.as_str(),
        "https://h.example/sitemaps/not%20a%20url%20at%20all%20://"
    );
    // No loc, empty loc, ftp, empty <url/>.
    assert_eq!(parsed.invalid, 4);
    assert_eq!(parsed.truncated, 0);
}

#[test]
fn sitemap_index() {
    let xml = br#"<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://h.example/s1.xml.gz</loc><lastmod>2024-01-01</lastmod></sitemap>
  <sitemap><loc>s2.xml</loc></sitemap>
  <url><loc>https://h.example/not-an-index-entry</loc></url>
</sitemapindex>"#;
    let parsed = parse(xml).unwrap();
    assert_eq!(
        parsed.sitemap,
        Sitemap::Index(vec![
            Url::parse("https://h.example/s1.xml.gz").unwrap(),
            Url::parse("https://h.example/sitemaps/s2.xml").unwrap(),
        ])
    );
}

#[test]
fn entities_cdata_and_stray_ampersands() {
    let xml = br#"<urlset>
  <url><loc>https://h.example/p?a=1&amp;b=2&amp;c=&#51;&#x34;</loc></url>
  <url><loc><![CDATA[https://h.example/q?a=1&b=2]]></loc></url>
  <url><loc>https://h.example/r?a=1&b=2</loc></url>
  <url><loc>https://h.example/s?x=&lt;&gt;&quot;&apos;&nbsp;</loc></url>
</urlset>"#;
    assert_eq!(
        urls(xml),
        [
            "https://h.example/p?a=1&b=2&c=34",
            "https://h.example/q?a=1&b=2",
            "https://h.example/r?a=1&b=2",
            "https://h.example/s?x=%3C%3E%22%27&nbsp;",
        ]
    );
}

#[test]
fn namespaces_and_extensions() {
    let xml = br#"<sm:urlset xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1"
        xmlns:xhtml="http://www.w3.org/1999/xhtml">
  <sm:url>
    <image:image><image:loc>https://cdn.example/pic.jpg</image:loc></image:image>
    <sm:loc>https://h.example/page</sm:loc>
    <xhtml:link rel="alternate" hreflang="de" href="https://h.example/de/page"/>
  </sm:url>
</sm:urlset>"#;
    assert_eq!(urls(xml), ["https://h.example/page"]);
}

#[test]
fn gzip_by_magic_bytes() {
    let xml = b"<urlset><url><loc>https://h.example/gz</loc></url></urlset>";
    let body = gzip(xml);
    assert_eq!(urls(&body), ["https://h.example/gz"]);
    // The content type does not matter, and a gzip type on plain bytes is not an error.
    let parsed = parse_sitemap(&body, Some("text/plain"), &base()).unwrap();
    assert_eq!(parsed.sitemap, parse(xml).unwrap().sitemap);
    assert!(parse_sitemap(xml, Some("application/x-gzip"), &base()).is_ok());
    // Concatenated members are one stream.
    let mut two = gzip(b"https://h.example/1\n");
    two.extend(gzip(b"https://h.example/2\n"));
    assert_eq!(urls(&two), ["https://h.example/1", "https://h.example/2"]);
    // Corrupt gzip is an error.
    let mut broken = body.clone();
    broken.truncate(body.len() / 2);
    broken.extend_from_slice(&[0xff; 16]);
    let result = parse(&broken);
    assert!(
        matches!(result, Err(SitemapError::Gzip { .. })),
        "{result:?}"
    );
}

#[test]
fn gzip_bomb_is_too_large() {
    // 100 MiB of zeros as 100 gzip members of 1 MiB: ~100 KB on the wire. (Compressing one
    // 100 MiB member would take longer than the test; the cap counts decoded bytes either way.)
    let mut member = GzEncoder::new(Vec::new(), Compression::best());
    member.write_all(&vec![0; 1024 * 1024]).unwrap();
    let member = member.finish().unwrap();
    let bomb = member.repeat(100);
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    let start = Instant::now();
    assert_eq!(parse(&bomb), Err(too_large()));
    println!("gzip bomb refused in {:?}", start.elapsed());

    // The XML path is capped too: a root followed by endless whitespace.
    let mut xml = GzEncoder::new(Vec::new(), Compression::fast());
    xml.write_all(b"<urlset>").unwrap();
    let spaces = vec![b' '; 1024 * 1024];
    for _ in 0..51 {
        xml.write_all(&spaces).unwrap();
    }
    assert_eq!(parse(&xml.finish().unwrap()), Err(too_large()));

    // An uncompressed body over the cap is refused without being read.
    let huge = vec![b' '; SITEMAP_MAX_BYTES as usize + 1];
    assert_eq!(parse(&huge), Err(too_large()));
}

#[test]
fn entries_beyond_the_cap_are_counted() {
    let extra = 7;
    let mut xml = String::from("<urlset>");
    for i in 0..SITEMAP_MAX_URLS + extra {
        xml.push_str(&format!("<url><loc>https://h.example/{i}</loc></url>"));
    }
    xml.push_str("</urlset>");
    let parsed = parse(xml.as_bytes()).unwrap();
    assert_eq!(parsed.truncated, extra);
    let Sitemap::Urls(urls) = parsed.sitemap else {
        panic!("not a urlset")
    };
    assert_eq!(urls.len(), SITEMAP_MAX_URLS);
    assert_eq!(urls[SITEMAP_MAX_URLS - 1].loc.path(), "/49999");
}

#[test]
fn plain_text_sitemaps() {
    let text =
        b"\xEF\xBB\xBFhttps://h.example/a\r\n\n  HTTP://h.example/b  \n/relative\nftp://x/y\n";
    let parsed = parse(text).unwrap();
    assert_eq!(urls(text), ["https://h.example/a", "http://h.example/b"]);
    assert_eq!(parsed.invalid, 2);
    // An overlong line is skipped, not buffered; the next line still counts.
    let mut long = b"https://h.example/".to_vec();
    long.extend(std::iter::repeat_n(b'x', 100_000));
    long.extend_from_slice(b"\nhttps://h.example/after\n");
    assert_eq!(urls(&long), ["https://h.example/after"]);
}

#[test]
fn garbage_is_an_error() {
    let not_sitemaps: &[&[u8]] = &[
        b"",
        b"   \n\t ",
        b"\x00\x01\x02\xff garbage",
        b"just some words\nno urls here",
        b"<!DOCTYPE html><html><body><a href='/x'>x</a></body></html>",
        b"<?xml version='1.0'?><!-- nothing -->",
        b"<rss><channel><item><link>https://h.example/</link></item></channel></rss>",
    ];
    for body in not_sitemaps {
        let result = parse(body);
        assert!(
            matches!(result, Err(SitemapError::NotASitemap { .. })),
            "{:?}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    let malformed: &[&[u8]] = &[
        b"<urlset><url><loc>https://h.example/a</loc></url",
        b"<urlset <<<",
    ];
    for body in malformed {
        let result = parse(body);
        assert!(
            matches!(result, Err(SitemapError::Xml { .. })),
            "{:?}: {result:?}",
            String::from_utf8_lossy(body)
        );
    }
    let err = parse(b"<html/>").unwrap_err();
    assert_eq!(err.to_string(), "not a sitemap: the root element is <html>");
}

#[test]
fn blank_start_uses_the_content_type() {
    let xml = b"<urlset><url><loc>https://h.example/a</loc></url></urlset>";
    let mut padded = vec![b' '; 70 * 1024];
    padded.extend_from_slice(xml);
    // The first 64 KiB read are blank: the content type decides.
    let parsed = parse_sitemap(&padded, Some("application/xml; charset=utf-8"), &base());
    assert_eq!(parsed.unwrap().sitemap, parse(xml).unwrap().sitemap);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse(&body);
        let mut gz = gzip(&body);
        let _ = parse(&gz);
        gz.truncate(gz.len() / 2);
        let _ = parse(&gz);
    }

    #[test]
    fn xml_like_bytes_never_panic(
        pieces in proptest::collection::vec(
            prop_oneof![
                Just("<urlset>"), Just("</urlset>"), Just("<url>"), Just("</url>"),
                Just("<loc>"), Just("</loc>"), Just("<sitemapindex>"), Just("<sitemap>"),
                Just("&amp;"), Just("&#0;"), Just("&#xFFFFFF;"), Just("&"), Just("<![CDATA[x"),
                Just("]]>"), Just("https://h.example/"), Just("<a:loc/>"), Just(" "),
            ],
            0..40),
    ) {
        let _ = parse(pieces.concat().as_bytes());
    }
}

#[test]
fn lenient_markup() {
    // Missing or mismatched end tags, stray `&`, unknown entities: the meaning is clear.
    let bodies: &[(&[u8], &str)] = &[
        (
            b"<urlset><url><loc>https://h.example/a</loc></url>",
            "https://h.example/a",
        ),
        (
            b"<urlset><url><loc>https://h.example/a</loc></URL></urlset>",
            "https://h.example/a",
        ),
        (
            b"<urlset><url><loc>https://h.example/a?x&y</loc></url></urlset>",
            "https://h.example/a?x&y",
        ),
        (
            b"<urlset><url><loc>https://h.example/a?x&y;z</loc></url></urlset>",
            "https://h.example/a?x&y;z",
        ),
    ];
    for (body, url) in bodies {
        assert_eq!(urls(body), [*url], "{}", String::from_utf8_lossy(body));
    }
}
