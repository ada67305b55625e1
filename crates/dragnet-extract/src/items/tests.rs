use super::*;
use crate::{LinkSelector, extract_bytes_with_items, extract_with_items};

fn page() -> Url {
    Url::parse("https://en.wikipedia.org/wiki/List_of_countries").unwrap()
}

/// The shape of Wikipedia's (and the test site's) population table: a header row of `<th>`,
/// a "World" row without a flag, then one row per country.
const TABLE: &str = r##"<html><head><title>List</title></head><body>
<table class="wikitable sortable"><tbody>
<tr><th>Location</th><th>Population</th><th>% of world</th></tr>
<tr class="static-row-header"><td><a href="/wiki/World_population">World</a></td><td>8,119,000,000</td><td>100%</td></tr>
<tr><td><span class="flagicon"><img src="//upload.example/cn.svg"></span> <a href="/wiki/China" title="China">China</a></td>
    <td style="text-align:right">1,411,750,000</td><td>17.3%</td></tr>
<tr><td><span class="flagicon"><img src="//upload.example/ci.svg"></span>&nbsp;<a href="/wiki/C%C3%B4te_d%27Ivoire">Ivory
      Coast</a></td><td>
      31,165,654 </td><td>0.4%</td></tr>
</tbody></table>
<table class="other"><tr><td><span class="flagicon"></span> <a href="/wiki/Elsewhere">No</a></td></tr></table>
</body></html>"##;

fn reference_rules() -> ItemRules {
    ItemRules::parse(
        Some("table.wikitable tbody tr"),
        &[
            "name=td .flagicon + a",
            "link=td .flagicon + a@href",
            "population=td:nth-child(2)",
        ],
    )
    .unwrap()
}

fn values(item: &Item) -> Vec<Option<&str>> {
    item.fields.iter().map(|(_, v)| v.as_deref()).collect()
}

#[test]
fn reference_table_gives_one_item_per_row_with_a_match() {
    let out = extract_with_items(TABLE, &page(), None, Some(&reference_rules()));
    // The header row (all <th>) matches no field and gives no item; the World row has a
    // population but no flag, so it is kept with null name and link.
    assert_eq!(out.items.len(), 3, "{:?}", out.items);
    assert_eq!(
        values(&out.items[0]),
        [None, None, Some("8,119,000,000")],
        "World row"
    );
    assert_eq!(
        values(&out.items[1]),
        [
            Some("China"),
            Some("https://en.wikipedia.org/wiki/China"),
            Some("1,411,750,000")
        ]
    );
    assert_eq!(
        values(&out.items[2]),
        [
            Some("Ivory Coast"),
            Some("https://en.wikipedia.org/wiki/C%C3%B4te_d%27Ivoire"),
            Some("31,165,654")
        ]
    );
    let names: Vec<&str> = out.items[1]
        .fields
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["name", "link", "population"], "rule order");
    assert!(out.links.is_empty(), "no follow rule, no links");
}

#[test]
fn has_selects_only_country_rows() {
    let rules = ItemRules::parse(
        Some("table.wikitable tr:has(.flagicon)"),
        &["name=td .flagicon + a", "population=td:nth-child(2)"],
    )
    .unwrap();
    let out = extract_with_items(TABLE, &page(), None, Some(&rules));
    let names: Vec<_> = out.items.iter().map(|i| i.get("name").unwrap()).collect();
    assert_eq!(names, ["China", "Ivory Coast"]);
}

#[test]
fn links_and_items_come_from_one_call() {
    let follow = LinkSelector::parse("td .flagicon + a").unwrap();
    let out = extract_with_items(TABLE, &page(), Some(&follow), Some(&reference_rules()));
    assert_eq!(
        out.links.len(),
        3,
        "the other table's flag link is followed too"
    );
    assert_eq!(out.items.len(), 3);
    assert_eq!(out.title.as_deref(), Some("List"));
    // Without items the result is what `extract` gives.
    let plain = crate::extract(TABLE, &page(), &follow);
    assert_eq!(
        extract_with_items(TABLE, &page(), Some(&follow), None),
        plain
    );
    assert!(plain.items.is_empty());
}

#[test]
fn without_item_selector_one_item_per_page_from_first_matches() {
    let rules = ItemRules::parse(
        None,
        &[
            "title=title",
            "first=td .flagicon + a",
            "img=img@src",
            "missing=.nope",
        ],
    )
    .unwrap();
    let out = extract_with_items(TABLE, &page(), None, Some(&rules));
    assert_eq!(out.items.len(), 1);
    assert_eq!(
        values(&out.items[0]),
        [
            Some("List"),
            Some("China"),
            Some("https://upload.example/cn.svg"),
            None
        ]
    );
    let none = ItemRules::parse(None, &["x=.nope"]).unwrap();
    let out = extract_with_items(TABLE, &page(), None, Some(&none));
    assert!(
        out.items.is_empty(),
        "a page where nothing matches gives no item"
    );
}

#[test]
fn attributes_resolve_against_base_and_keep_other_values() {
    let html = r#"<head><base href="https://cdn.example/dir/"></head>
        <div class="r"><a href=" rel/x?q=1 " data-id="7" title="T">Go</a>
        <a class="m" href="mailto:a@b.c">m</a><a class="bad" href="http://[::1">b</a></div>"#;
    let rules = ItemRules::parse(
        Some("div.r"),
        &[
            "link=a@href",
            "id=a@data-id",
            "title=a@TITLE",
            "none=a@rel",
            "mail=a.m@href",
            "bad=a.bad@href",
        ],
    )
    .unwrap();
    let out = extract_with_items(html, &page(), None, Some(&rules));
    assert_eq!(
        values(&out.items[0]),
        [
            Some("https://cdn.example/dir/rel/x?q=1"),
            Some("7"),
            Some("T"),
            None,
            Some("mailto:a@b.c"),
            Some("http://[::1"),
        ]
    );
}

#[test]
fn empty_selector_is_the_item_element() {
    let html = r#"<a class="r" href="/one">One <b>1</b></a><a class="r" href="/two">Two</a>"#;
    let rules = ItemRules::parse(Some("a.r"), &["text=", "link=@href"]).unwrap();
    let out = extract_with_items(html, &page(), None, Some(&rules));
    let got: Vec<_> = out.items.iter().map(values).collect();
    assert_eq!(
        got,
        [
            [Some("One 1"), Some("https://en.wikipedia.org/one")],
            [Some("Two"), Some("https://en.wikipedia.org/two")]
        ]
    );
}

#[test]
fn at_sign_inside_css_is_not_an_attribute() {
    let html = r#"<a href="mailto:x@y">mail</a><a href="/p">p</a>"#;
    let rules = ItemRules::parse(None, &[r#"m=a[href^="mailto:x@y"]"#]).unwrap();
    let out = extract_with_items(html, &page(), None, Some(&rules));
    assert_eq!(out.items[0].get("m"), Some("mail"));
}

#[test]
fn bytes_variant_decodes_and_encodes_queries_in_the_page_encoding() {
    let body = b"<meta charset=windows-1252><p class=n>Caf\xE9</p><a href='/s?q=\xE9'>x</a>";
    let rules = ItemRules::parse(None, &["name=p.n", "link=a@href"]).unwrap();
    let out = extract_bytes_with_items(body, None, &page(), None, Some(&rules));
    assert_eq!(out.items[0].get("name"), Some("Café"));
    assert_eq!(
        out.items[0].get("link"),
        Some("https://en.wikipedia.org/s?q=%E9")
    );
}

#[test]
fn bad_rules_are_clear_errors() {
    let bad = |item: Option<&str>, fields: &[&str]| {
        ItemRules::parse(item, fields).unwrap_err().to_string()
    };
    assert!(
        bad(None, &["name"]).contains("expected name=CSS"),
        "{}",
        bad(None, &["name"])
    );
    assert!(bad(None, &["=a"]).contains("name is empty"));
    assert!(bad(None, &["url=a"]).contains("always columns"));
    assert!(bad(None, &["a=p", "a=q"]).contains("used twice"));
    assert!(bad(None, &["a=@href"]).contains("needs --item"));
    assert!(bad(Some("tr"), &[]).contains("at least one field"));
    assert!(bad(None, &[&format!("{}=p", "n".repeat(64))]).contains("63 bytes"));
    assert!(bad(None, &["a=td ++ a"]).starts_with("invalid CSS selector \"td ++ a\""));
    assert!(bad(Some("tr["), &["a=p"]).starts_with("invalid CSS selector \"tr[\""));
}

#[test]
fn items_serialise_as_ordered_objects() {
    let item = Item {
        fields: vec![
            ("z".into(), Some("1".into())),
            ("a".into(), None),
            ("m".into(), Some("\"q\"".into())),
        ],
    };
    assert_eq!(
        serde_json::to_string(&item).unwrap(),
        r#"{"z":"1","a":null,"m":"\"q\""}"#
    );
    let rules = reference_rules();
    assert_eq!(rules.field_names(), ["name", "link", "population"]);
    assert_eq!(rules.item_selector(), Some("table.wikitable tbody tr"));
    assert!(format!("{rules:?}").contains("link=td .flagicon + a@href"));
    fn check<T: Send + Sync>() {}
    check::<ItemRules>();
    check::<Item>();
}
