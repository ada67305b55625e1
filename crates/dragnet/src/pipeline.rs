//! [`Crawler`] wires the stages: the scheduler loop leases from the frontier and starts a
//! task per URL when the gate allows; each task fetches (async), processes on the CPU pool,
//! hands the record to the sinks and completes the lease with the links it found.
//!
//! Backpressure: the number of tasks is capped at the concurrency plus a small CPU backlog,
//! so when parsing or a sink is the slow stage, fetching waits instead of memory growing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use dragnet_extract::{Canonicalizer, LinkSelector, Scope};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use url::Url;

use crate::config::Config;
use crate::error::Error;
use crate::fetch::{Attempted, FetchFailure, Fetcher, RetryPolicy, fetch_with_retries};
use crate::frontier::{Frontier, Lease, MemoryFrontier, Outcome};
use crate::gate::{Gate, Permit, Wait};
use crate::process::{CpuPool, process};
use crate::report::Summary;
use crate::request::CrawlRequest;
use crate::sink::{FilesSink, PageRecord, PagesLog, Sink, SinkSet};
use crate::stats::Stats;

/// Pages fetched but waiting for (or in) the CPU pool, per pool thread. Enough to keep every
/// thread busy between fetches; more would only hold bodies in memory.
const CPU_BACKLOG_PER_THREAD: usize = 4;
/// Leases asked for at once.
const LEASE_BATCH: usize = 256;
/// How often to look at a frontier whose queue is empty while others still hold leases.
const FRONTIER_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// A crawl, ready to run.
pub struct Crawler<F: Frontier = MemoryFrontier> {
    config: Config,
    frontier: Arc<F>,
    gate: Arc<Gate>,
    stats: Arc<Stats>,
    stop: StopHandle,
    extra_sinks: Vec<Box<dyn Sink>>,
}

/// Asks a running crawl to stop: no new requests start; those in flight finish and their
/// records are written; sinks flush. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct StopHandle {
    inner: Arc<(AtomicBool, Notify)>,
}

impl StopHandle {
    /// Requests the stop.
    pub fn stop(&self) {
        self.inner.0.store(true, Ordering::SeqCst);
        self.inner.1.notify_waiters();
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.inner.0.load(Ordering::SeqCst)
    }
}

impl Crawler<MemoryFrontier> {
    /// A crawl with the in-memory frontier.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::with_frontier(config, MemoryFrontier::new(Canonicalizer::new()))
    }
}

impl<F: Frontier> Crawler<F> {
    /// A crawl on the given frontier backend.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn with_frontier(config: Config, frontier: F) -> Result<Self, Error> {
        config.validate()?;
        let gate = Gate::new(config.concurrency, config.per_host);
        let stats = Arc::new(Stats::new(config.threads, Arc::clone(&gate)));
        Ok(Self {
            config,
            frontier: Arc::new(frontier),
            gate,
            stats,
            stop: StopHandle::default(),
            extra_sinks: Vec::new(),
        })
    }

    /// Adds an output beside the ones the configuration names.
    pub fn add_sink(&mut self, sink: Box<dyn Sink>) {
        self.extra_sinks.push(sink);
    }

    /// Live counters, for a progress display.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.stats)
    }

    /// A handle to stop the crawl from elsewhere (Ctrl-C).
    pub fn stop_handle(&self) -> StopHandle {
        self.stop.clone()
    }

    /// Runs the crawl to the end (nothing left in scope, `max_pages` reached, or stopped).
    ///
    /// # Errors
    /// Only fatal problems: an output that cannot be written, a frontier that fails, a
    /// client or pool that cannot be built. Failed URLs are in the summary instead.
    pub async fn run(self) -> Result<Summary, Error> {
        let Self {
            config,
            frontier,
            gate,
            stats,
            stop,
            extra_sinks,
        } = self;
        let sinks = open_sinks(&config, extra_sinks)?;
        let fetcher = Fetcher::new(&config)?;
        let pool = CpuPool::new(config.threads, Arc::clone(&stats))?;
        let seeds = config
            .seeds
            .iter()
            .cloned()
            .map(CrawlRequest::seed)
            .collect();
        let added = frontier.add(seeds).await?;
        stats.add(&stats.discovered, added);
        tracing::info!(
            message = "Crawl started.",
            seeds = config.seeds.len(),
            concurrency = config.concurrency,
            threads = config.threads
        );

        let ctx = Arc::new(TaskContext {
            follow: config.follow.clone(),
            scope: config.scope,
            seeds: config.seeds.clone(),
            max_depth: config.max_depth,
            max_body: config.max_body,
            policy: RetryPolicy::from_config(&config),
            fetcher,
            pool,
            sinks: SinkSet::start(sinks)?,
            frontier: Arc::clone(&frontier),
            gate: Arc::clone(&gate),
            stats: Arc::clone(&stats),
        });
        let scheduled = schedule(&ctx, &config, &stop).await;
        let ctx = Arc::into_inner(ctx).ok_or_else(|| {
            Error::Config(
                "internal: tasks still hold the crawl context after the scheduler ended".into(),
            )
        })?;
        // Flush the sinks even when the scheduler failed: what was written must be complete.
        let flushed = ctx.sinks.finish().await;
        let interrupted = scheduled?;
        flushed?;
        let summary = Summary::from_stats(&stats, config.concurrency, config.threads, interrupted);
        tracing::info!(
            message = "Crawl finished.",
            ok = summary.pages_ok,
            failed = summary.pages_failed
        );
        Ok(summary)
    }
}

fn open_sinks(config: &Config, extra: Vec<Box<dyn Sink>>) -> Result<Vec<Box<dyn Sink>>, Error> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(dir) = &config.out_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::OutputDir {
            path: dir.clone(),
            source,
        })?;
        sinks.push(Box::new(FilesSink::new(dir)));
    }
    if let Some(path) = &config.pages_log {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::OutputDir {
                path: parent.to_owned(),
                source,
            })?;
        }
        sinks.push(Box::new(PagesLog::create(path)?));
    }
    sinks.extend(extra);
    Ok(sinks)
}

/// What every URL task needs, shared.
struct TaskContext<F> {
    follow: Option<LinkSelector>,
    scope: Scope,
    seeds: Vec<Url>,
    max_depth: u32,
    max_body: u64,
    policy: RetryPolicy,
    fetcher: Fetcher,
    pool: CpuPool,
    sinks: SinkSet,
    frontier: Arc<F>,
    gate: Arc<Gate>,
    stats: Arc<Stats>,
}

/// The scheduler loop. Returns whether the crawl was interrupted (stop requested).
async fn schedule<F: Frontier>(
    ctx: &Arc<TaskContext<F>>,
    config: &Config,
    stop: &StopHandle,
) -> Result<bool, Error> {
    let max_tasks = config.concurrency + CPU_BACKLOG_PER_THREAD * config.threads;
    let buffer_target = (config.concurrency * 2).max(LEASE_BATCH);
    let mut buffer: VecDeque<Lease> = VecDeque::new();
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();
    let mut dispatched: u64 = 0;
    let mut fatal: Option<Error> = None;
    loop {
        let released = ctx.gate.released();
        tokio::pin!(released);
        released.as_mut().enable();
        let stopping = stop.is_stopped() || fatal.is_some();
        if !stopping
            && config.max_pages.is_none_or(|max| dispatched < max)
            && buffer.len() < buffer_target / 2
        {
            match ctx.frontier.lease(buffer_target - buffer.len()).await {
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
                if counts.queued == 0 {
                    // Leased by another worker sharing the frontier: their results may
                    // queue more work, so look again shortly.
                    tokio::time::sleep(FRONTIER_POLL).await;
                }
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
                Err(panic) => {
                    tracing::error!(message = "A URL task panicked.", %panic);
                }
            },
            () = &mut released => {}
            () = sleep_until(next_unpause) => {}
            () = stop.inner.1.notified(), if !stopping => {}
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

/// One URL, start to end: fetch (with retries), process on the pool, write, complete.
async fn run_task<F: Frontier>(
    ctx: Arc<TaskContext<F>>,
    lease: Lease,
    host: String,
    permit: Permit,
) -> Result<(), Error> {
    let request = &lease.request;
    let Attempted { result, attempts } = fetch_with_retries(
        &ctx.fetcher,
        &ctx.gate,
        Some(&ctx.stats),
        &request.url,
        &host,
        permit,
        ctx.policy,
    )
    .await;
    let (record, discovered) = match result {
        Ok(fetched) => {
            let fetched = Arc::new(fetched);
            let follow = ctx.follow.clone().filter(|_| request.depth < ctx.max_depth);
            let max_body = ctx.max_body;
            let job = {
                let fetched = Arc::clone(&fetched);
                move || process(&fetched, follow.as_ref(), max_body)
            };
            match ctx.pool.run(job).await {
                Ok(processed) => {
                    ctx.stats
                        .record_ok(processed.body.len() as u64, fetched.elapsed);
                    let discovered = in_scope(&ctx, request.depth + 1, processed.links);
                    let record = PageRecord {
                        url: request.url.clone(),
                        final_url: Some(fetched.final_url.clone()),
                        status: Some(fetched.status),
                        depth: request.depth,
                        attempts,
                        fetch_ms: fetched.elapsed.as_millis() as u64,
                        fetched_at: SystemTime::now(),
                        content_type: fetched.content_type().map(str::to_owned),
                        body: Some(processed.body),
                        sha256: Some(processed.sha256),
                        is_html: processed.is_html,
                        canonical: processed.canonical,
                        error: None,
                        error_message: None,
                    };
                    (record, discovered)
                }
                Err(decode) => {
                    let mut failure =
                        FetchFailure::new(decode.kind, decode.message, &fetched.final_url);
                    failure.elapsed = fetched.elapsed;
                    (
                        failed_record(request, attempts, &failure, Some(fetched.status)),
                        Vec::new(),
                    )
                }
            }
        }
        Err(failure) => {
            let status = match failure.kind {
                crate::fetch::FailureKind::Status(code) => Some(code),
                _ => None,
            };
            (
                failed_record(request, attempts, &failure, status),
                Vec::new(),
            )
        }
    };
    let outcome = match &record.error {
        None => Outcome::Done { attempts },
        Some(reason) => {
            ctx.stats.record_failure(reason);
            tracing::debug!(message = "URL failed.", url = %record.url, reason = %reason);
            Outcome::Failed {
                reason: reason.clone(),
                attempts,
            }
        }
    };
    ctx.sinks.send(Arc::new(record)).await?;
    let added = ctx.frontier.complete(&lease, outcome, discovered).await?;
    ctx.stats.add(&ctx.stats.discovered, added);
    Ok(())
}

fn failed_record(
    request: &CrawlRequest,
    attempts: u32,
    failure: &FetchFailure,
    status: Option<u16>,
) -> PageRecord {
    PageRecord {
        url: request.url.clone(),
        final_url: Some(failure.final_url.clone()),
        status,
        depth: request.depth,
        attempts,
        fetch_ms: failure.elapsed.as_millis() as u64,
        fetched_at: SystemTime::now(),
        content_type: None,
        body: None,
        sha256: None,
        is_html: false,
        canonical: None,
        error: Some(failure.kind.label()),
        error_message: Some(failure.message.clone()),
    }
}

/// The discovered links that may be crawled: within depth and in scope of some seed.
fn in_scope<F>(ctx: &TaskContext<F>, depth: u32, links: Vec<Url>) -> Vec<CrawlRequest> {
    if depth > ctx.max_depth {
        return Vec::new();
    }
    let total = links.len() as u64;
    let kept: Vec<CrawlRequest> = links
        .into_iter()
        .filter(|link| ctx.seeds.iter().any(|seed| ctx.scope.allows(seed, link)))
        .map(|url| CrawlRequest { url, depth })
        .collect();
    ctx.stats
        .add(&ctx.stats.out_of_scope, total - kept.len() as u64);
    kept
}
