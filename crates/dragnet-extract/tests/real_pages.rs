//! Extraction over the shared corpus of real pages (`shared/data/real-pages`, beside the repo
//! clone; never copied into it). Skips with one line when the corpus is absent.

use std::path::{Path, PathBuf};

use dragnet_extract::{LinkSelector, decode_html, extract_bytes, is_html};
use scraper::{Html, Selector};
use url::Url;

struct Page {
    file: String,
    url: Url,
    declared_charset: Option<String>,
    valid_utf8: bool,
}

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/real-pages");
    dir.join("INDEX.json").is_file().then_some(dir)
}

fn pages(dir: &Path) -> Vec<Page> {
    let index = std::fs::read(dir.join("INDEX.json")).expect("INDEX.json is readable");
    let index: serde_json::Value = serde_json::from_slice(&index).expect("INDEX.json is JSON");
    let files = index["files"]
        .as_array()
        .expect("INDEX.json has a files array");
    files
        .iter()
        .map(|entry| {
            let file = entry["file"]
                .as_str()
                .expect("each entry names a file")
                .to_owned();
            // Twelve pages have no known address; any http URL will do to resolve against.
            let url = entry["original_url"]
                .as_str()
                .and_then(|u| Url::parse(u).ok())
                .unwrap_or_else(|| Url::parse(&format!("https://example.org/{file}")).unwrap());
            Page {
                file,
                url,
                declared_charset: entry["declared_charset"].as_str().map(str::to_owned),
                valid_utf8: entry["valid_utf8"].as_bool().unwrap_or(true),
            }
        })
        .collect()
}

/// What one page gave, for the corpus-wide checks.
struct Outcome {
    links: usize,
}

fn check_page(dir: &Path, page: &Page, compare_with_scraper: bool) -> Outcome {
    let body = std::fs::read(dir.join(&page.file)).expect("page is readable");
    let all = LinkSelector::all_links();
    let out = extract_bytes(&body, None, &page.url, &all);
    let name = &page.file;

    assert!(
        is_html(None, &body) || is_html(Some("text/html"), &body),
        "{name}"
    );
    assert_eq!(
        out.dropped_deep_tags, 0,
        "{name}: a real page hit the depth cap"
    );
    assert!(
        out.links
            .iter()
            .all(|u| matches!(u.scheme(), "http" | "https")),
        "{name}"
    );
    // Every link came from an href attribute, so there cannot be more links than "href"s.
    let hrefs = body
        .windows(4)
        .filter(|w| w.eq_ignore_ascii_case(b"href"))
        .count();
    assert!(
        out.links.len() + out.skipped_links as usize <= hrefs,
        "{name}"
    );

    let (text, encoding) = decode_html(&body, None);
    if !page.valid_utf8
        && page
            .declared_charset
            .as_deref()
            .is_some_and(|c| c != "utf-8")
    {
        assert_ne!(encoding, "UTF-8", "{name}: declared charset not found");
    }
    if compare_with_scraper {
        // The depth-capped parse must select exactly what plain scraper selects on real pages.
        let doc = Html::parse_document(&text);
        let selector = Selector::parse("a[href], area[href]").unwrap();
        let expected = doc.select(&selector).count();
        assert_eq!(
            out.links.len() + out.skipped_links as usize,
            expected,
            "{name}"
        );
    }
    Outcome {
        links: out.links.len(),
    }
}

#[test]
fn every_real_page_extracts_sanely() {
    let Some(dir) = corpus() else {
        eprintln!("skipping: ../shared/data/real-pages not found");
        return;
    };
    let pages = pages(&dir);
    assert!(pages.len() > 100, "the index lists {} pages", pages.len());

    // Two threads (the CI machines have two cores); every third page is also parsed by plain
    // scraper for comparison, which keeps the test to a few seconds in a debug build.
    let (left, right) = pages.split_at(pages.len() / 2);
    let outcomes: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
        let handles = [(left, 0), (right, left.len())].map(|(chunk, offset)| {
            let dir = &dir;
            scope.spawn(move || {
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, page)| (offset + i, check_page(dir, page, (offset + i) % 3 == 0)))
                    .collect::<Vec<_>>()
            })
        });
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a page check panicked"))
            .collect()
    });

    let total: usize = outcomes.iter().map(|(_, o)| o.links).sum();
    let with_links = outcomes.iter().filter(|(_, o)| o.links > 0).count();
    for (i, outcome) in &outcomes {
        if pages[*i].url.host_str() == Some("en.wikipedia.org") {
            assert!(outcome.links > 100, "{}: {}", pages[*i].file, outcome.links);
        }
    }
    assert!(
        with_links * 10 >= pages.len() * 9,
        "{with_links} of {} pages",
        pages.len()
    );
    assert!(total > 10_000, "{total} links in all");
}
