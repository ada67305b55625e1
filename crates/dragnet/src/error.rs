//! Fatal errors: the ones that stop a crawl. A URL that fails is not one of them; it is
//! recorded as data (see [`crate::fetch::FetchFailure`]).

use std::path::PathBuf;

use crate::frontier::FrontierError;
use crate::sink::SinkError;

/// A problem that stops the crawl (or keeps it from starting).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used as given.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The CPU pool could not be built.
    #[error("failed to build the CPU pool")]
    Pool(#[source] rayon::ThreadPoolBuildError),
    /// The frontier backend failed.
    #[error("frontier failed")]
    Frontier(#[from] FrontierError),
    /// An output could not be written; what was already written is intact.
    #[error("output failed")]
    Sink(#[from] SinkError),
    /// An output folder could not be created.
    #[error("failed to create output folder {path}")]
    OutputDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
