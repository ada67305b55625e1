#![no_main]
use dragnet_extract::{Scope, TrapGuard, mirror_path, registrable_domain};
use libfuzzer_sys::fuzz_target;
use url::Url;
fuzz_target!(|input: &str| {
    let (a, b) = input
        .split_once('\u{1}')
        .unwrap_or((input, "http://example.com/x/y"));
    let base = Url::parse("https://www.example.co.uk/docs/guide/intro").unwrap();
    let seed = base.join(a).ok();
    let cand = base.join(b).ok();
    for url in seed.iter().chain(cand.iter()) {
        for html in [false, true] {
            let parts = mirror_path(url, html);
            assert!(!parts.is_empty());
            for p in &parts {
                assert!(!p.is_empty(), "{parts:?} {url}");
                assert!(!p.contains(['/', '\\', '\0']), "{parts:?} {url}");
                assert!(
                    p != "." && p != ".." && !p.starts_with('.'),
                    "{parts:?} {url}"
                );
                assert!(p.len() <= 255, "{url}");
            }
        }
        let g = TrapGuard::default();
        let _ = g.check(url);
        let _ = TrapGuard {
            max_url_len: 0,
            max_path_depth: 0,
            max_repeated_segments: 0,
            max_query_params: 0,
        }
        .check(url);
        let _ = TrapGuard {
            max_url_len: usize::MAX,
            max_path_depth: usize::MAX,
            max_repeated_segments: usize::MAX,
            max_query_params: usize::MAX,
        }
        .check(url);
        if let Some(h) = url.host() {
            let _ = registrable_domain(&h);
        }
    }
    if let (Some(s), Some(c)) = (&seed, &cand) {
        for sc in [
            Scope::Host,
            Scope::Domain,
            Scope::Subdomains,
            Scope::Prefix,
            Scope::Any,
        ] {
            let _ = sc.allows(s, c);
            assert!(
                sc.allows(s, s) || s.host().is_none() || sc == Scope::Prefix,
                "{sc:?} {s}"
            );
        }
    }
});
