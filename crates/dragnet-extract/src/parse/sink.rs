//! The tree sink half of the depth cap: scraper's sink, plus element depths.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use html5ever::tendril::StrTendril;
use html5ever::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::{Attribute, QualName};
use scraper::{Html, HtmlTreeSink};

pub(super) type Handle = <HtmlTreeSink as TreeSink>::Handle;

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

/// scraper's tree sink, plus the depth of each element and of the current insertion point.
pub(super) struct DepthSink {
    inner: HtmlTreeSink,
    /// Depth of every element (and template contents) created so far; the document is 0.
    depths: RefCell<DepthMap>,
    /// Depth of the tree builder's current node, as last seen.
    pub(super) current: Cell<u32>,
    /// Whether elements may have been popped since `current` was last seen.
    pub(super) stale: Cell<bool>,
    /// Set while the filter's probe comment is in flight.
    pub(super) probing: Cell<bool>,
    /// The probe comment: created once, never attached.
    probe: Cell<Option<Handle>>,
    /// Elements created so far, for the budget.
    pub(super) created: Cell<u64>,
}

impl DepthSink {
    pub(super) fn new() -> Self {
        DepthSink {
            inner: HtmlTreeSink::new(Html::new_document()),
            depths: RefCell::new(DepthMap::default()),
            current: Cell::new(0),
            stale: Cell::new(false),
            probing: Cell::new(false),
            probe: Cell::new(None),
            created: Cell::new(0),
        }
    }

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
        let current = match child {
            NodeOrText::AppendText(_) => Some(parent_depth),
            NodeOrText::AppendNode(node) => match self.depths.borrow_mut().get_mut(node) {
                // An element: it becomes the current node (void ones are popped right after).
                Some(depth) => {
                    *depth = parent_depth + 1;
                    Some(parent_depth + 1)
                }
                // A comment (elements are the only nodes in the map, see `create_element`). It
                // goes to the current node, except after `</body>`, where it goes to <html> or
                // the document while the stack stays as deep as it was: depth 0 or 1 tells
                // nothing, so the last known (possibly stale) depth stands.
                None => (parent_depth > 1).then_some(parent_depth),
            },
        };
        if let Some(depth) = current {
            self.current.set(depth);
            self.stale.set(false);
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
        self.created.set(self.created.get() + 1);
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
        // scraper keeps the contents as a fragment node under the template element.
        let depth = self.depth(target) + 1;
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
