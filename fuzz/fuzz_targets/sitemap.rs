#![no_main]
use dragnet_extract::{SITEMAP_MAX_URLS, Sitemap, parse_sitemap};
use libfuzzer_sys::fuzz_target;
use url::Url;
const CT: [Option<&str>; 4] = [
    None,
    Some("application/xml"),
    Some("text/plain"),
    Some("application/gzip"),
];
fuzz_target!(|data: &[u8]| {
    let Some((&c, body)) = data.split_first() else {
        return;
    };
    let base = Url::parse("https://h.example/dir/sitemap.xml").unwrap();
    if let Ok(p) = parse_sitemap(body, CT[usize::from(c) % CT.len()], &base) {
        match p.sitemap {
            Sitemap::Urls(u) => {
                assert!(u.len() <= SITEMAP_MAX_URLS);
                assert!(u.iter().all(|x| matches!(x.loc.scheme(), "http" | "https")));
            }
            Sitemap::Index(u) => {
                assert!(u.len() <= SITEMAP_MAX_URLS);
                assert!(u.iter().all(|x| matches!(x.scheme(), "http" | "https")));
            }
        }
    }
});
