//! Retrying operations across connection loss.
//!
//! `ConnectionManager` reconnects by itself, but the call that met the broken connection still
//! fails. Such calls are retried here with exponential backoff and jitter until a time budget
//! runs out; only then does the caller see [`FrontierError::Storage`]. Errors that a retry
//! cannot fix (a script error, a wrong type) surface at once.

use std::future::Future;
use std::time::{Duration, Instant};

use dragnet::frontier::FrontierError;
use rand::Rng;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};

/// First pause after a failure; it doubles up to [`MAX_DELAY`].
const MIN_DELAY: Duration = Duration::from_millis(50);
/// Longest pause between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Whether the error says "the server is (momentarily) unreachable or busy", as opposed to
/// "the request is wrong".
pub(crate) fn is_transient(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || matches!(
            error.kind(),
            ErrorKind::Server(
                // LOADING: a restarted server is reading its AOF/RDB back.
                ServerErrorKind::BusyLoading
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::ClusterDown
            )
        )
}

/// Runs `op` until it succeeds, fails for good, or `budget` is spent. `op` gets a connection
/// handle and whether this is a retry (`true` from the second attempt on), which the
/// non-idempotent scripts use to recognise their own earlier, landed attempt.
pub(crate) async fn with_retry<T, F, Fut>(
    conn: &ConnectionManager,
    budget: Duration,
    what: &str,
    mut op: F,
) -> Result<T, FrontierError>
where
    F: FnMut(ConnectionManager, bool) -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let start = Instant::now();
    let mut delay = MIN_DELAY;
    let mut retry = false;
    loop {
        match op(conn.clone(), retry).await {
            Ok(value) => return Ok(value),
            Err(error) if is_transient(&error) && start.elapsed() + delay <= budget => {
                tracing::warn!(%error, what, ?delay, "redis unreachable, retrying");
                // Full jitter: a fleet that lost Redis together should not return in lockstep.
                let pause = rand::rng().random_range(delay / 2..=delay);
                tokio::time::sleep(pause).await;
                delay = (delay * 2).min(MAX_DELAY);
                retry = true;
            }
            Err(error) => {
                let waited = if retry {
                    format!(" (retried for {:.1?})", start.elapsed())
                } else {
                    String::new()
                };
                return Err(FrontierError::Storage(format!(
                    "redis {what} failed{waited}: {error}"
                )));
            }
        }
    }
}
