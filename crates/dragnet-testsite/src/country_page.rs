//! One Wikipedia-like country article: infobox, lead, many sections of linked prose with
//! citations, references, external links and a regional navbox. 150 KB to 1.2 MB, median
//! about 400 KB, deterministic per (seed, country).

use crate::countries_names::{COUNTRIES, CountryRow};
use crate::rng::{self, Rng};
use crate::text::{TOPICS, TextPool, encode_title, push_escaped};
use crate::wiki_chrome::{EXTERNAL, push_bottom, push_top, push_wiki_link};

/// Smallest country page served.
pub(crate) const MIN_PAGE_BYTES: usize = 150_000;
/// Largest country page served.
pub(crate) const MAX_PAGE_BYTES: usize = 1_200_000;
const MEDIAN_PAGE_BYTES: f64 = 400_000.0;
const SIZE_SIGMA: f64 = 0.45;
/// Room kept for what follows the prose (see also, external links, navbox, footer).
const TRAILER_RESERVE: usize = 24_000;

const SECTIONS: &[&str] = &[
    "Etymology",
    "History",
    "Geography",
    "Climate",
    "Biodiversity",
    "Politics",
    "Government",
    "Foreign relations",
    "Military",
    "Administrative divisions",
    "Economy",
    "Tourism",
    "Transport",
    "Energy",
    "Science and technology",
    "Demographics",
    "Urban areas",
    "Languages",
    "Religion",
    "Education",
    "Health",
    "Culture",
    "Architecture",
    "Art",
    "Literature",
    "Music",
    "Cuisine",
    "Media",
    "Sport",
    "Public holidays",
];

const ASPECTS: &[&str] = &[
    "History_of_",
    "Geography_of_",
    "Politics_of_",
    "Economy_of_",
    "Demographics_of_",
    "Culture_of_",
    "Music_of_",
    "Cuisine_of_",
    "Sport_in_",
    "Transport_in_",
    "Tourism_in_",
    "Religion_in_",
    "Languages_of_",
    "Education_in_",
    "Foreign_relations_of_",
    "Outline_of_",
];

const PUBLISHERS: &[&str] = &[
    "United Nations",
    "World Bank",
    "CIA World Factbook",
    "BBC News",
    "Reuters",
    "Encyclopædia Britannica",
    "National Statistics Office",
    "The Economist",
    "OECD",
];

/// The target body size of country `index` for `seed`.
pub(crate) fn target_size(seed: u64, index: usize) -> usize {
    let mut r = Rng::new(rng::key(seed, index as u64, 0x517e, 0));
    r.lognormal_size(
        MEDIAN_PAGE_BYTES,
        SIZE_SIGMA,
        MIN_PAGE_BYTES + 2_000,
        MAX_PAGE_BYTES - TRAILER_RESERVE - 8_000,
    )
}

/// Builds the page of country `index`.
pub(crate) fn generate(seed: u64, index: usize, pool: &TextPool) -> String {
    let row = &COUNTRIES[index];
    let target = target_size(seed, index);
    let mut g = PageGen {
        rng: Rng::new(rng::key(seed, index as u64, 0xc0_0a7e, 0)),
        pool,
        index,
        row,
        enc: encode_title(row.title),
        out: String::with_capacity(target + TRAILER_RESERVE),
        refs: String::with_capacity(target / 6),
        cites: 0,
    };
    push_top(&mut g.out, &g.enc.clone(), row.title, row.display);
    g.hatnote();
    g.infobox();
    for _ in 0..3 {
        g.paragraph(5, 9);
    }
    g.toc();
    let mut section = 0;
    while g.out.len() + g.refs.len() < target {
        g.section(section);
        section += 1;
    }
    g.trailer();
    push_bottom(&mut g.out, &g.enc);
    g.out
}

struct PageGen<'a> {
    rng: Rng,
    pool: &'a TextPool,
    index: usize,
    row: &'static CountryRow,
    enc: String,
    out: String,
    refs: String,
    cites: u32,
}

impl PageGen<'_> {
    fn hatnote(&mut self) {
        self.out.push_str("<div role=\"note\" class=\"hatnote navigation-not-searchable\">For other uses, see <a href=\"/wiki/");
        self.out.push_str(&self.enc);
        self.out
            .push_str("_(disambiguation)\" class=\"mw-disambig\">");
        push_escaped(&mut self.out, self.row.display);
        self.out.push_str(" (disambiguation)</a>.</div>\n");
    }

    fn infobox_row(&mut self, label: &str, value: impl FnOnce(&mut Self)) {
        self.out
            .push_str("<tr><th scope=\"row\" class=\"infobox-label\">");
        self.out.push_str(label);
        self.out.push_str("</th><td class=\"infobox-data\">");
        value(self);
        self.out.push_str("</td></tr>\n");
    }

    fn aspect_link(&mut self, aspect: &str, text: &str) {
        let title = format!("{aspect}{}", self.row.title);
        let enc = format!("{aspect}{}", self.enc);
        push_wiki_link(&mut self.out, &enc, &title, text);
    }

    fn infobox(&mut self) {
        let display = self.row.display;
        self.out.push_str("<table class=\"infobox ib-country vcard\"><tbody>\n<tr><th colspan=\"2\" class=\"infobox-above adr\"><div class=\"fn org country-name\">");
        push_escaped(&mut self.out, display);
        self.out.push_str(&format!(
            "</div></th></tr>\n<tr><td colspan=\"2\" class=\"infobox-image\"><span class=\"mw-default-size\"><a href=\"/wiki/File:Flag_of_{enc}.svg\" class=\"mw-file-description\"><img alt=\"Flag\" src=\"//upload.example/flag_{i}.svg\" width=\"125\" height=\"83\"></a></span></td></tr>\n",
            enc = self.enc,
            i = self.index + 1
        ));
        let topic = |g: &mut Self| TOPICS[g.rng.index(TOPICS.len())];
        self.infobox_row("Capital", |g| {
            let t = format!("Capital_of_{}", g.row.title);
            push_wiki_link(&mut g.out, &encode_title(&t), &t, "Capital city");
        });
        self.infobox_row("Official languages", |g| {
            g.aspect_link("Languages_of_", "Official languages")
        });
        self.infobox_row("Demonym(s)", |g| {
            let t = topic(g);
            push_wiki_link(&mut g.out, &encode_title(t), t, "Demonym");
        });
        self.infobox_row("Government", |g| {
            g.aspect_link("Politics_of_", "Unitary republic")
        });
        self.infobox_row("Region", |g| {
            let r = g.row.region.title();
            push_wiki_link(&mut g.out, r, r, &r.replace('_', " "));
        });
        let population = self.row.population;
        self.infobox_row("Population", |g| {
            g.out.push_str(&format!(
                "{} (ranked {})",
                thousands(population),
                g.index + 1
            ));
        });
        let gdp = population.saturating_mul(self.rng.range(2_000, 60_000));
        self.infobox_row("GDP (PPP)", |g| {
            g.out.push_str(&format!("${}", thousands(gdp)));
            g.cite();
        });
        self.infobox_row("HDI", |g| {
            let hdi = 0.4 + g.rng.unit() * 0.55;
            g.out.push_str(&format!("{hdi:.3} "));
            push_wiki_link(
                &mut g.out,
                "Human_Development_Index",
                "Human_Development_Index",
                "HDI",
            );
        });
        self.infobox_row("Currency", |g| g.aspect_link("Economy_of_", "Currency"));
        self.infobox_row("Time zone", |g| {
            let off = g.rng.range(0, 24) as i64 - 12;
            push_wiki_link(
                &mut g.out,
                "Coordinated_Universal_Time",
                "Coordinated_Universal_Time",
                &format!("UTC{off:+}"),
            );
        });
        self.infobox_row("Calling code", |g| {
            g.out.push_str(&format!("+{}", g.rng.range(1, 999)))
        });
        self.infobox_row("ISO 3166 code", |g| {
            push_wiki_link(&mut g.out, "ISO_3166", "ISO_3166", "ISO 3166")
        });
        self.infobox_row("Internet TLD", |g| {
            push_wiki_link(
                &mut g.out,
                "Country_code_top-level_domain",
                "Country_code_top-level_domain",
                ".example",
            )
        });
        self.out.push_str("</tbody></table>\n");
    }

    fn toc(&mut self) {
        self.out.push_str("<div id=\"toc\" class=\"toc\" role=\"navigation\" aria-labelledby=\"mw-toc-heading\"><div class=\"toctitle\"><h2 id=\"mw-toc-heading\">Contents</h2></div><ul>\n");
        for (i, name) in SECTIONS.iter().enumerate() {
            let id = name.replace(' ', "_");
            self.out.push_str(&format!(
                "<li class=\"toclevel-1 tocsection-{n}\"><a href=\"#{id}\"><span class=\"tocnumber\">{n}</span> <span class=\"toctext\">{name}</span></a></li>\n",
                n = i + 1
            ));
        }
        self.out.push_str("</ul></div>\n");
    }

    fn section(&mut self, n: usize) {
        let name = SECTIONS[n % SECTIONS.len()];
        let round = n / SECTIONS.len();
        let id = if round == 0 {
            name.replace(' ', "_")
        } else {
            format!("{}_{}", name.replace(' ', "_"), round + 1)
        };
        self.out.push_str(&format!(
            "<h2><span class=\"mw-headline\" id=\"{id}\">{name}</span><span class=\"mw-editsection\"><span class=\"mw-editsection-bracket\">[</span><a href=\"/w/index.php?title={enc}&amp;action=edit&amp;section={s}\" title=\"Edit section: {name}\">edit</a><span class=\"mw-editsection-bracket\">]</span></span></h2>\n",
            enc = self.enc,
            s = n + 1
        ));
        let aspect = ASPECTS[n % ASPECTS.len()];
        self.out.push_str(
            "<div role=\"note\" class=\"hatnote navigation-not-searchable\">Main article: ",
        );
        let text = format!("{}{}", aspect.replace('_', " "), self.row.display);
        self.aspect_link(aspect, &text);
        self.out.push_str("</div>\n");
        self.figure(n);
        for _ in 0..self.rng.range(2, 4) {
            self.out.push_str("<h3><span class=\"mw-headline\">");
            let words: Vec<&str> = self.pool.head(&mut self.rng).split(' ').take(3).collect();
            self.out.push_str(&words.join(" "));
            self.out.push_str("</span></h3>\n");
            for _ in 0..self.rng.range(3, 8) {
                self.paragraph(4, 8);
            }
        }
        if n % 4 == 2 {
            self.data_table();
        }
    }

    fn figure(&mut self, n: usize) {
        self.out.push_str(&format!(
            "<figure class=\"mw-default-size\" typeof=\"mw:File/Thumb\"><a href=\"/wiki/File:{enc}_{n}.jpg\" class=\"mw-file-description\"><img src=\"//upload.example/thumb/{i}/{n}.jpg\" decoding=\"async\" width=\"220\" height=\"147\" class=\"mw-file-element\"></a><figcaption>",
            enc = self.enc,
            i = self.index + 1
        ));
        let head = self.pool.head(&mut self.rng);
        self.out.push_str(head);
        self.out.push_str("</figcaption></figure>\n");
    }

    fn paragraph(&mut self, lo: u64, hi: u64) {
        self.out.push_str("<p>");
        for i in 0..self.rng.range(lo, hi) {
            if i > 0 {
                self.out.push(' ');
            }
            self.sentence();
        }
        self.out.push_str("\n</p>\n");
    }

    fn sentence(&mut self) {
        let head = self.pool.head(&mut self.rng);
        self.out.push_str(head);
        self.out.push(' ');
        if self.rng.chance(0.6) {
            self.inline_link();
            self.out.push(' ');
        }
        let tail = self.pool.tail(&mut self.rng);
        self.out.push_str(tail);
        if self.rng.chance(0.12) {
            self.cite();
        }
    }

    fn inline_link(&mut self) {
        let roll = self.rng.below(100);
        if roll < 50 {
            let t = TOPICS[self.rng.index(TOPICS.len())];
            push_wiki_link(
                &mut self.out,
                &encode_title(t),
                t,
                &t.replace('_', " ").to_lowercase(),
            );
        } else if roll < 75 {
            let aspect = ASPECTS[self.rng.index(ASPECTS.len())];
            let text = aspect.replace('_', " ").trim().to_lowercase();
            self.aspect_link(aspect, &text);
        } else if roll < 90 {
            let other = &COUNTRIES[self.rng.index(COUNTRIES.len())];
            push_wiki_link(
                &mut self.out,
                &encode_title(other.title),
                other.title,
                other.display,
            );
        } else {
            let r = self.row.region.title();
            push_wiki_link(&mut self.out, r, r, &r.replace('_', " "));
        }
    }

    fn cite(&mut self) {
        self.cites += 1;
        let n = self.cites;
        self.out.push_str(&format!(
            "<sup id=\"cite_ref-{n}\" class=\"reference\"><a href=\"#cite_note-{n}\">[{n}]</a></sup>"
        ));
        let publisher = PUBLISHERS[self.rng.index(PUBLISHERS.len())];
        let head = self.pool.head(&mut self.rng);
        self.refs.push_str(&format!(
            "<li id=\"cite_note-{n}\"><span class=\"mw-cite-backlink\"><b><a href=\"#cite_ref-{n}\">^</a></b></span> <span class=\"reference-text\"><cite class=\"citation web cs1\"><a rel=\"nofollow\" class=\"external text\" href=\"{EXTERNAL}/ref/{enc}/{n}\">{head}</a>. <i>{publisher}</i>. Retrieved {d} March 2024.</cite></span></li>\n",
            enc = self.enc,
            d = 1 + n % 28
        ));
    }

    fn data_table(&mut self) {
        self.out.push_str("<table class=\"wikitable\"><caption>Largest urban areas</caption><tbody><tr><th>Rank</th><th>Name</th><th>Population</th></tr>\n");
        for rank in 1..=self.rng.range(5, 12) {
            let pop = self.rng.range(10_000, 5_000_000);
            self.out.push_str(&format!("<tr><td>{rank}</td><td>"));
            let t = format!("City_{rank}_of_{}", self.row.title);
            push_wiki_link(
                &mut self.out,
                &encode_title(&t),
                &t,
                &format!("City {rank}"),
            );
            self.out
                .push_str(&format!("</td><td>{}</td></tr>\n", thousands(pop)));
        }
        self.out.push_str("</tbody></table>\n");
    }

    fn trailer(&mut self) {
        self.out.push_str(
            "<h2><span class=\"mw-headline\" id=\"See_also\">See also</span></h2>\n<ul>\n",
        );
        for aspect in ASPECTS {
            self.out.push_str("<li>");
            let text = format!("{}{}", aspect.replace('_', " "), self.row.display);
            self.aspect_link(aspect, &text);
            self.out.push_str("</li>\n");
        }
        self.out.push_str("</ul>\n<h2><span class=\"mw-headline\" id=\"References\">References</span></h2>\n<div class=\"reflist\"><ol class=\"references\">\n");
        let refs = std::mem::take(&mut self.refs);
        self.out.push_str(&refs);
        self.out.push_str("</ol></div>\n<h2><span class=\"mw-headline\" id=\"External_links\">External links</span></h2>\n<ul>\n");
        for site in ["gov", "tourism", "statistics", "parliament", "atlas"] {
            self.out.push_str(&format!(
                "<li><a rel=\"nofollow\" class=\"external text\" href=\"{EXTERNAL}/{site}/{enc}\">Official {site} site</a></li>\n",
                enc = self.enc
            ));
        }
        self.out.push_str("</ul>\n<div role=\"navigation\" class=\"navbox\"><table class=\"nowraplinks navbox-inner\"><tbody><tr><th class=\"navbox-title\">Countries and territories of ");
        self.out
            .push_str(&self.row.region.title().replace('_', " "));
        self.out
            .push_str("</th></tr>\n<tr><td class=\"navbox-list hlist\"><ul>\n");
        let region = self.row.region;
        for (i, other) in COUNTRIES
            .iter()
            .enumerate()
            .filter(|(_, c)| c.region == region)
        {
            if i == self.index {
                self.out.push_str("<li><a class=\"mw-selflink selflink\">");
                push_escaped(&mut self.out, other.display);
                self.out.push_str("</a></li>\n");
            } else {
                self.out.push_str("<li>");
                push_wiki_link(
                    &mut self.out,
                    &encode_title(other.title),
                    other.title,
                    other.display,
                );
                self.out.push_str("</li>\n");
            }
        }
        self.out.push_str("</ul></td></tr></tbody></table></div>\n");
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_417_492_000), "1,417,492,000");
    }

    #[test]
    fn page_is_deterministic_and_in_range() {
        let pool = TextPool::for_seed(1);
        let a = generate(1, 49, &pool);
        assert_eq!(a, generate(1, 49, &pool));
        assert!(
            (MIN_PAGE_BYTES..=MAX_PAGE_BYTES).contains(&a.len()),
            "{}",
            a.len()
        );
        assert!(a.contains("/wiki/C%C3%B4te_d%27Ivoire"));
        assert!(a.ends_with("</html>\n"));
        assert_ne!(a, generate(2, 49, &TextPool::for_seed(2)));
    }
}
