//! The scheduler loop: lease from the frontier, start a task per URL when the gate allows,
//! until nothing is queued or in flight (or the crawl is stopped or out of budget).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio::time::Instant;

use super::StopHandle;
use super::task::{TaskContext, run_task};
use crate::config::Config;
use crate::error::Error;
use crate::frontier::{Frontier, Lease};
use crate::gate::Wait;

/// Pages fetched but waiting for (or in) the CPU pool, per pool thread. Enough to keep every
/// thread busy between fetches; more would only hold bodies in memory.
const CPU_BACKLOG_PER_THREAD: usize = 4;
/// Leases asked for at once.
const LEASE_BATCH: usize = 256;
/// How long requests in flight may take to finish after a stop was requested.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);
/// How often to look at a frontier whose queue is empty while others still hold leases.
const FRONTIER_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The scheduler loop. Returns whether the crawl was interrupted (stop requested).
pub(super) async fn schedule<F: Frontier>(
    ctx: &Arc<TaskContext<F>>,
    config: &Config,
    stop: &StopHandle,
) -> Result<bool, Error> {
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();
    let result = schedule_loop(ctx, config, stop, &mut tasks).await;
    // On an early error tasks may still run; wait for them so nothing outlives the crawl.
    tasks.shutdown().await;
    result
}

async fn schedule_loop<F: Frontier>(
    ctx: &Arc<TaskContext<F>>,
    config: &Config,
    stop: &StopHandle,
    tasks: &mut JoinSet<Result<(), Error>>,
) -> Result<bool, Error> {
    let max_tasks = config.concurrency_cap() + CPU_BACKLOG_PER_THREAD * config.threads;
    let buffer_target = (config.concurrency_cap() * 2).max(LEASE_BATCH);
    let mut buffer: VecDeque<Lease> = VecDeque::new();
    let mut dispatched: u64 = 0;
    let mut fatal: Option<Error> = None;
    let mut abort_at: Option<Instant> = None;
    let mut aborted = false;
    loop {
        let released = ctx.gate.released();
        tokio::pin!(released);
        released.as_mut().enable();
        let stopping = stop.is_stopped() || fatal.is_some();
        if stopping && abort_at.is_none() {
            abort_at = Some(Instant::now() + STOP_GRACE);
        }
        let want = if ctx.frontier.is_shared() {
            max_tasks.saturating_sub(tasks.len() + buffer.len())
        } else {
            buffer_target - buffer.len()
        };
        if !stopping
            && config.max_pages.is_none_or(|max| dispatched < max)
            && buffer.len() < buffer_target / 2
            && want > 0
        {
            match ctx.frontier.lease(want).await {
                Ok(leases) => buffer.extend(leases),
                Err(error) => fatal = Some(error.into()),
            }
        }
        let mut next_unpause: Option<Instant> = None;
        if !stopping {
            let mut i = 0;
            while i < buffer.len()
                && tasks.len() < max_tasks
                && config.max_pages.is_none_or(|max| dispatched < max)
            {
                let host = buffer[i].request.host_key();
                match ctx.gate.try_acquire(&host) {
                    Ok(permit) => {
                        let Some(lease) = buffer.remove(i) else { break };
                        tasks.spawn(run_task(Arc::clone(ctx), lease, host, permit));
                        dispatched += 1;
                    }
                    Err(Wait::GlobalFull) => break,
                    Err(Wait::HostBusy) => i += 1,
                    Err(Wait::HostPaused(until)) => {
                        next_unpause = Some(next_unpause.map_or(until, |t| t.min(until)));
                        i += 1;
                    }
                }
            }
        }
        if tasks.is_empty() {
            if stopping || config.max_pages.is_some_and(|max| dispatched >= max) {
                break;
            }
            if buffer.is_empty() {
                let counts = ctx.frontier.counts().await?;
                if counts.is_finished() {
                    break;
                }
                // Nothing leasable now, yet not finished: other workers hold leases (their
                // results may queue more), or a shared frontier holds hosts back for
                // politeness. Look again shortly rather than spin.
                tokio::time::sleep(FRONTIER_POLL).await;
                continue;
            }
            // Only paused hosts are buffered: the select below wakes at the first unpause.
        }
        tokio::select! {
            Some(joined) = tasks.join_next() => match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(message = "Crawl stopping.", %error);
                    fatal.get_or_insert(error);
                }
                Err(error) if error.is_cancelled() => {}
                Err(panic) => {
                    tracing::error!(message = "A URL task panicked.", %panic);
                }
            },
            () = sleep_until(abort_at.filter(|_| !aborted)) => {
                // Past the grace period: stop waiting for slow requests. Their leases stay
                // leased; a resumable frontier hands them out again on the next run.
                tracing::warn!(message = "Stop grace period over; abandoning requests in flight.", tasks = tasks.len());
                tasks.abort_all();
                aborted = true;
            }
            () = &mut released => {}
            () = sleep_until(next_unpause) => {}
            () = stop.notified(), if !stopping => {}
        }
    }
    for lease in buffer {
        ctx.frontier.release(&lease).await?;
    }
    match fatal {
        Some(error) => Err(error),
        None => Ok(stop.is_stopped()),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
