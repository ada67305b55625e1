//! The crate's one error type.
//!
//! Almost everything here is infallible by design: bad HTML, bad links and bad URLs are data
//! (skipped and counted), never errors. Only configuration supplied by the user can fail.

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// A CSS selector that does not parse.
    #[error("invalid CSS selector {selector:?}: {message}")]
    Selector {
        /// The selector text as given.
        selector: String,
        /// The parser's explanation.
        message: String,
    },
    /// An item rule (`--item` / `--extract name=CSS[@attr]`) that cannot be used.
    #[error("invalid item rule {rule:?}: {message}")]
    ItemRule {
        /// The rule as given.
        rule: String,
        /// What is wrong with it.
        message: String,
    },
    /// A scope name that is not one of `host`, `domain`, `subdomains`, `prefix`, `any`.
    #[error("unknown scope {value:?} (expected host, domain, subdomains, prefix or any)")]
    UnknownScope {
        /// The scope name as given.
        value: String,
    },
}
