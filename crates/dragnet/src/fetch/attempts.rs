//! Attempts at one URL: fetch, and on a retryable failure wait (backoff, or the server's
//! Retry-After, which also pauses the whole host) and go through the gate again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use super::retry::backoff;
use super::{FailureKind, FetchFailure, Fetched, Fetcher, RedirectGuard};
use crate::gate::{Gate, Permit};
use crate::stats::Stats;

/// How many times and how patiently to retry.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
    /// Longest Retry-After honoured.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// The policy a configuration asks for.
    pub fn from_config(config: &crate::Config) -> Self {
        Self {
            retries: config.retries,
            backoff_base: config.backoff_base,
            backoff_max: config.backoff_max,
            max_retry_after: config.max_retry_after,
        }
    }
}

/// The end of all attempts at a URL.
#[derive(Debug)]
pub struct Attempted {
    /// The response, or the last failure.
    pub result: Result<Fetched, FetchFailure>,
    /// Attempts made (1 = first try).
    pub attempts: u32,
}

/// What retrying needs besides the URL: the client, the gate every attempt passes, where
/// to count retries, and the policy.
#[derive(Clone, Copy)]
pub struct Retrier<'a> {
    /// The client.
    pub fetcher: &'a Fetcher,
    /// The politeness gate.
    pub gate: &'a Arc<Gate>,
    /// Where retries are counted, if anywhere.
    pub stats: Option<&'a Stats>,
    /// How often and how patiently.
    pub policy: RetryPolicy,
}

/// Fetches `url`, retrying per the policy. `first` is the slot the scheduler already took for
/// the first attempt; later attempts wait for a slot like everyone else, so a retry storm
/// cannot exceed the limits.
pub async fn fetch_with_retries(
    retrier: Retrier<'_>,
    url: &Url,
    host: &str,
    first: Permit,
    guard: &dyn RedirectGuard,
) -> Attempted {
    let Retrier {
        fetcher,
        gate,
        stats,
        policy,
    } = retrier;
    let mut permit = Some(first);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let slot = match permit.take() {
            Some(slot) => slot,
            None => gate.acquire(host).await,
        };
        let result = fetcher.fetch(url, guard).await;
        drop(slot);
        if let Some(stats) = stats {
            stats
                .window
                .record(host, result.as_ref().map(|f| f.elapsed).map_err(|f| f.kind));
        }
        let failure = match result {
            Ok(fetched) => {
                gate.succeeded(host, fetched.elapsed);
                return Attempted {
                    result: Ok(fetched),
                    attempts,
                };
            }
            Err(failure) => failure,
        };
        if !failure.kind.is_retryable() || attempts > policy.retries {
            return Attempted {
                result: Err(failure),
                attempts,
            };
        }
        let wait = match failure.retry_after {
            Some(asked) if asked > policy.max_retry_after => {
                let mut failure = failure;
                failure.message = format!(
                    "Retry-After of {}s is longer than the {}s allowed",
                    asked.as_secs(),
                    policy.max_retry_after.as_secs()
                );
                failure.kind = FailureKind::RetryAfterTooLong;
                return Attempted {
                    result: Err(failure),
                    attempts,
                };
            }
            Some(asked) => asked,
            None => backoff(attempts, policy.backoff_base, policy.backoff_max),
        };
        if let Some(stats) = stats {
            stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(message = "Retrying.", %url, attempt = attempts, reason = %failure.kind.label(), wait_ms = wait.as_millis() as u64);
        if failure.kind.is_overload() {
            // The host said it is overloaded: nobody sends it anything until the wait is
            // over, and then fewer at once.
            gate.overloaded(host, Instant::now() + wait);
        } else {
            tokio::time::sleep(wait).await;
        }
    }
}
