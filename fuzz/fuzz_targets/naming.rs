//! Whatever the URL, a saved file name is one safe path component.

#![no_main]

use dragnet_extract::{file_name, with_collision_suffix};
use libfuzzer_sys::fuzz_target;
use url::Url;

fn assert_safe(name: &str, url: &Url) {
    assert!(!name.is_empty(), "{url}");
    assert!(!name.contains(['/', '\\', '\0']), "{name:?} from {url}");
    assert!(
        name != "." && name != ".." && !name.starts_with('.'),
        "{name:?} from {url}"
    );
    assert!(!name.ends_with(['.', ' ']), "{name:?} from {url}");
    assert!(name.len() <= 255, "{} bytes from {url}", name.len());
}

fuzz_target!(|input: &str| {
    let base = Url::parse("https://example.org/wiki/").expect("constant URL");
    for url in [Url::parse(input), base.join(input)].into_iter().flatten() {
        for is_html in [false, true] {
            let name = file_name(&url, is_html);
            assert_safe(&name, &url);
            assert!(name.len() <= 200, "{} bytes from {url}", name.len());
            assert_safe(&with_collision_suffix(&name, &url), &url);
        }
        assert_safe(&with_collision_suffix(input, &url), &url);
    }
});
