//! Text building blocks shared by the generated pages: HTML escaping, Wikipedia-style title
//! encoding, and a per-seed pool of filler sentences.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::rng::Rng;

/// The characters MediaWiki's `wfUrlencode` leaves alone in a title: `rawurlencode` keeps
/// `-_.~` and MediaWiki then restores `;@$!*(),/:`.
const TITLE_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b';')
    .remove(b'@')
    .remove(b'$')
    .remove(b'!')
    .remove(b'*')
    .remove(b'(')
    .remove(b')')
    .remove(b',')
    .remove(b'/')
    .remove(b':');

/// Percent-encodes a title the way Wikipedia writes it in `href`s
/// (`Côte_d'Ivoire` becomes `C%C3%B4te_d%27Ivoire`).
pub(crate) fn encode_title(title: &str) -> String {
    utf8_percent_encode(title, TITLE_KEEP).to_string()
}

/// Decodes a percent-encoded path segment (invalid UTF-8 is replaced).
pub(crate) fn decode_path(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// Appends `s` to `out`, escaped for HTML text and double- or single-quoted attributes.
pub(crate) fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
}

/// `s` escaped for HTML.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    out
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "in",
    "to",
    "a",
    "was",
    "is",
    "for",
    "as",
    "by",
    "with",
    "on",
    "that",
    "from",
    "which",
    "its",
    "were",
    "an",
    "at",
    "are",
    "has",
    "been",
    "after",
    "during",
    "under",
    "between",
    "into",
    "their",
    "most",
    "population",
    "government",
    "century",
    "region",
    "country",
    "national",
    "economy",
    "history",
    "capital",
    "city",
    "river",
    "coast",
    "mountains",
    "island",
    "republic",
    "kingdom",
    "empire",
    "colonial",
    "independence",
    "constitution",
    "parliament",
    "president",
    "minister",
    "election",
    "party",
    "trade",
    "agriculture",
    "industry",
    "export",
    "import",
    "tourism",
    "mining",
    "oil",
    "gas",
    "fishing",
    "coffee",
    "cotton",
    "rice",
    "wheat",
    "language",
    "official",
    "religion",
    "culture",
    "music",
    "literature",
    "cuisine",
    "sport",
    "football",
    "cricket",
    "education",
    "university",
    "school",
    "health",
    "life",
    "expectancy",
    "climate",
    "tropical",
    "temperate",
    "arid",
    "rainfall",
    "season",
    "monsoon",
    "forest",
    "desert",
    "savanna",
    "plateau",
    "lake",
    "border",
    "neighbouring",
    "territory",
    "province",
    "district",
    "municipality",
    "census",
    "estimate",
    "growth",
    "rate",
    "urban",
    "rural",
    "area",
    "square",
    "kilometres",
    "per",
    "cent",
    "million",
    "billion",
    "largest",
    "second",
    "third",
    "ancient",
    "medieval",
    "modern",
    "early",
    "late",
    "period",
    "dynasty",
    "war",
    "treaty",
    "alliance",
    "union",
    "federal",
    "democratic",
    "socialist",
    "military",
    "coup",
    "reform",
    "infrastructure",
    "railway",
    "port",
    "airport",
    "highway",
    "network",
    "energy",
    "hydroelectric",
    "renewable",
    "solar",
    "wind",
    "nuclear",
    "currency",
    "bank",
    "inflation",
    "debt",
    "gross",
    "domestic",
    "product",
    "income",
    "poverty",
    "inequality",
    "index",
    "development",
    "human",
    "rights",
    "freedom",
    "press",
    "media",
    "broadcasting",
    "television",
    "radio",
    "internet",
    "ethnic",
    "groups",
    "minority",
    "majority",
    "speakers",
    "dialects",
    "script",
    "heritage",
    "architecture",
    "festival",
    "traditional",
    "popular",
    "widely",
    "generally",
    "approximately",
    "officially",
    "historically",
    "notably",
    "although",
    "however",
    "while",
    "since",
    "until",
    "several",
    "many",
    "various",
    "major",
    "minor",
    "important",
    "significant",
    "recent",
];

/// Generic article titles linked from country pages (served as small `/wiki/` pages).
pub(crate) const TOPICS: &[&str] = &[
    "Gross_domestic_product",
    "Human_Development_Index",
    "Köppen_climate_classification",
    "Unitary_state",
    "Federal_republic",
    "Parliamentary_system",
    "Presidential_system",
    "Constitutional_monarchy",
    "United_Nations",
    "World_Bank",
    "International_Monetary_Fund",
    "World_Trade_Organization",
    "Time_zone",
    "Coordinated_Universal_Time",
    "Country_code_top-level_domain",
    "ISO_3166",
    "Telephone_numbering_plan",
    "Right-_and_left-hand_traffic",
    "Official_language",
    "Lingua_franca",
    "Demonym",
    "Sovereign_state",
    "Dependent_territory",
    "Colonialism",
    "Decolonisation",
    "Cold_War",
    "World_War_I",
    "World_War_II",
    "Industrial_Revolution",
    "Agriculture",
    "Tourism",
    "Petroleum",
    "Natural_gas",
    "Renewable_energy",
    "Biodiversity",
    "Deforestation",
    "Climate_change",
    "Urbanization",
    "Life_expectancy",
    "Literacy",
    "Infant_mortality",
    "Fertility_rate",
    "Religion",
    "Christianity",
    "Islam",
    "Hinduism",
    "Buddhism",
    "Irreligion",
    "Football",
    "Cricket",
    "Olympic_Games",
    "UNESCO",
    "World_Heritage_Site",
    "Cuisine",
    "Public_holiday",
    "Capital_city",
    "Legislature",
    "Judiciary",
    "Supreme_court",
    "Head_of_state",
    "Head_of_government",
    "Census",
    "Population_density",
    "Gini_coefficient",
    "Purchasing_power_parity",
    "Inflation",
    "Central_bank",
    "Currency",
    "Exchange_rate",
    "Export",
    "Import",
    "Trade_union",
    "Freedom_of_the_press",
    "Corruption_Perceptions_Index",
    "Democracy_Index",
    "Human_rights",
    "Internet_censorship",
    "Broadcasting",
    "Railway",
    "Port",
    "Airport",
    "Highway",
    "Hydroelectricity",
    "Solar_power",
    "Wind_power",
    "Nuclear_power",
    "Mining",
    "Fishing",
    "Forestry",
    "Tropical_climate",
    "Desert_climate",
    "Monsoon",
    "Earthquake",
    "Volcano",
    "Mountain_range",
    "River_delta",
    "Archipelago",
    "Exclusive_economic_zone",
    "Ethnic_group",
];

/// Filler sentence fragments for one seed, generated once and shared by every page.
#[derive(Debug)]
pub(crate) struct TextPool {
    /// Sentence starts (capitalised, no final punctuation).
    pub(crate) heads: Vec<String>,
    /// Sentence ends (lower case, ending with a full stop).
    pub(crate) tails: Vec<String>,
}

const POOL_SIZE: usize = 1024;

impl TextPool {
    fn generate(seed: u64) -> TextPool {
        let mut rng = Rng::new(seed ^ 0x7e47_9001);
        let phrase = |rng: &mut Rng, lo: u64, hi: u64| {
            let n = rng.range(lo, hi);
            let mut s = String::new();
            for i in 0..n {
                if i > 0 {
                    s.push(' ');
                }
                s.push_str(WORDS[rng.index(WORDS.len())]);
            }
            s
        };
        let heads = (0..POOL_SIZE)
            .map(|_| {
                let mut s = phrase(&mut rng, 4, 12);
                if let Some(first) = s.get(..1) {
                    let upper = first.to_ascii_uppercase();
                    s.replace_range(..1, &upper);
                }
                s
            })
            .collect();
        let tails = (0..POOL_SIZE)
            .map(|_| {
                let mut s = phrase(&mut rng, 3, 10);
                s.push('.');
                s
            })
            .collect();
        TextPool { heads, tails }
    }

    /// The pool for `seed`, built on first use and cached for the life of the process.
    pub(crate) fn for_seed(seed: u64) -> Arc<TextPool> {
        static POOLS: OnceLock<Mutex<HashMap<u64, Arc<TextPool>>>> = OnceLock::new();
        let pools = POOLS.get_or_init(Default::default);
        // A poisoned lock only means another thread panicked while inserting: the map is
        // still consistent, so keep using it.
        let mut map = pools.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(seed)
            .or_insert_with(|| Arc::new(TextPool::generate(seed)))
            .clone()
    }

    /// A random sentence start.
    pub(crate) fn head(&self, rng: &mut Rng) -> &str {
        &self.heads[rng.index(self.heads.len())]
    }

    /// A random sentence end.
    pub(crate) fn tail(&self, rng: &mut Rng) -> &str {
        &self.tails[rng.index(self.tails.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_encode_like_wikipedia() {
        assert_eq!(encode_title("Côte_d'Ivoire"), "C%C3%B4te_d%27Ivoire");
        assert_eq!(encode_title("Georgia_(country)"), "Georgia_(country)");
        assert_eq!(
            encode_title("Saint_Helena,_Ascension_and_Tristan_da_Cunha"),
            "Saint_Helena,_Ascension_and_Tristan_da_Cunha"
        );
        assert_eq!(encode_title("Special:Random"), "Special:Random");
        assert_eq!(decode_path("C%C3%B4te_d%27Ivoire"), "Côte_d'Ivoire");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn pool_is_deterministic() {
        let a = TextPool::generate(3);
        let b = TextPool::generate(3);
        assert_eq!(a.heads, b.heads);
        assert_eq!(a.tails, b.tails);
        assert!(
            a.heads
                .iter()
                .all(|h| h.chars().next().is_some_and(char::is_uppercase))
        );
    }
}
