//! temporary timing probe
fn main() {
    let page = url::Url::parse("https://e.org/").unwrap();
    for n in [5_000usize, 20_000, 100_000] {
        for tag in ["<div>", "<b>", "<table>", "<span>"] {
            let html = format!("{}<a href='/deep'>x</a>", tag.repeat(n));
            let t = std::time::Instant::now();
            let out = dragnet_extract::extract(&html, &page, &dragnet_extract::LinkSelector::all_links());
            println!("{n} {tag} {} bytes: {:?} links={}", html.len(), t.elapsed(), out.links.len());
        }
    }
}
