#![no_main]
use dragnet_extract::{ItemRules, LinkSelector, extract_bytes_with_items};
use libfuzzer_sys::fuzz_target;
use url::Url;
fuzz_target!(|data: &[u8]| {
    // item \xff field1 \xff field2 \xff body
    let mut parts = data.splitn(4, |&b| b == 0xff);
    let item = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let f1 = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let f2 = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let body = parts.next().unwrap_or_default();
    let page = Url::parse("https://h.example/a/b?x").unwrap();
    let sel = LinkSelector::parse(&item).ok();
    let item_opt = if item.is_empty() {
        None
    } else {
        Some(item.as_str())
    };
    let rules = ItemRules::parse(item_opt, &[f1.as_str(), f2.as_str()]).ok();
    if let Some(r) = &rules {
        let _ = r.field_names();
        let _ = format!("{r:?}");
    }
    let out =
        extract_bytes_with_items(body, Some("text/html"), &page, sel.as_ref(), rules.as_ref());
    assert!(
        out.links
            .iter()
            .all(|u| matches!(u.scheme(), "http" | "https"))
    );
    for it in &out.items {
        let _ = it.get("x");
    }
});
