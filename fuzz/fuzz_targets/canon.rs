//! Any string that parses as a URL (alone or against a base) has a key, the key is a URL, and
//! keying that URL again gives the same key.

#![no_main]

use dragnet_extract::{Canonicalizer, canonical_key};
use libfuzzer_sys::fuzz_target;
use url::Url;

fn check(canon: &Canonicalizer, url: &Url) {
    let key = canon.key(url);
    let reparsed =
        Url::parse(&key).unwrap_or_else(|e| panic!("key {key:?} of {url} is not a URL: {e}"));
    assert_eq!(
        canon.key(&reparsed),
        key,
        "key of {url} is not a fixed point"
    );
}

fuzz_target!(|input: &str| {
    let base = Url::parse("http://example.com/dir/page?q#f").expect("constant URL");
    let stripping = Canonicalizer::new().strip_query_params(&["utm_*", "*id", "x"]);
    for url in [Url::parse(input), base.join(input)].into_iter().flatten() {
        check(&Canonicalizer::new(), &url);
        check(&stripping, &url);
        assert_eq!(canonical_key(&url), Canonicalizer::new().key(&url));
    }
});
