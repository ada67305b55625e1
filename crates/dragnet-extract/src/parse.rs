//! HTML parsing with a bound on nesting depth.
//!
//! html5ever (behind scraper) walks its stack of open elements for many start tags (e.g. every
//! `<div>` checks for an open `<p>` "in button scope"), so a page of N nested elements costs
//! O(N²): 500 KB of `<div>` took 36 s in a release build. Browsers bound this by capping the
//! tree depth (Blink at 512). html5ever has no such option, so this module sits between its
//! tokenizer and tree builder and drops start tags that would nest deeper than [`MAX_DEPTH`].
//! Pages from the real web never get near it (their trees are tens of levels deep); hostile ones
//! are parsed in linear time, with the dropped tags counted.
//!
//! The depth is measured, not guessed from the bytes: a wrapper around scraper's tree sink records
//! the depth of every element as it is attached, and every attachment reveals the depth of the
//! node the tree builder is inserting into (its current node). So raw text, comments, implied end
//! tags and foreign content are all exactly as html5ever sees them. End tags pop elements without
//! always telling the sink; when that leaves the known depth stale near the limit, the filter sends
//! the tree builder a probe comment, which it inserts at its current node, and the sink records
//! where it went instead of attaching it.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use html5ever::buffer_queue::BufferQueue;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::tree_builder::{
    ElementFlags, NodeOrText, QuirksMode, TreeBuilder, TreeBuilderOpts, TreeSink,
};
use html5ever::{Attribute, QualName, TokenizerResult, local_name};
use scraper::{Html, HtmlTreeSink};

/// Deepest element nesting kept (Blink's limit). Start tags below this depth are dropped.
pub(crate) const MAX_DEPTH: u32 = 512;

type Handle = <HtmlTreeSink as TreeSink>::Handle;

/// Node handles are small sequential integers chosen by the parser, not by the page, so a
/// multiplicative hash is enough, and much cheaper than SipHash on this per-element path.
#[derive(Default)]
struct HandleHasher(u64);

impl Hasher for HandleHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        // usize is at most 64 bits on every supported target.
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type DepthMap = HashMap<Handle, u32, BuildHasherDefault<HandleHasher>>;

/// Parses `html` as a document, like `Html::parse_document`, but never nesting elements deeper
/// than `max_depth`. Returns the document and how many start tags were dropped to keep it so.
pub(crate) fn parse_document(html: &str, max_depth: u32) -> (Html, u64) {
    let sink = DepthSink {
        inner: HtmlTreeSink::new(Html::new_document()),
        depths: RefCell::new(DepthMap::default()),
        current: Cell::new(0),
        stale: Cell::new(false),
        probing: Cell::new(false),
        probe: Cell::new(None),
    };
    let filter = DepthFilter {
        builder: TreeBuilder::new(sink, TreeBuilderOpts::default()),
        max_depth,
        dropped: Cell::new(0),
    };
    let tokenizer = Tokenizer::new(filter, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // `Script` results only pause the tokenizer so that a browser could run the script; as in
    // html5ever's own driver, keep feeding until the input is used up.
    while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
    tokenizer.end();
    let dropped = tokenizer.sink.dropped.get();
    (tokenizer.sink.builder.sink.inner.finish(), dropped)
}

/// Elements that never stay open, so never deepen the tree.
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
            // These three merge into the existing element rather than nesting.
            | local_name!("html")
            | local_name!("head")
            | local_name!("body")
    )
}

/// Token filter between the tokenizer and the tree builder.
struct DepthFilter {
    builder: TreeBuilder<Handle, DepthSink>,
    max_depth: u32,
    dropped: Cell<u64>,
}

impl DepthFilter {
    /// Refreshes the sink's idea of the current depth by having the tree builder insert a comment
    /// at its current node. Only called near the limit after end tags, i.e. on hostile pages. A
    /// comment changes no parser state that the following start tag would not change anyway.
    fn probe(&self, line_number: u64) {
        let sink = &self.builder.sink;
        sink.probing.set(true);
        // The result of a comment token is always `Continue`.
        let _ = self
            .builder
            .process_token(Token::CommentToken(StrTendril::new()), line_number);
        sink.probing.set(false);
        sink.stale.set(false);
    }
}

impl TokenSink for DepthFilter {
    type Handle = Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Handle> {
        let sink = &self.builder.sink;
        if let Token::TagToken(tag) = &token {
            match tag.kind {
                TagKind::EndTag => sink.stale.set(true),
                TagKind::StartTag if !is_void(&tag.name) => {
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
        self.builder.process_token(token, line_number)
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// scraper's tree sink, plus the depth of each element and of the current insertion point.
struct DepthSink {
    inner: HtmlTreeSink,
    /// Depth of every element (and template contents) created so far; the document is 0.
    depths: RefCell<DepthMap>,
    /// Depth of the tree builder's current node, as last seen.
    current: Cell<u32>,
    /// Whether elements may have been popped since `current` was last seen.
    stale: Cell<bool>,
    /// Set while the filter's probe comment is in flight.
    probing: Cell<bool>,
    /// The probe comment: created once, never attached.
    probe: Cell<Option<Handle>>,
}

impl DepthSink {
    fn depth(&self, node: &Handle) -> u32 {
        self.depths.borrow().get(node).copied().unwrap_or(0)
    }

    /// Whether `child` is the probe comment (which is recorded, never attached).
    fn is_probe(&self, child: &NodeOrText<Handle>) -> bool {
        self.probing.get()
            && matches!(child, NodeOrText::AppendNode(node) if Some(*node) == self.probe.get())
    }

    /// `child` is being attached under a node at `parent_depth`, which the tree builder only does
    /// to its current node (or, when foster parenting, next to the table it is in).
    fn attached(&self, parent_depth: u32, child: &NodeOrText<Handle>) {
        self.current.set(parent_depth);
        self.stale.set(false);
        if let NodeOrText::AppendNode(node) = child {
            let mut depths = self.depths.borrow_mut();
            // Only elements are in the map (see `create_element`): a comment does not deepen.
            if let Some(depth) = depths.get_mut(node) {
                *depth = parent_depth + 1;
                // A new element becomes the current node (void ones are popped right after).
                self.current.set(parent_depth + 1);
            }
        }
    }
}

impl TreeSink for DepthSink {
    type Handle = Handle;
    type Output = Html;
    type ElemName<'a> = <HtmlTreeSink as TreeSink>::ElemName<'a>;

    fn finish(self) -> Html {
        self.inner.finish()
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {
        // Not forwarded: scraper would keep every message, and a hostile page can produce one
        // per byte. Nothing here reads them.
    }

    fn get_document(&self) -> Handle {
        self.inner.get_document()
    }

    fn elem_name<'a>(&'a self, target: &'a Handle) -> Self::ElemName<'a> {
        self.inner.elem_name(target)
    }

    fn create_element(&self, name: QualName, attrs: Vec<Attribute>, flags: ElementFlags) -> Handle {
        let node = self.inner.create_element(name, attrs, flags);
        self.depths.borrow_mut().insert(node, 0);
        node
    }

    fn create_comment(&self, text: StrTendril) -> Handle {
        if !self.probing.get() {
            return self.inner.create_comment(text);
        }
        // One orphan node serves every probe, so probing allocates nothing per tag.
        let probe = self
            .probe
            .get()
            .unwrap_or_else(|| self.inner.create_comment(text));
        self.probe.set(Some(probe));
        probe
    }

    fn create_pi(&self, target: StrTendril, data: StrTendril) -> Handle {
        self.inner.create_pi(target, data)
    }

    fn append(&self, parent: &Handle, child: NodeOrText<Handle>) {
        self.attached(self.depth(parent), &child);
        if !self.is_probe(&child) {
            self.inner.append(parent, child);
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &Handle,
        prev_element: &Handle,
        child: NodeOrText<Handle>,
    ) {
        // The same choice scraper makes, so that the depth follows where the node really goes.
        let has_parent = self
            .inner
            .0
            .borrow()
            .tree
            .get(*element)
            .and_then(|node| node.parent())
            .is_some();
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, name: StrTendril, public: StrTendril, system: StrTendril) {
        self.inner.append_doctype_to_document(name, public, system);
    }

    fn mark_script_already_started(&self, node: &Handle) {
        self.inner.mark_script_already_started(node);
    }

    fn pop(&self, node: &Handle) {
        self.current.set(self.depth(node).saturating_sub(1));
        self.inner.pop(node);
    }

    fn get_template_contents(&self, target: &Handle) -> Handle {
        let contents = self.inner.get_template_contents(target);
        let depth = self.depth(target);
        self.depths.borrow_mut().insert(contents, depth);
        contents
    }

    fn same_node(&self, x: &Handle, y: &Handle) -> bool {
        self.inner.same_node(x, y)
    }

    fn set_quirks_mode(&self, mode: QuirksMode) {
        self.inner.set_quirks_mode(mode);
    }

    fn append_before_sibling(&self, sibling: &Handle, new_node: NodeOrText<Handle>) {
        // Foster parenting: the new node goes beside `sibling`, at its depth.
        let parent_depth = self.depth(sibling).saturating_sub(1);
        self.attached(parent_depth, &new_node);
        if !self.is_probe(&new_node) {
            self.inner.append_before_sibling(sibling, new_node);
        }
    }

    fn add_attrs_if_missing(&self, target: &Handle, attrs: Vec<Attribute>) {
        self.inner.add_attrs_if_missing(target, attrs);
    }

    fn associate_with_form(
        &self,
        target: &Handle,
        form: &Handle,
        nodes: (&Handle, Option<&Handle>),
    ) {
        self.inner.associate_with_form(target, form, nodes);
    }

    fn remove_from_parent(&self, target: &Handle) {
        self.inner.remove_from_parent(target);
    }

    fn reparent_children(&self, node: &Handle, new_parent: &Handle) {
        // The moved subtrees keep their recorded depths; the adoption agency algorithm, the only
        // caller, moves them by one level and is itself bounded.
        self.inner.reparent_children(node, new_parent);
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Handle) -> bool {
        self.inner
            .is_mathml_annotation_xml_integration_point(handle)
    }

    fn set_current_line(&self, line_number: u64) {
        self.inner.set_current_line(line_number);
    }

    fn allow_declarative_shadow_roots(&self, intended_parent: &Handle) -> bool {
        self.inner.allow_declarative_shadow_roots(intended_parent)
    }

    fn attach_declarative_shadow(
        &self,
        location: &Handle,
        template: &Handle,
        attrs: &[Attribute],
    ) -> bool {
        self.inner
            .attach_declarative_shadow(location, template, attrs)
    }

    fn maybe_clone_an_option_into_selectedcontent(&self, option: &Handle) {
        self.inner
            .maybe_clone_an_option_into_selectedcontent(option);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
