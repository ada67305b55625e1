//! One page's links: the first half of the reference job, handy for checking a selector.

use url::Url;

use crate::LinkSelector;
use crate::config::Config;
use crate::error::Error;
use crate::fetch::body::DecodeError;
use crate::fetch::{FetchFailure, Fetcher, FollowAll, Retrier, RetryPolicy, fetch_with_retries};
use crate::gate::Gate;
use crate::process::{PageRules, process};

/// Why the links of a page could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum LinksError {
    /// The client could not be set up.
    #[error(transparent)]
    Setup(#[from] Error),
    /// The page could not be fetched (after retries).
    #[error("failed to fetch {url}: {failure}")]
    Fetch {
        /// The page.
        url: Url,
        /// The last failure.
        failure: Box<FetchFailure>,
    },
    /// The body could not be decoded.
    #[error("failed to decode {url}: {}", .error.message)]
    Decode {
        /// The page.
        url: Url,
        /// Why.
        error: DecodeError,
    },
}

/// Fetches `url` (with the configuration's retries and limits) and returns the links that
/// `selector` matches, resolved against the page (and its `<base href>`), in document order.
///
/// # Errors
/// [`LinksError`] when the page cannot be fetched or decoded.
pub async fn select_links(
    config: &Config,
    url: &Url,
    selector: &LinkSelector,
) -> Result<Vec<Url>, LinksError> {
    let fetcher = Fetcher::new(config)?;
    let gate = Gate::new(1, 1);
    let host = crate::request::host_key(url);
    let first = gate.acquire(&host).await;
    let policy = RetryPolicy::from_config(config);
    let retrier = Retrier {
        fetcher: &fetcher,
        gate: &gate,
        stats: None,
        policy,
    };
    let attempted = fetch_with_retries(retrier, url, &host, first, &FollowAll).await;
    let fetched = attempted.result.map_err(|failure| LinksError::Fetch {
        url: url.clone(),
        failure: Box::new(failure),
    })?;
    let selector = selector.clone();
    let max_body = config.max_body;
    // Parsing is CPU work: keep it off the async threads even for one page.
    let processed = tokio::task::spawn_blocking(move || {
        process(
            &fetched,
            &PageRules {
                follow: Some(&selector),
                items: None,
            },
            max_body,
        )
    })
    .await
    .unwrap_or_else(|_| {
        Err(DecodeError {
            kind: crate::fetch::FailureKind::Other,
            message: "parsing panicked".into(),
        })
    })
    .map_err(|error| LinksError::Decode {
        url: url.clone(),
        error,
    })?;
    Ok(processed.links)
}
