//! HTML parsing with bounds on nesting depth and element count, so that it stays linear.
//!
//! html5ever (behind scraper) walks its stack of open elements for many start tags (e.g. every
//! `<div>` checks for an open `<p>` "in button scope"), so a page of N nested elements costs
//! O(N²): 500 KB of `<div>` took 36 s in a release build. Browsers bound this by capping the
//! tree depth (Blink at 512). html5ever has no such option, so this module sits between its
//! tokenizer and tree builder and drops start tags that would nest deeper than [`MAX_DEPTH`].
//! Pages from the real web never get near it (their trees are tens of levels deep); hostile ones
//! are parsed in linear time, with the dropped tags counted.
//!
//! One html5ever mechanism deepens the tree without start tags: "reconstruct the active formatting
//! elements" re-creates every remembered `<b>`, `<i>`, `<font>`... at once, and a page can make
//! it remember thousands (`<p><b id=1></p><p><b id=2></p>...`: 270 KB took 18 s and millions of
//! nodes in plain scraper). Two limits stop that; past either, the rest of the page is ignored:
//! one token may create at most [`MAX_CREATED_PER_TOKEN`] elements (real pages re-create a few
//! misnested formatting elements at most), and a page at most [`ELEMENTS_PER_BYTE`] elements
//! per input byte plus a constant (real pages create one per tens of bytes).
//!
//! The depth is measured, not guessed from the bytes: a wrapper around scraper's tree sink records
//! the depth of every element as it is attached, and every attachment reveals the depth of the
//! node the tree builder is inserting into (its current node). So raw text, comments, implied end
//! tags and foreign content are all exactly as html5ever sees them. End tags pop elements without
//! always telling the sink; when that leaves the known depth stale near the limit, the filter sends
//! the tree builder a probe comment, which it inserts at its current node, and the sink records
//! where it went instead of attaching it.

use std::cell::Cell;

use html5ever::buffer_queue::BufferQueue;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts, TreeSink};
use html5ever::{TokenizerResult, local_name};
use scraper::Html;

mod sink;

use sink::{DepthSink, Handle};

/// Deepest element nesting kept (Blink's limit). Start tags that would go deeper are dropped.
pub(crate) const MAX_DEPTH: u32 = 512;

/// Element budget per input byte. The densest honest markup (`<p><p><p>`, stray `</p>`s that
/// each create a `<p>`) creates one element per 3-4 bytes.
const ELEMENTS_PER_BYTE: u64 = 1;

/// Element budget every page gets on top of the per-byte one (implied `<html>`, `<tbody>`, ...).
const ELEMENTS_BASE: u64 = 10_000;

/// Most elements one token may create: itself, implied parents (`<td>` alone creates `<tbody>`,
/// `<tr>`, `<td>`) and re-created formatting elements (legacy `<font>` soup can hold a few dozen
/// distinct ones). More means a formatting-element bomb. It also bounds how far past
/// [`MAX_DEPTH`] one re-creation can push the tree.
const MAX_CREATED_PER_TOKEN: u64 = 64;

/// Parses `html` as a document, like `Html::parse_document`, but never nesting elements deeper
/// than `max_depth` and never creating more elements than the budget. Returns the document and how
/// many start tags were dropped to keep it so.
pub(crate) fn parse_document(html: &str, max_depth: u32) -> (Html, u64) {
    let sink = DepthSink::new();
    let filter = DepthFilter {
        builder: TreeBuilder::new(sink, TreeBuilderOpts::default()),
        max_depth,
        max_elements: ELEMENTS_BASE
            .saturating_add(ELEMENTS_PER_BYTE.saturating_mul(html.len() as u64)),
        dropped: Cell::new(0),
        halted: Cell::new(false),
    };
    let tokenizer = Tokenizer::new(filter, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // `Script` results only pause the tokenizer so that a browser could run the script; as in
    // html5ever's own driver, keep feeding until the input is used up.
    while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
    tokenizer.end();
    let dropped = tokenizer.sink.dropped.get();
    (tokenizer.sink.builder.sink.finish(), dropped)
}

/// HTML elements that never stay open, so never deepen the tree. (In SVG or MathML the same
/// names are ordinary elements that nest.)
fn is_void(name: &html5ever::LocalName) -> bool {
    matches!(
        *name,
        local_name!("area")
            | local_name!("base")
            | local_name!("br")
            | local_name!("col")
            | local_name!("embed")
            | local_name!("hr")
            | local_name!("img")
            | local_name!("input")
            | local_name!("link")
            | local_name!("meta")
            | local_name!("source")
            | local_name!("track")
            | local_name!("wbr")
            | local_name!("param")
            | local_name!("keygen")
            | local_name!("basefont")
            | local_name!("bgsound")
            | local_name!("frame")
    )
}

/// Token filter between the tokenizer and the tree builder.
struct DepthFilter {
    builder: TreeBuilder<Handle, DepthSink>,
    max_depth: u32,
    max_elements: u64,
    dropped: Cell<u64>,
    /// Set once a limit was crossed: from then on only EOF reaches the tree builder.
    halted: Cell<bool>,
}

impl DepthFilter {
    /// Whether a start tag with this name cannot deepen the tree where it will be inserted.
    fn stays_shallow(&self, name: &html5ever::LocalName) -> bool {
        is_void(name)
            && !self
                .builder
                .adjusted_current_node_present_but_not_in_html_namespace()
    }

    /// Refreshes the sink's idea of the current depth by having the tree builder insert a comment
    /// at its current node. Only called near the limit after end tags, i.e. on hostile pages. A
    /// comment changes no parser state that the following start tag would not change anyway. If
    /// the comment lands where it says nothing (after `</body>`), the depth stays stale and the
    /// start tag is dropped: erring towards dropping is what keeps parsing linear.
    fn probe(&self, line_number: u64) {
        let sink = &self.builder.sink;
        sink.probing.set(true);
        // The result of a comment token is always `Continue`.
        let _ = self
            .builder
            .process_token(Token::CommentToken(StrTendril::new()), line_number);
        sink.probing.set(false);
    }
}

impl TokenSink for DepthFilter {
    type Handle = Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Handle> {
        let sink = &self.builder.sink;
        if self.halted.get() {
            // Nothing more reaches the tree builder but EOF, so the document is finished
            // properly.
            match &token {
                Token::EOFToken => return self.builder.process_token(token, line_number),
                Token::TagToken(tag) if tag.kind == TagKind::StartTag => {
                    self.dropped.set(self.dropped.get() + 1);
                }
                _ => {}
            }
            return TokenSinkResult::Continue;
        }
        if let Token::TagToken(tag) = &token {
            match tag.kind {
                TagKind::EndTag => sink.stale.set(true),
                TagKind::StartTag if !self.stays_shallow(&tag.name) => {
                    if sink.current.get() >= self.max_depth && sink.stale.get() {
                        self.probe(line_number);
                    }
                    if sink.current.get() >= self.max_depth {
                        self.dropped.set(self.dropped.get() + 1);
                        return TokenSinkResult::Continue;
                    }
                }
                TagKind::StartTag => {}
            }
        }
        let created_before = sink.created.get();
        let result = self.builder.process_token(token, line_number);
        let created = sink.created.get();
        if created - created_before > MAX_CREATED_PER_TOKEN || created > self.max_elements {
            self.halted.set(true);
        }
        result
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use scraper::Selector;

    fn count(html: &Html, css: &str) -> usize {
        html.select(&Selector::parse(css).unwrap()).count()
    }

    /// Depth of the deepest element.
    fn max_depth(html: &Html) -> usize {
        html.root_element()
            .descendent_elements()
            .map(|e| e.ancestors().count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn same_tree_as_scraper_on_ordinary_html() {
        let page = r#"<!doctype html><html><head><title>T</title><script>if (a<b) x("<div>")</script>
            <style>p > a {}</style></head><body><table><tr><td><span class=flagicon><img></span>
            <a href="/x">x</a></td></tr></table><p>one<p>two<ul><li>a<li>b</ul><b><i>x</b>y</i>
            <svg><path d=""/><g><title>t</title></g></svg><template><div>t</div></template>
            <select><option>1<option>2</select><div><table><div>foster</div></table></div>
            <textarea><div></textarea></body></html>"#;
        let ours = parse_document(page, MAX_DEPTH);
        let theirs = Html::parse_document(page);
        assert_eq!(ours.1, 0);
        assert_eq!(ours.0.html(), theirs.html());
    }

    #[test]
    fn deep_nesting_is_capped_and_linear() {
        for unit in [
            "<div>",
            "<span>",
            "<b>",
            "<x-y>",
            "<ul><li>",
            "<table><tr><td>",
            "<rt>",
            "<svg>",
            "<dl><dd>",
            "<div></p>",
        ] {
            let page = format!("{}<a href='/deep'>x</a>", unit.repeat(5_000));
            let (html, dropped) = parse_document(&page, 64);
            assert!(max_depth(&html) <= 64 + 4, "{unit}: {}", max_depth(&html));
            assert!(dropped > 0, "{unit}");
        }
    }

    #[test]
    fn void_names_nest_in_foreign_content_and_are_capped_there() {
        for unit in ["<html a=1>", "<link>", "<input>", "<source>"] {
            let page = format!("<math>{}", unit.repeat(2_000));
            let (html, dropped) = parse_document(&page, 64);
            assert!(max_depth(&html) <= 64 + 4, "{unit}: {}", max_depth(&html));
            assert!(dropped > 0, "{unit}");
        }
    }

    #[test]
    fn links_and_void_elements_survive_at_the_cap() {
        let page = format!(
            "{}<img src=a.png><link href=/c.css><br><a href='/deep'>x</a>{}<a href='/after'>y</a>",
            "<div>".repeat(100),
            "</div>".repeat(100)
        );
        let (html, dropped) = parse_document(&page, 50);
        // html is at depth 1, body 2, the n-th div n + 2: divs 49..=100 and the first link go.
        assert_eq!(dropped, 53);
        assert_eq!(count(&html, "img, link, br"), 3);
        assert_eq!(count(&html, "a[href='/after']"), 1);
    }

    #[test]
    fn stray_end_tags_do_not_hide_depth() {
        // `</x>` matches nothing, so nothing is popped: the probe must see that.
        let page = format!("{}<a href=/deep>x</a>", "<div></x>".repeat(5_000));
        let (html, dropped) = parse_document(&page, 64);
        assert!(max_depth(&html) <= 64 + 4);
        assert_eq!(dropped, 5_000 - 62 + 1);
        assert_eq!(count(&html, "a"), 0);
        // The probe leaves no trace in the tree.
        assert!(!html.html().contains("<!---->"));
    }

    /// Soup made of the tokens that exercise the tree builder's odd corners.
    fn tag_soup() -> impl Strategy<Value = String> {
        const PIECES: &[&str] = &[
            "<div>",
            "</div>",
            "<p>",
            "</p>",
            "<table>",
            "</table>",
            "<tr>",
            "<td>",
            "</td>",
            "<caption>",
            "<b>",
            "</b>",
            "<i>",
            "</i>",
            "<a href=x>",
            "</a>",
            "<nobr>",
            "<font>",
            "<svg>",
            "</svg>",
            "<path/>",
            "<foreignObject>",
            "<math>",
            "<mi>",
            "<template>",
            "</template>",
            "<select>",
            "<option>",
            "</select>",
            "<script>",
            "</script>",
            "<style>",
            "<!--c-->",
            "text",
            " ",
            "<li>",
            "<ul>",
            "</ul>",
            "<dd>",
            "<frameset>",
            "<noscript>",
            "<textarea>",
            "</textarea>",
            "<title>",
            "<br/>",
            "<img>",
            "</br>",
            "<form>",
            "</form>",
            "<button>",
            "<h1>",
            "</h1>",
            "<pre>\n",
            "<body x=1>",
            "<html a=1>",
            "<head>",
            "</head>",
            "</body>",
            "</html>",
            "<rt>",
            "<ruby>",
            "<x-y/>",
            "</x>",
            "<iframe>",
            "<plaintext>",
            "<!doctype html>",
            "<col>",
            "<colgroup>",
            "<link>",
            "<input>",
            "<meta>",
            "<desc>",
            "<annotation-xml encoding=text/html>",
        ];
        proptest::collection::vec(proptest::sample::select(PIECES), 0..60)
            .prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn transparent_below_the_cap(html in tag_soup()) {
            let (ours, dropped) = parse_document(&html, MAX_DEPTH);
            prop_assert_eq!(dropped, 0);
            prop_assert_eq!(ours.html(), Html::parse_document(&html).html());
        }

        #[test]
        fn bounded_at_a_small_cap(html in tag_soup(), copies in 1..8usize) {
            let html = html.repeat(copies);
            let (capped, _) = parse_document(&html, 8);
            // Only re-created formatting elements (and a few implied ones) go past the cap, so
            // nesting made of anything else no longer grows with the input.
            let formatting = ["<b>", "<i>", "<a ", "<nobr>", "<font>"]
                .iter()
                .map(|tag| html.matches(tag).count())
                .sum::<usize>();
            let depth = max_depth(&capped);
            prop_assert!(depth <= 8 + 6 + formatting, "{} > 14 + {}", depth, formatting);
        }
    }

    #[test]
    fn formatting_element_bomb_is_cut_off() {
        let mut page: String = (0..3_000).map(|i| format!("<p><b id={i}></p>")).collect();
        page.push_str("<p>x</p>");
        let (html, dropped) = parse_document(&page, MAX_DEPTH);
        let elements = html.root_element().descendent_elements().count();
        // Each `<b>` re-creates all the earlier ones, so the page stops after the token that
        // re-created more than the limit: about limit²/2 elements by then.
        let limit = MAX_CREATED_PER_TOKEN as usize;
        assert!(elements < limit * limit, "{elements}");
        assert!(dropped > 5_000, "{dropped}");
    }

    #[test]
    fn element_budget_allows_dense_honest_markup() {
        // One element per 3 bytes, the densest markup there is.
        let page = "<p>".repeat(30_000);
        let (html, dropped) = parse_document(&page, MAX_DEPTH);
        assert_eq!(dropped, 0);
        assert_eq!(count(&html, "p"), 30_000);
    }

    #[test]
    fn closing_tags_give_the_depth_back() {
        let block = format!("{}{}", "<div>".repeat(40), "</div>".repeat(40));
        let page = format!("{}<p><a href=/z>z</a>", block.repeat(50));
        let (html, dropped) = parse_document(&page, 45);
        assert_eq!(dropped, 0);
        assert_eq!(count(&html, "a"), 1);
        assert_eq!(count(&html, "div"), 2_000);
    }
}
