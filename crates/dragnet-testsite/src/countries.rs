//! The countries profile: the list page, 233 country pages and stub pages for every other
//! `/wiki/` title. Bodies are generated once per seed (lazily, or all at once by
//! [`Countries::warm`]) and shared by every site in the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::countries_names::COUNTRIES;
use crate::country_page::{self, thousands};
use crate::rng::Rng;
use crate::text::{TextPool, encode_title, push_escaped};
use crate::wiki_chrome::{EXTERNAL, push_bottom, push_top, push_wiki_link, small_page};

/// Title of the list page.
pub(crate) const LIST_TITLE: &str = "List_of_countries_and_dependencies_by_population";
/// Path of the list page.
pub(crate) const LIST_PATH: &str = "/wiki/List_of_countries_and_dependencies_by_population";

const WORLD_POPULATION: f64 = 8_119_000_000.0;
const MONTHS: &[&str] = &[
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

static NAMES: [&str; 233] = {
    let mut out = [""; 233];
    let mut i = 0;
    while i < out.len() {
        out[i] = COUNTRIES[i].title;
        i += 1;
    }
    out
};

/// The 233 country titles in table order (Wikipedia titles with underscores, e.g.
/// `"Côte_d'Ivoire"`); the list page links to `/wiki/` + the percent-encoded title.
pub fn country_names() -> &'static [&'static str] {
    &NAMES
}

/// A page the countries profile serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WikiPage {
    /// The list page.
    List,
    /// Country `i` (table order).
    Country(usize),
    /// Any other title: a small stub page.
    Stub,
}

/// The generated bodies of the countries profile for one seed.
#[derive(Debug)]
pub(crate) struct Countries {
    seed: u64,
    pool: Arc<TextPool>,
    list: Bytes,
    pages: Vec<OnceLock<Bytes>>,
    hashes: OnceLock<Vec<String>>,
    by_title: HashMap<&'static str, usize>,
}

impl Countries {
    /// The corpus for `seed`, shared by every site of the process.
    pub(crate) fn for_seed(seed: u64) -> Arc<Countries> {
        static CORPORA: OnceLock<Mutex<HashMap<u64, Arc<Countries>>>> = OnceLock::new();
        let corpora = CORPORA.get_or_init(Default::default);
        // A poisoned lock only means a panic elsewhere while inserting: the map is consistent.
        let mut map = corpora.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(seed)
            .or_insert_with(|| Arc::new(Countries::new(seed)))
            .clone()
    }

    fn new(seed: u64) -> Countries {
        let pool = TextPool::for_seed(seed);
        Countries {
            seed,
            list: Bytes::from(list_page(seed, &pool)),
            pool,
            pages: (0..COUNTRIES.len()).map(|_| OnceLock::new()).collect(),
            hashes: OnceLock::new(),
            by_title: COUNTRIES
                .iter()
                .enumerate()
                .map(|(i, c)| (c.title, i))
                .collect(),
        }
    }

    /// Which page a decoded `/wiki/` title names.
    pub(crate) fn lookup(&self, title: &str) -> WikiPage {
        if title == LIST_TITLE {
            return WikiPage::List;
        }
        match self.by_title.get(title) {
            Some(&i) => WikiPage::Country(i),
            None => WikiPage::Stub,
        }
    }

    /// The list page.
    pub(crate) fn list(&self) -> Bytes {
        self.list.clone()
    }

    /// Country page `i`, if it has been generated already.
    pub(crate) fn cached(&self, i: usize) -> Option<Bytes> {
        self.pages.get(i)?.get().cloned()
    }

    /// Country page `i`, generated on first use (CPU work: call off the async threads).
    pub(crate) fn country(&self, i: usize) -> Bytes {
        self.pages[i]
            .get_or_init(|| Bytes::from(country_page::generate(self.seed, i, &self.pool)))
            .clone()
    }

    /// A stub page for any other title.
    pub(crate) fn stub(title: &str) -> Bytes {
        Bytes::from(small_page(title, LIST_TITLE))
    }

    /// Generates every country page, on all cores.
    pub(crate) fn warm(&self) {
        self.par_each(|i| {
            self.country(i);
        });
    }

    /// Runs `f` for every country index on all cores.
    fn par_each(&self, f: impl Fn(usize) + Sync) {
        let next = AtomicUsize::new(0);
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= COUNTRIES.len() {
                            break;
                        }
                        f(i);
                    }
                });
            }
        });
    }

    /// `(path, sha256 hex, bytes, kind)` for the list and every country page.
    pub(crate) fn manifest_entries(&self) -> Vec<(String, String, u64, &'static str)> {
        let hashes = self.hashes.get_or_init(|| {
            let slots: Vec<OnceLock<String>> =
                (0..COUNTRIES.len()).map(|_| OnceLock::new()).collect();
            self.par_each(|i| {
                let _ = slots[i].set(crate::manifest::sha256_hex(&self.country(i)));
            });
            slots
                .into_iter()
                .map(|s| s.into_inner().unwrap_or_default())
                .collect()
        });
        let mut out = Vec::with_capacity(COUNTRIES.len() + 1);
        out.push((
            LIST_PATH.to_owned(),
            crate::manifest::sha256_hex(&self.list),
            self.list.len() as u64,
            "list",
        ));
        for (i, c) in COUNTRIES.iter().enumerate() {
            let len = self.country(i).len() as u64;
            out.push((
                format!("/wiki/{}", encode_title(c.title)),
                hashes[i].clone(),
                len,
                "country",
            ));
        }
        out
    }
}

/// The list page: the 233-row table among a lot of unrelated links.
fn list_page(seed: u64, pool: &TextPool) -> String {
    let mut rng = Rng::new(seed ^ 0x1157);
    let mut out = String::with_capacity(300_000);
    push_top(
        &mut out,
        LIST_TITLE,
        LIST_TITLE,
        "List of countries and dependencies by population",
    );
    out.push_str("<div role=\"note\" class=\"hatnote navigation-not-searchable\">For other uses, see <a href=\"/wiki/List_of_countries_by_population_(United_Nations)\">List of countries by population (United Nations)</a>.</div>\n");
    for _ in 0..4 {
        out.push_str("<p>");
        for _ in 0..5 {
            out.push_str(pool.head(&mut rng));
            out.push(' ');
            push_wiki_link(
                &mut out,
                "World_population",
                "World_population",
                "world population",
            );
            out.push(' ');
            out.push_str(pool.tail(&mut rng));
            out.push(' ');
        }
        out.push_str("</p>\n");
    }
    out.push_str("<table class=\"wikitable sortable sticky-header static-row-numbers\">\n<caption>Countries and dependencies by population</caption>\n<tbody><tr><th>Location</th><th>Population</th><th>% of world</th><th>Date</th><th>Source (official or from the United Nations)</th><th>Region</th></tr>\n");
    out.push_str("<tr class=\"static-row-header\"><td><a href=\"/wiki/World_population\" title=\"World population\">World</a></td><td style=\"text-align:right\">8,119,000,000</td><td style=\"text-align:right\">100%</td><td>1 Jul 2024</td><td>UN projection<sup class=\"reference\"><a href=\"#cite_note-1\">[1]</a></sup></td><td></td></tr>\n");
    for (i, c) in COUNTRIES.iter().enumerate() {
        let enc = encode_title(c.title);
        out.push_str(&format!(
            "<tr><td><span class=\"flagicon\"><img alt=\"\" src=\"//upload.example/flag_{n}.svg\" decoding=\"async\" width=\"23\" height=\"15\" class=\"mw-file-element\"></span> <a href=\"/wiki/{enc}\" title=\"",
            n = i + 1
        ));
        push_escaped(&mut out, &c.title.replace('_', " "));
        out.push_str("\">");
        push_escaped(&mut out, c.display);
        let share = c.population as f64 / WORLD_POPULATION * 100.0;
        let share = if share >= 1.0 {
            format!("{share:.1}%")
        } else {
            format!("{share:.3}%")
        };
        let day = rng.range(1, 28);
        let month = MONTHS[rng.index(MONTHS.len())];
        let source = [
            "Official estimate",
            "National annual projection",
            "UN projection",
            "Monthly national estimate",
        ][rng.index(4)];
        out.push_str(&format!(
            "</a></td><td style=\"text-align:right\">{pop}</td><td style=\"text-align:right\">{share}</td><td><span data-sort-value=\"2024-{m:02}-{day:02}\">{day} {month} 2024</span></td><td style=\"text-align:left\">{source}<sup class=\"reference\"><a href=\"#cite_note-{note}\">[{note}]</a></sup></td><td><a href=\"/wiki/{region}\" title=\"{region_text}\">{region_text}</a></td></tr>\n",
            pop = thousands(c.population),
            m = MONTHS.iter().position(|x| *x == month).map_or(1, |p| p + 1),
            note = i + 2,
            region = c.region.title(),
            region_text = c.region.title().replace('_', " "),
        ));
    }
    out.push_str("</tbody></table>\n<h2><span class=\"mw-headline\" id=\"See_also\">See also</span></h2>\n<ul>\n");
    for t in [
        "List_of_countries_by_population_growth_rate",
        "List_of_countries_by_population_density",
        "List_of_countries_by_past_and_projected_future_population",
        "List_of_largest_cities",
        "World_population",
        "Demographics_of_the_world",
    ] {
        out.push_str("<li>");
        push_wiki_link(&mut out, t, t, &t.replace('_', " "));
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n<h2><span class=\"mw-headline\" id=\"References\">References</span></h2>\n<div class=\"reflist\"><ol class=\"references\">\n");
    for n in 1..=(COUNTRIES.len() + 1) {
        let head = pool.head(&mut rng);
        out.push_str(&format!(
            "<li id=\"cite_note-{n}\"><span class=\"reference-text\"><a rel=\"nofollow\" class=\"external text\" href=\"{EXTERNAL}/census/{n}\">{head}</a>. Retrieved 1 July 2024.</span></li>\n"
        ));
    }
    out.push_str("</ol></div>\n<div role=\"navigation\" class=\"navbox\"><table class=\"navbox-inner\"><tbody><tr><th>Lists of countries by population</th></tr><tr><td class=\"navbox-list hlist\"><ul>\n");
    for region in [
        "Africa",
        "Asia",
        "Europe",
        "North_America",
        "Oceania",
        "South_America",
    ] {
        let t = format!("List_of_{region}n_countries_by_population");
        out.push_str("<li>");
        push_wiki_link(&mut out, &t, &t, &region.replace('_', " "));
        out.push_str("</li>\n");
    }
    out.push_str("</ul></td></tr></tbody></table></div>\n");
    push_bottom(&mut out, LIST_TITLE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_in_population_order() {
        let names = country_names();
        assert_eq!(names.len(), 233);
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), 233);
        assert!(
            COUNTRIES
                .windows(2)
                .all(|w| w[0].population >= w[1].population)
        );
        assert_eq!(&names[..2], &["India", "China"]);
        assert!(names.contains(&"Côte_d'Ivoire"));
    }

    #[test]
    fn list_has_exactly_233_flagicons() {
        let list = list_page(1, &TextPool::for_seed(1));
        assert_eq!(list.matches("class=\"flagicon\"").count(), 233);
        assert!(list.contains(
            "<a href=\"/wiki/C%C3%B4te_d%27Ivoire\" title=\"Côte d&#39;Ivoire\">Ivory Coast</a>"
        ));
        assert!(
            list.matches("<a ").count() > 700,
            "{}",
            list.matches("<a ").count()
        );
    }

    #[test]
    fn lookup_finds_pages() {
        let c = Countries::new(5);
        assert_eq!(c.lookup(LIST_TITLE), WikiPage::List);
        assert_eq!(c.lookup("China"), WikiPage::Country(1));
        assert_eq!(c.lookup("Main_Page"), WikiPage::Stub);
    }
}
