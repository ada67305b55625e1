//! Structured items: named fields taken from a page with CSS selectors, in the same parse as
//! link following.
//!
//! Rules come from CLI-like specs: `--extract name=CSS` takes the matched element's text,
//! `--extract name=CSS@attr` one of its attributes, and `--item CSS` makes one item per
//! matched element (fields are then looked up inside that element). Without `--item` a page
//! gives one item, each field taken from the first match in the whole document.
//!
//! Choices, so that output is predictable:
//! - text is the element's text content (`textContent`: every descendant text node, scripts
//!   included) with runs of whitespace (Unicode, so `&nbsp;` too) collapsed to one space and
//!   trimmed;
//! - URL attributes (`href`, `src`, `action`, `formaction`, `poster`, `cite`, `data`) are
//!   resolved against the page's `<base href>` or URL, like links; a value that does not
//!   resolve is kept as written (trimmed);
//! - a field whose selector matches nothing, or whose attribute is absent, is `None` (JSON
//!   `null`, an empty CSV cell, SQL `NULL`), which keeps "not there" apart from "empty";
//! - an item none of whose fields matched is dropped: header rows of a table, or a page
//!   without the wanted content, give no item rather than a row of nulls;
//! - an empty selector (`link=@href`) means the item element itself, so it needs `--item`.

use std::fmt;

use scraper::{ElementRef, Html, Selector};
use serde::ser::{Serialize, SerializeMap, Serializer};
use url::Url;

use crate::error::ExtractError;

/// Attributes holding a URL: their values are resolved to absolute URLs.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "poster",
    "cite",
    "data",
];

/// Field names the item outputs use for their own columns; a field may not take them.
pub const RESERVED_FIELD_NAMES: &[&str] = &["url", "fetched_at"];

/// Longest field name: PostgreSQL truncates identifiers at 63 bytes, so two longer names
/// could silently become one column.
pub const MAX_FIELD_NAME_LEN: usize = 63;

/// How to find items and their fields in a page. Compiled once per crawl; `Send + Sync`.
#[derive(Clone)]
pub struct ItemRules {
    item: Option<(Selector, String)>,
    fields: Vec<FieldRule>,
}

#[derive(Clone)]
struct FieldRule {
    name: String,
    /// `None`: the item element itself.
    selector: Option<Selector>,
    attr: Option<String>,
    /// The spec as given, for `Debug`.
    spec: String,
}

impl fmt::Debug for ItemRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemRules")
            .field("item", &self.item.as_ref().map(|(_, css)| css))
            .field(
                "fields",
                &self.fields.iter().map(|r| &r.spec).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ItemRules {
    /// Compiles `--item` (optional) and the `--extract` specs (`name=CSS` for text,
    /// `name=CSS@attr` for an attribute).
    ///
    /// # Errors
    /// [`ExtractError::Selector`] for CSS that does not parse; [`ExtractError::ItemRule`] for
    /// a spec without `=`, an empty, duplicate, reserved (`url`, `fetched_at`) or overlong
    /// name, an empty selector without `--item`, or no fields at all.
    pub fn parse(item: Option<&str>, fields: &[&str]) -> Result<Self, ExtractError> {
        let item = item
            .map(|css| Ok::<_, ExtractError>((compile(css)?, css.to_owned())))
            .transpose()?;
        if fields.is_empty() {
            return Err(rule_error(
                item.as_ref().map_or("", |(_, css)| css.as_str()),
                "at least one field (name=CSS) is needed",
            ));
        }
        let mut rules: Vec<FieldRule> = Vec::with_capacity(fields.len());
        for spec in fields {
            let rule = FieldRule::parse(spec, item.is_some())?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(rule_error(spec, "the field name is used twice"));
            }
            rules.push(rule);
        }
        Ok(Self {
            item,
            fields: rules,
        })
    }

    /// The field names, in rule order (the item outputs' columns after `url`, `fetched_at`).
    pub fn field_names(&self) -> Vec<String> {
        self.fields.iter().map(|r| r.name.clone()).collect()
    }

    /// The `--item` selector as given, if any.
    pub fn item_selector(&self) -> Option<&str> {
        self.item.as_ref().map(|(_, css)| css.as_str())
    }

    /// The items of a parsed document. `resolve` turns a URL attribute into an absolute URL
    /// (against the document's base, in its encoding), or `None` when it does not parse.
    pub(crate) fn extract(&self, doc: &Html, resolve: &dyn Fn(&str) -> Option<Url>) -> Vec<Item> {
        match &self.item {
            Some((selector, _)) => doc
                .select(selector)
                .filter_map(|element| self.item_at(Some(element), doc, resolve))
                .collect(),
            None => self.item_at(None, doc, resolve).into_iter().collect(),
        }
    }

    /// One item, its fields looked up inside `scope` (or the whole document); `None` when no
    /// field matched.
    fn item_at(
        &self,
        scope: Option<ElementRef<'_>>,
        doc: &Html,
        resolve: &dyn Fn(&str) -> Option<Url>,
    ) -> Option<Item> {
        let mut any = false;
        let fields = self
            .fields
            .iter()
            .map(|rule| {
                let element = match (&rule.selector, scope) {
                    (None, scope) => scope,
                    (Some(selector), Some(scope)) => scope.select(selector).next(),
                    (Some(selector), None) => doc.select(selector).next(),
                };
                let value = element.and_then(|e| rule.value(e, resolve));
                any |= value.is_some();
                (rule.name.clone(), value)
            })
            .collect();
        any.then_some(Item { fields })
    }
}

impl FieldRule {
    fn parse(spec: &str, has_item: bool) -> Result<Self, ExtractError> {
        let Some((name, rest)) = spec.split_once('=') else {
            return Err(rule_error(spec, "expected name=CSS or name=CSS@attribute"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(rule_error(spec, "the field name is empty"));
        }
        if name.len() > MAX_FIELD_NAME_LEN || name.chars().any(char::is_control) {
            return Err(rule_error(
                spec,
                "a field name is at most 63 bytes, without control characters",
            ));
        }
        if RESERVED_FIELD_NAMES.contains(&name) {
            return Err(rule_error(
                spec,
                "`url` and `fetched_at` are always columns",
            ));
        }
        let (css, attr) = split_attr(rest.trim());
        let selector = if css.is_empty() {
            if !has_item {
                return Err(rule_error(
                    spec,
                    "an empty selector means the item element itself, which needs --item",
                ));
            }
            None
        } else {
            Some(compile(css)?)
        };
        Ok(Self {
            name: name.to_owned(),
            selector,
            attr: attr.map(str::to_ascii_lowercase),
            spec: spec.to_owned(),
        })
    }

    fn value(
        &self,
        element: ElementRef<'_>,
        resolve: &dyn Fn(&str) -> Option<Url>,
    ) -> Option<String> {
        let Some(attr) = &self.attr else {
            let text: String = element.text().collect();
            return Some(text.split_whitespace().collect::<Vec<_>>().join(" "));
        };
        let raw = element.attr(attr)?;
        if URL_ATTRIBUTES.contains(&attr.as_str()) {
            let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
            return Some(resolve(trimmed).map_or_else(|| trimmed.to_owned(), String::from));
        }
        Some(raw.to_owned())
    }
}

/// Splits `CSS@attr`. The `@` must be the last one and be followed by a plain attribute name,
/// so an `@` inside the CSS (`a[href^="mailto:x@y"]`) is left alone.
fn split_attr(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once('@') {
        Some((css, attr))
            if !attr.is_empty()
                && attr
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')) =>
        {
            (css.trim(), Some(attr))
        }
        _ => (text, None),
    }
}

fn compile(css: &str) -> Result<Selector, ExtractError> {
    Selector::parse(css).map_err(|e| ExtractError::Selector {
        selector: css.to_owned(),
        message: e.to_string(),
    })
}

fn rule_error(rule: &str, message: &str) -> ExtractError {
    ExtractError::ItemRule {
        rule: rule.to_owned(),
        message: message.to_owned(),
    }
}

/// One extracted item: `(field name, value)` in rule order. `None` = the field's selector
/// matched nothing (or the attribute is absent).
///
/// Serialises as a JSON object in field order: `{"name": "China", "link": null}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    /// The fields, in the order the rules were given.
    pub fields: Vec<(String, Option<String>)>,
}

impl Item {
    /// The value of field `name`, if the item has that field and it matched.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

impl Serialize for Item {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (name, value) in &self.fields {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
#[path = "items/tests.rs"]
mod tests;
