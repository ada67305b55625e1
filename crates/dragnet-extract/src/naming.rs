//! Saved file names. Security critical: a name built here must never leave the output folder,
//! on Linux, macOS or Windows, whatever the URL.
//!
//! A name is a single path component by construction: every separator is replaced, it is never
//! empty, `.` or `..`, never hidden (no leading dot), never a Windows device name, never ends in a
//! dot or space (Windows strips those, which could merge two names), and fits every common file
//! system's 255-byte component limit even after a collision suffix is added.

use percent_encoding::percent_decode_str;
use url::Url;
use xxhash_rust::xxh3::xxh3_64;

/// Longest name [`file_name`] returns, in bytes. Leaves room for a collision suffix
/// ([`with_collision_suffix`] adds 9 bytes) under the usual 255-byte limit.
const MAX_NAME_LEN: usize = 200;

/// Hard limit of one path component on ext4, APFS, NTFS (in UTF-16 units, which UTF-8 bytes
/// bound from above).
const MAX_COMPONENT_LEN: usize = 255;

/// Length of `~` plus 8 hex digits.
const HASH_SUFFIX_LEN: usize = 9;

/// Longest trailing `.ext` treated as an extension (kept when a name is shortened or suffixed).
const MAX_EXT_LEN: usize = 16;

/// The tutorial's `<last path segment>.html`, made safe.
///
/// The last non-empty path segment, percent-decoded (lossy UTF-8), sanitised: path separators
/// `/` `\`, NUL, control characters, bidirectional-override characters and `<>:"|?*` become `_`;
/// leading dots become `_` (never `.`, `..` or hidden); trailing dots and spaces are trimmed;
/// Windows device names (`CON`, `PRN`, `AUX`, `NUL`, `COM0-9`, `LPT0-9`, any case, with or without
/// extension) get a `_` prefix; empty becomes `index`. `.html` is appended when `is_html` and the
/// name does not already end in `.html`/`.htm`. Names longer than 200 bytes are cut on a char
/// boundary and get `~` + 8 hex digits of a hash of the full URL, so two long names stay
/// distinct; the extension is kept. The query string is ignored.
pub fn file_name(url: &Url, is_html: bool) -> String {
    let segment = url
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .unwrap_or("");
    let name = sanitize(&percent_decode_str(segment).decode_utf8_lossy());
    let (base, ext) = if is_html && !has_html_extension(&name) {
        (name.as_str(), ".html")
    } else {
        split_extension(&name)
    };
    if base.len() + ext.len() <= MAX_NAME_LEN {
        return format!("{base}{ext}");
    }
    let keep = floor_char_boundary(base, MAX_NAME_LEN - ext.len() - HASH_SUFFIX_LEN);
    format!("{}~{}{ext}", &base[..keep], url_hash8(url))
}

/// Most directory levels a mirrored path keeps; deeper paths are cut (the file keeps its
/// name), so a crawler trap cannot build a directory tree deeper than file systems allow.
pub const MAX_MIRROR_DEPTH: usize = 32;

/// The `wget -x` layout: `host[_port]/dir/.../name`, every component made safe like
/// [`file_name`] makes the last one (percent-decoded, sanitised, at most 200 bytes), so the
/// path can never leave the output folder. A path ending in `/` saves as `index.html`.
pub fn mirror_path(url: &Url, is_html: bool) -> Vec<String> {
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}_{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "no-host".to_owned(),
    };
    let mut parts = vec![sanitize(&host)];
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    let (dirs, last) = match segments.split_last() {
        Some((last, dirs)) => (dirs, *last),
        None => (&[][..], ""),
    };
    for dir in dirs.iter().filter(|d| !d.is_empty()).take(MAX_MIRROR_DEPTH) {
        let name = sanitize(&percent_decode_str(dir).decode_utf8_lossy());
        let keep = floor_char_boundary(&name, MAX_NAME_LEN);
        parts.push(name[..keep].to_owned());
    }
    if last.is_empty() {
        parts.push(if is_html {
            "index.html".to_owned()
        } else {
            "index".to_owned()
        });
    } else {
        parts.push(file_name(url, is_html));
    }
    parts
}

/// The name a file takes inside the folder that shares its name, in the mirror layout: a URL
/// `/feed` saved as the file `feed` and a URL `/feed/atom` that needs a folder `feed` cannot
/// both have their plain paths, so the folder wins and the file moves into it as `index`
/// plus its extension (`feed` → `feed/index`, `a.html` → `a.html/index.html`,
/// `data.json` → `data.json/index.json`), as if its URL had ended in `/`. The rule depends
/// only on the name, so the result is the same whichever URL arrives first.
pub fn folder_index_name(name: &str) -> String {
    let (_, ext) = split_extension(name);
    format!("index{ext}")
}

/// Deterministic collision suffix: `"Name.html"` becomes `"Name~1a2b3c4d.html"`, where the
/// suffix is 8 hex digits of xxh3 of the full URL, so the same URL always gets the same name.
///
/// Meant for names from [`file_name`]; any other `name` is sanitised the same way first, so the
/// result is always a safe single component of at most 255 bytes.
pub fn with_collision_suffix(name: &str, url: &Url) -> String {
    let name = sanitize(name);
    let (base, ext) = split_extension(&name);
    let room = MAX_COMPONENT_LEN.saturating_sub(ext.len() + HASH_SUFFIX_LEN);
    let keep = floor_char_boundary(base, room);
    format!("{}~{}{ext}", &base[..keep], url_hash8(url))
}

/// The high 32 bits of xxh3-64 of the serialised URL, as 8 lowercase hex digits.
fn url_hash8(url: &Url) -> String {
    format!("{:08x}", xxh3_64(url.as_str().as_bytes()) >> 32)
}

/// Makes `raw` one safe path component (before any length cap).
fn sanitize(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .map(|c| if is_forbidden(c) { '_' } else { c })
        .collect();
    // Windows silently drops trailing dots and spaces, so `a.` and `a` would be one file there.
    let trimmed = replaced.trim_matches(' ').trim_end_matches(['.', ' ']);
    // Replace (rather than strip) leading dots, so `.htaccess` and `htaccess` stay distinct.
    let dots = trimmed.len() - trimmed.trim_start_matches('.').len();
    let mut name = format!("{}{}", "_".repeat(dots), &trimmed[dots..]);
    if name.is_empty() {
        name.push_str("index");
    }
    if is_windows_device_name(&name) {
        name.insert(0, '_');
    }
    name
}

fn is_forbidden(c: char) -> bool {
    matches!(c, '/' | '\\' | '<' | '>' | ':' | '"' | '|' | '?' | '*')
        || c.is_control()
        // Bidirectional overrides and marks: they make `evil\u{202E}lmth.exe` display as
        // `evilexe.html`.
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `CON`, `con.txt`, `Com1.tar.gz`, `LPT9 .x`: Windows opens the device whatever the extension.
fn is_windows_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        _ => {
            let Some(rest) = upper
                .strip_prefix("COM")
                .or_else(|| upper.strip_prefix("LPT"))
            else {
                return false;
            };
            let mut digits = rest.chars();
            matches!(
                (digits.next(), digits.next()),
                (Some('0'..='9' | '¹' | '²' | '³'), None)
            )
        }
    }
}

fn has_html_extension(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Splits `name` into a base and a short alphanumeric `.ext` (which may be empty). A leading dot
/// never starts an extension (and `sanitize` removes those anyway).
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot)
            if dot > 0
                && (2..=MAX_EXT_LEN + 1).contains(&(name.len() - dot))
                && name[dot + 1..].bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            name.split_at(dot)
        }
        _ => (name, ""),
    }
}

/// The largest char boundary of `s` at or below `max`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    // Index 0 is always a boundary, so this terminates.
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod mirror_tests {
    use super::*;

    fn parts(url: &str) -> Vec<String> {
        mirror_path(&Url::parse(url).unwrap(), true)
    }

    #[test]
    fn a_file_inside_its_namesake_folder_is_index_with_its_extension() {
        assert_eq!(folder_index_name("feed"), "index");
        assert_eq!(folder_index_name("a.html"), "index.html");
        assert_eq!(folder_index_name("data.json"), "index.json");
        assert_eq!(folder_index_name("archive.tar.gz"), "index.gz");
    }

    #[test]
    fn mirror_paths_are_safe_components() {
        assert_eq!(
            parts("http://a.test/wiki/China"),
            ["a.test", "wiki", "China.html"]
        );
        assert_eq!(
            parts("http://a.test:8080/x/"),
            ["a.test_8080", "x", "index.html"]
        );
        assert_eq!(parts("http://a.test/"), ["a.test", "index.html"]);
        for hostile in [
            "http://a.test/%2e%2e/%2e%2e/etc/passwd",
            "http://a.test/..%2F..%2Fx/y",
            "http://a.test/a//b/.hidden/",
        ] {
            for part in parts(hostile) {
                assert!(
                    !part.is_empty()
                        && !part.contains('/')
                        && !part.contains('\\')
                        && !part.starts_with('.'),
                    "{hostile}: {part:?}"
                );
            }
        }
        let deep = format!("http://a.test/{}x", "d/".repeat(100));
        assert_eq!(parts(&deep).len(), 1 + MAX_MIRROR_DEPTH + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(path: &str) -> String {
        file_name(
            &Url::parse(&format!("https://example.org{path}")).unwrap(),
            true,
        )
    }

    #[test]
    fn tutorial_names() {
        assert_eq!(name("/wiki/China"), "China.html");
        assert_eq!(name("/wiki/C%C3%B4te_d%27Ivoire"), "Côte_d'Ivoire.html");
        assert_eq!(name("/wiki/Côte_d'Ivoire"), "Côte_d'Ivoire.html");
        assert_eq!(name("/wiki/Page?action=edit#x"), "Page.html");
        assert_eq!(name("/docs/index.HTM"), "index.HTM");
        assert_eq!(name("/a.php"), "a.php.html");
        let url = Url::parse("https://example.org/img/logo.png").unwrap();
        assert_eq!(file_name(&url, false), "logo.png");
    }

    #[test]
    fn hostile_names_stay_in_the_folder() {
        assert_eq!(
            name("/wiki/..%2F..%2Fetc%2Fpasswd"),
            "___.._etc_passwd.html"
        );
        assert_eq!(name("/wiki/%2e%2e"), "index.html"); // The URL parser resolves it to `/`.
        assert_eq!(name("/wiki/%2e%2e%2f"), "___.html");
        assert_eq!(name("/wiki/..%5C..%5Cwin.ini"), "___.._win.ini.html");
        assert_eq!(name("/"), "index.html");
        assert_eq!(name(""), "index.html");
        assert_eq!(name("/a//"), "a.html");
        assert_eq!(name("/.htaccess"), "_htaccess.html");
        assert_eq!(name("/..."), "index.html");
        assert_eq!(name("/a.%20.%20"), "a.html");
        assert_eq!(name("/a:b*c%3Fd"), "a_b_c_d.html");
        assert_eq!(name("/%3C%3E%22%7C"), "____.html");
        assert_eq!(name("/nul%00byte%0A%7F"), "nul_byte__.html");
        assert_eq!(name("/evil%E2%80%AEgpj.exe"), "evil_gpj.exe.html");
        assert_eq!(name("/%FF%FE"), "\u{FFFD}\u{FFFD}.html");
    }

    #[test]
    fn windows_device_names_are_prefixed() {
        for device in [
            "CON",
            "con",
            "Aux.txt",
            "NUL",
            "com1",
            "LPT9.tar.gz",
            "COM¹",
            "nul .x",
        ] {
            let got = name(&format!("/{device}"));
            assert!(got.starts_with('_'), "{device} -> {got}");
        }
        for fine in ["CONTACT", "com10", "LPT", "console.log"] {
            let got = name(&format!("/{fine}"));
            assert!(!got.starts_with('_'), "{fine} -> {got}");
        }
        assert_eq!(name("/CON"), "_CON.html");
    }

    #[test]
    fn long_names_are_capped_and_stay_distinct() {
        let long_a = name(&format!("/{}a", "x".repeat(1000)));
        let long_b = name(&format!("/{}b", "x".repeat(1000)));
        assert_ne!(long_a, long_b);
        for long in [&long_a, &long_b] {
            assert!(long.len() <= MAX_NAME_LEN, "{}", long.len());
            assert!(long.ends_with(".html"));
        }
        // Multi-byte characters are cut on a boundary (this would panic otherwise).
        let wide = name(&format!("/{}", "é".repeat(500)));
        assert!(wide.len() <= MAX_NAME_LEN && wide.ends_with(".html"));
        let url = Url::parse(&format!("https://e.org/{}.png", "y".repeat(400))).unwrap();
        let png = file_name(&url, false);
        assert!(png.len() <= MAX_NAME_LEN && png.ends_with(".png"), "{png}");
    }

    #[test]
    fn collision_suffix_is_deterministic_and_keeps_the_extension() {
        let a = Url::parse("https://example.org/wiki/China?x=1").unwrap();
        let b = Url::parse("https://example.org/wiki/China?x=2").unwrap();
        let name_a = with_collision_suffix("China.html", &a);
        assert_eq!(name_a, with_collision_suffix("China.html", &a));
        assert_ne!(name_a, with_collision_suffix("China.html", &b));
        let suffix = &name_a["China~".len()..name_a.len() - ".html".len()];
        assert!(name_a.starts_with("China~") && name_a.ends_with(".html"));
        assert_eq!(suffix.len(), 8);
        assert!(suffix.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(with_collision_suffix("index", &a).starts_with("index~"));
        assert!(with_collision_suffix("..", &a).starts_with("index~"));
        let long = with_collision_suffix(&"z".repeat(400), &a);
        assert!(long.len() <= MAX_COMPONENT_LEN);
    }

    fn assert_safe(name: &str) -> Result<(), TestCaseError> {
        prop_assert!(!name.is_empty());
        prop_assert!(!name.contains(['/', '\\', '\0']), "{name:?}");
        prop_assert!(name != "." && name != "..");
        prop_assert!(!name.starts_with('.'), "{name:?}");
        prop_assert!(!name.ends_with(['.', ' ']), "{name:?}");
        prop_assert!(name.len() <= MAX_COMPONENT_LEN, "{}", name.len());
        prop_assert!(!is_windows_device_name(name), "{name:?}");
        Ok(())
    }

    proptest! {
        #[test]
        fn every_name_is_a_safe_component(
            path in proptest::collection::vec(
                prop_oneof![
                    Just("/".to_owned()),
                    Just("%2F".to_owned()),
                    Just("%5C".to_owned()),
                    Just("%00".to_owned()),
                    Just(".".to_owned()),
                    Just("%2e".to_owned()),
                    Just("CON".to_owned()),
                    Just(" ".to_owned()),
                    "%[0-9A-F]{2}",
                    "[a-z.]{1,300}",
                    any::<char>().prop_map(String::from),
                ],
                0..12,
            ),
            is_html in any::<bool>(),
        ) {
            let raw = format!("https://example.org/{}", path.concat());
            if let Ok(url) = Url::parse(&raw) {
                let name = file_name(&url, is_html);
                assert_safe(&name)?;
                prop_assert!(name.len() <= MAX_NAME_LEN);
                assert_safe(&with_collision_suffix(&name, &url))?;
            }
        }

        #[test]
        fn any_url_gives_a_safe_name(s in any::<String>(), is_html in any::<bool>()) {
            let base = Url::parse("https://example.org/dir/").unwrap();
            for url in [Url::parse(&s), base.join(&s)].into_iter().flatten() {
                let name = file_name(&url, is_html);
                assert_safe(&name)?;
                assert_safe(&with_collision_suffix(&name, &url))?;
                assert_safe(&with_collision_suffix(&s, &url))?;
            }
        }
    }
}
