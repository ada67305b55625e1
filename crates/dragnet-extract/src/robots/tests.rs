use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// Google cases we deliberately answer differently. The conformance test asserts that exactly
/// these fail, so a regression and a silent fix both show.
const DOCUMENTED_DIVERGENCES: &[(&str, &str)] = &[(
    "GoogleOnly_AcceptUserAgentUpToFirstSpace/2",
    "Google expects the caller to pass a bare product token and so compares `Foo Bar` whole; \
     we take the product token of whatever User-Agent we are given (`Foo Bar` -> `Foo`, as \
     `dragnet/0.1 (+url)` -> `dragnet`), so the `Foo` group applies and /x/y is allowed",
)];

/// Google's `GetPathParamsQuery`: the part of a URL *string* robots.txt rules are matched
/// against (path, params and query; scheme, authority and fragment removed; always starting
/// with `/`). Only the conformance tests need it: real callers have a [`Url`], and
/// [`Robots::allowed`] takes its path and query directly.
fn path_params_query(url: &str) -> String {
    const NONE: usize = usize::MAX; // C++'s `npos`, so that comparisons work as there
    let bytes = url.as_bytes();
    let find = |from: usize, set: &[u8]| {
        bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|b| set.contains(b)))
            .map_or(NONE, |p| p + from)
    };
    // Two leading slashes (a scheme-relative URL) are skipped.
    let search_start = if url.starts_with("//") { 2 } else { 0 };
    let early_path = find(search_start, b"/?;");
    let protocol_end = match url[search_start..].find("://") {
        // A path, params or query before `://` means `://` does not end a scheme.
        Some(p) if early_path >= p + search_start => p + search_start + 3,
        _ => search_start,
    };
    let path_start = find(protocol_end, b"/?;");
    if path_start == NONE {
        return "/".into();
    }
    let hash = find(search_start, b"#");
    if hash < path_start {
        return "/".into();
    }
    let path = &url[path_start..hash.min(url.len())];
    if path.starts_with('/') {
        path.into()
    } else {
        format!("/{path}")
    }
}

fn google_cases() -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/robotstxt-google-cases.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("skipping: ../shared/data/robotstxt-google-cases.json not found");
        return None;
    };
    Some(serde_json::from_str(&text).expect("robotstxt-google-cases.json is valid JSON"))
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
}

#[test]
fn google_conformance_cases() {
    let Some(data) = google_cases() else { return };
    let cases = data["cases"].as_array().expect("cases is an array");
    assert!(cases.len() >= 145, "only {} cases", cases.len());
    let mut failed = Vec::new();
    for case in cases {
        let robots = Robots::parse(text(case, "robots_txt").as_bytes());
        let path = path_params_query(text(case, "url"));
        let got = robots.allowed_path(text(case, "user_agent"), &path);
        if got != case["allowed"].as_bool().expect("allowed is a bool") {
            failed.push(text(case, "id").to_owned());
        }
    }
    let mut expected: Vec<_> = DOCUMENTED_DIVERGENCES
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    expected.sort();
    failed.sort();
    assert_eq!(
        failed, expected,
        "failing Google cases != documented divergences"
    );
    println!(
        "Google robots.txt cases: {}/{} pass",
        cases.len() - failed.len(),
        cases.len()
    );
}

#[test]
fn google_other_checks() {
    let Some(data) = google_cases() else { return };
    let checks = &data["other_checks"];
    for check in checks["path_params_query"].as_array().expect("array") {
        let url = text(check, "url");
        assert_eq!(
            path_params_query(url),
            text(check, "expected_path"),
            "{url}"
        );
    }
    for check in checks["escape_pattern"].as_array().expect("array") {
        let pattern = text(check, "pattern");
        let escaped = escape_pattern(pattern.as_bytes());
        assert_eq!(escaped, text(check, "expected").as_bytes(), "{pattern}");
    }
    for check in checks["user_agent_validity"].as_array().expect("array") {
        let agent = check["user_agent"].as_str().unwrap_or_default();
        let valid = !agent.is_empty() && product_token(agent) == agent;
        assert_eq!(valid, check["valid"].as_bool().expect("bool"), "{agent:?}");
    }
    // The sitemap parse checks: `sitemap` lines are read wherever they are.
    for check in checks["parse_checks"].as_array().expect("array") {
        if let Some(sitemap) = check["expect"]["sitemap"].as_str() {
            let robots = Robots::parse(text(check, "robots_txt").as_bytes());
            assert_eq!(robots.sitemaps(), [sitemap]);
        }
    }
}

fn allowed(robots: &str, agent: &str, path: &str) -> bool {
    Robots::parse(robots.as_bytes()).allowed_path(agent, path)
}

#[test]
fn groups_and_fallback() {
    let robots = "User-agent: *\nDisallow: /\n\nUser-agent: dragnet\nUser-agent: other\n\
                  Disallow: /private\n\nUser-agent: DRAGNET\nDisallow: /also\n";
    let ua = "dragnet/0.1 (+https://example.com/bot)";
    assert!(allowed(robots, ua, "/public"));
    assert!(!allowed(robots, ua, "/private/x"));
    // Two groups for the same agent are merged.
    assert!(!allowed(robots, ua, "/also"));
    assert!(allowed(robots, "Other", "/x"));
    // `*` applies only when no group names the agent.
    assert!(!allowed(robots, "somebot", "/public"));
    assert!(!allowed(robots, "", "/public"));
    // A group naming the agent with no rules allows everything.
    assert!(allowed(
        "User-agent: *\nDisallow: /\nUser-agent: dragnet\n",
        "dragnet",
        "/x"
    ));
}

#[test]
fn longest_match_and_ties() {
    let robots = "User-agent: *\nDisallow: /a\nAllow: /a/b\nDisallow: /a/b/c\nAllow: /same\n\
                  Disallow: /same\nDisallow:\n";
    assert!(!allowed(robots, "x", "/a"));
    assert!(allowed(robots, "x", "/a/b"));
    assert!(!allowed(robots, "x", "/a/b/c/d"));
    assert!(allowed(robots, "x", "/same"));
    assert!(allowed(robots, "x", "/elsewhere"));
    // An empty Disallow allows everything.
    assert!(allowed("User-agent: *\nDisallow:\n", "x", "/anything"));
}

#[test]
fn wildcards_and_anchor() {
    let robots = "User-agent: *\nDisallow: /*.pdf$\nDisallow: /search*q=\nDisallow: /exact$\n\
                  Disallow: /mid$dle\n";
    assert!(!allowed(robots, "x", "/docs/a.pdf"));
    assert!(allowed(robots, "x", "/docs/a.pdf?download=1"));
    assert!(!allowed(robots, "x", "/search/x?a=1&q=2"));
    assert!(allowed(robots, "x", "/search?a=1"));
    assert!(!allowed(robots, "x", "/exact"));
    assert!(allowed(robots, "x", "/exactly"));
    // `$` is special only at the end.
    assert!(!allowed(robots, "x", "/mid$dle/x"));
    assert!(matches(b"/a/b/c", b"/*/*/c$"));
    assert!(matches(b"/a", b"*"));
    assert!(matches(b"/abcabc", b"/*abc$"));
    assert!(!matches(b"/abc", b"/*abcabc$"));
    assert!(!matches(b"/", b"$"));
}

#[test]
fn percent_encoding_normalisation() {
    let robots = "User-agent: *\nDisallow: /caf\u{e9}\nDisallow: /%e2%82%ac\nDisallow: /a%2fb\n";
    // The pattern's raw é is escaped; Url paths are always escaped.
    let url = Url::parse("https://h.example/caf\u{e9}/menu").unwrap();
    assert_eq!(url.path(), "/caf%C3%A9/menu");
    assert!(!Robots::parse(robots.as_bytes()).allowed("x", &url));
    // Hex case means nothing, in patterns and paths alike.
    assert!(!allowed(robots, "x", "/%E2%82%AC"));
    assert!(!allowed(robots, "x", "/%e2%82%ac"));
    assert!(!allowed(robots, "x", "/a%2Fb"));
    // An escaped `/` is not a `/`, and unreserved escapes are not decoded (as Google).
    assert!(allowed(robots, "x", "/a/b"));
    assert_eq!(escape_pattern(b"/%zz%4a\xff"), b"/%zz%4A%FF");
    assert_eq!(normalize_path("?q=%aa#frag"), "/?q=%AA");
    assert_eq!(normalize_path(""), "/");
    assert!(matches!(normalize_path("/plain?x"), Cow::Borrowed(_)));
}

#[test]
fn robots_txt_is_always_allowed() {
    let robots = Robots::parse(b"User-agent: *\nDisallow: /\n");
    assert!(robots.allowed_path("x", "/robots.txt"));
    assert!(!robots.allowed_path("x", "/robots.txt.bak"));
    assert!(Robots::disallow_all().allowed_path("x", "/robots.txt"));
    assert!(!Robots::disallow_all().allowed_path("x", "/"));
    assert!(Robots::allow_all().allowed_path("x", "/anything"));
}

#[test]
fn line_syntax() {
    // BOM, CR / LF / CRLF, comments, missing colon, typos, case.
    let body = b"\xEF\xBB\xBFuser-agent: a\r\ndisallow /x # comment\rDISALOW: /y\n\
                 # Disallow: /z\nfoo bar baz\nAllow /x/ok\n";
    let robots = Robots::parse(body);
    assert!(!robots.allowed_path("a", "/x"));
    assert!(!robots.allowed_path("a", "/y"));
    assert!(robots.allowed_path("a", "/z"));
    assert!(robots.allowed_path("a", "/x/ok"));
    // A broken BOM prefix is skipped too; a BOM elsewhere is just bytes.
    assert!(!Robots::parse(b"\xEF\xBBUser-agent: a\nDisallow: /\n").allowed_path("a", "/"));
    assert!(Robots::parse(b"\xEF\x11User-agent: a\nDisallow: /\n").allowed_path("a", "/"));
    // Three words without a colon are not a directive.
    assert!(allowed("User-agent: *\ndisallow / x\n", "a", "/"));
    // Rules before any user-agent line are ignored.
    assert!(allowed(
        "Disallow: /\nUser-agent: b\nDisallow: /\n",
        "a",
        "/"
    ));
}

#[test]
fn other_lines_do_not_close_a_group() {
    let body = "User-agent: a\nSitemap: /s.xml\n\nUnknown: x\nUser-agent: b\n\
                Disallow: /\nCrawl-delay: 2\nUser-agent: c\nSitemap: https://h.example/s.xml\n\
                Allow: /\nSitemap: /s.xml\n";
    let robots = Robots::parse(body.as_bytes());
    assert!(!robots.allowed_path("a", "/x"));
    assert!(!robots.allowed_path("b", "/x"));
    assert!(robots.allowed_path("c", "/x"));
    assert_eq!(robots.crawl_delay("a"), Some(Duration::from_secs(2)));
    assert_eq!(robots.crawl_delay("c"), None);
    assert_eq!(robots.sitemaps(), ["/s.xml", "https://h.example/s.xml"]);
}

#[test]
fn crawl_delay_ends_the_agent_list() {
    let body = "User-agent: *\nCrawl-delay: 10\n\nUser-agent: BadBot\nDisallow: /\n";
    let robots = Robots::parse(body.as_bytes());
    assert!(robots.allowed_path("dragnet", "/x"));
    assert_eq!(robots.crawl_delay("dragnet"), Some(Duration::from_secs(10)));
    assert!(!robots.allowed_path("badbot", "/x"));
    assert_eq!(robots.crawl_delay("badbot"), None);
}

#[test]
fn crawl_delay_values() {
    let delay = |value: &str| {
        Robots::parse(format!("User-agent: *\nCrawl-delay: {value}\n").as_bytes()).crawl_delay("x")
    };
    assert_eq!(delay("1.5"), Some(Duration::from_millis(1500)));
    assert_eq!(delay("10"), Some(Duration::from_secs(10)));
    assert_eq!(delay("0"), Some(Duration::ZERO));
    for bad in ["-1", "NaN", "inf", "1e400", "soon", ""] {
        assert_eq!(delay(bad), None, "{bad}");
    }
    // The agent's own group wins; within it the largest delay does.
    let robots = Robots::parse(
        b"User-agent: *\nCrawl-delay: 9\nUser-agent: d\nCrawl-delay: 1\nUser-agent: e\n\
          User-agent: d\nCrawl-delay: 3\n",
    );
    assert_eq!(robots.crawl_delay("d/1.0"), Some(Duration::from_secs(3)));
    assert_eq!(robots.crawl_delay("e"), Some(Duration::from_secs(3)));
    assert_eq!(robots.crawl_delay("f"), Some(Duration::from_secs(9)));
}

#[test]
fn very_long_lines_and_size_cap() {
    // A 100 KB line: cut at Google's line limit, the following lines still read.
    let mut body = b"User-agent: *\nDisallow: /".to_vec();
    body.extend(std::iter::repeat_n(b'a', 100_000));
    body.extend_from_slice(b"\nDisallow: /b\n");
    let robots = Robots::parse(&body);
    assert!(!robots.allowed_path("x", "/b"));
    // Only the first 500 KiB are read.
    let mut body = b"User-agent: *\n".to_vec();
    while body.len() < ROBOTS_MAX_BYTES {
        body.extend_from_slice(b"Allow: /filler\n");
    }
    body.extend_from_slice(b"Disallow: /\n");
    assert!(Robots::parse(&body).allowed_path("x", "/y"));
}

#[test]
fn index_html_means_directory() {
    let robots = "User-agent: *\nDisallow: /\nAllow: /d/index.html\n";
    assert!(allowed(robots, "x", "/d/"));
    assert!(allowed(robots, "x", "/d/index.html"));
    assert!(!allowed(robots, "x", "/d/other"));
}

#[test]
fn status_from_http() {
    let url = Url::parse("https://h.example/page").unwrap();
    let ok = RobotsStatus::from_http(200, b"User-agent: *\nDisallow: /page\nCrawl-delay: 1\n");
    assert!(!ok.allowed("x", &url));
    assert_eq!(ok.crawl_delay("x"), Some(Duration::from_secs(1)));
    for status in [404, 401, 403, 410, 301] {
        let unavailable = RobotsStatus::from_http(status, b"User-agent: *\nDisallow: /\n");
        assert_eq!(unavailable, RobotsStatus::Unavailable, "{status}");
        assert!(unavailable.allowed("x", &url));
    }
    for status in [500, 503, 429, 0, 100, 600] {
        let unreachable = RobotsStatus::from_http(status, b"");
        assert_eq!(unreachable, RobotsStatus::Unreachable, "{status}");
        assert!(!unreachable.allowed("x", &url));
        assert!(unreachable.allowed_path("x", "/robots.txt"));
        assert!(unreachable.sitemaps().is_empty());
    }
}

#[test]
fn robots_url_of_origin() {
    let robots = |s: &str| robots_url(&Url::parse(s).unwrap()).to_string();
    assert_eq!(
        robots("https://user:pw@Example.com:8443/a/b?c#d"),
        "https://example.com:8443/robots.txt"
    );
    assert_eq!(
        robots("http://h.example:80/x"),
        "http://h.example/robots.txt"
    );
    assert_eq!(robots("http://[::1]:3000"), "http://[::1]:3000/robots.txt");
}

#[test]
fn product_tokens() {
    assert_eq!(product_token("dragnet/0.1 (+https://x)"), "dragnet");
    assert_eq!(product_token("Foo_Bar-baz 2"), "Foo_Bar-baz");
    assert_eq!(product_token("ツbot"), "");
    assert_eq!(product_token(""), "");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_and_match_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048),
                                   agent in ".{0,20}", path in ".{0,80}") {
        let robots = Robots::parse(&body);
        let _ = robots.allowed_path(&agent, &path);
        let _ = robots.crawl_delay(&agent);
    }

    #[test]
    fn structured_bodies_never_panic(
        lines in proptest::collection::vec(
            ("(user-agent|allow|disallow|crawl-delay|sitemap|x)", "[ :\t]{0,2}", "[*$/a%bé?#0-9.]{0,12}"),
            0..20),
        path in "[/a%bé?*$0-9]{0,30}",
    ) {
        let body: String = lines.iter().map(|(k, sep, v)| format!("{k}{sep}{v}\n")).collect();
        let robots = Robots::parse(body.as_bytes());
        let _ = robots.allowed_path("a", &path);
        prop_assert!(robots.allowed_path("a", "/robots.txt"));
    }

    #[test]
    fn matcher_agrees_with_reference(pattern in "[/ab*]{0,8}\\$?", path in "/[ab/]{0,10}") {
        prop_assert_eq!(matches(path.as_bytes(), pattern.as_bytes()),
                        reference_match(path.as_bytes(), pattern.as_bytes()));
    }
}

/// Google's position-set matcher, transcribed literally, as an oracle for [`matches`].
fn reference_match(path: &[u8], pattern: &[u8]) -> bool {
    let mut positions = vec![0];
    for (i, &c) in pattern.iter().enumerate() {
        if c == b'$' && i + 1 == pattern.len() {
            return positions.last() == Some(&path.len());
        }
        if c == b'*' {
            positions = (positions[0]..=path.len()).collect();
        } else {
            positions = positions
                .iter()
                .filter(|&&p| p < path.len() && path[p] == c)
                .map(|p| p + 1)
                .collect();
            if positions.is_empty() {
                return false;
            }
        }
    }
    true
}
