//! [`Crawler`] wires the stages: the scheduler loop leases from the frontier and starts a
//! task per URL when the gate allows; each task fetches (async), processes on the CPU pool,
//! hands the record to the sinks and completes the lease with the links it found.
//!
//! Backpressure: the number of tasks is capped at the concurrency plus a small CPU backlog,
//! so when parsing or a sink is the slow stage, fetching waits instead of memory growing.

mod control;
mod schedule;
mod task;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::config::Config;
use crate::error::Error;
use crate::fetch::{Fetcher, RetryPolicy};
use crate::frontier::{Frontier, MemoryFrontier};
use crate::gate::Gate;
use crate::process::CpuPool;
use crate::report::{RequestTotals, Summary};
use crate::request::CrawlRequest;
use crate::robots::RobotsCache;
use crate::scope::ScopeRules;
use crate::seed::read_sitemaps;
use crate::sink::{FilesSink, PagesLog, Sink, SinkSet};
use crate::stats::Stats;
use schedule::schedule;
use task::TaskContext;

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

    /// Resolves at the next `stop()` call.
    fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.1.notified()
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
        let canon = config.canonicalizer();
        Self::with_frontier(config, MemoryFrontier::new(canon))
    }
}

impl<F: Frontier> Crawler<F> {
    /// A crawl on the given frontier backend.
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn with_frontier(config: Config, frontier: F) -> Result<Self, Error> {
        config.validate()?;
        let gate = Gate::new(config.concurrency_cap(), config.per_host);
        if config.auto_concurrency {
            control::prepare_gate(&gate, config.per_host);
        }
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

    /// Makes these hosts wait out the per-host delay before their first request, as if one
    /// had just started: hosts a crashed run was fetching when it died.
    pub fn hold_hosts(&self, hosts: &[String]) {
        for host in hosts {
            self.gate.note_start(host);
        }
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
        let sinks = open_sinks(&config, extra_sinks, &stats)?;
        let fetcher = Fetcher::new(&config)?;
        let pool = CpuPool::new(config.threads, Arc::clone(&stats))?;
        gate.set_min_interval(config.delay);
        let policy = RetryPolicy::from_config(&config);
        let robots = config
            .obey_robots
            .then(|| RobotsCache::new(&fetcher, &config.user_agent, policy));

        let mut seeds = config.seeds.clone();
        if !config.sitemaps.is_empty() || config.robots_sitemaps {
            let robots_of = robots
                .as_ref()
                .filter(|_| config.robots_sitemaps)
                .map(|r| (r, &config.seeds[..]));
            let found = read_sitemaps(&fetcher, &config.sitemaps, robots_of).await;
            for problem in &found.problems {
                tracing::warn!(message = "Sitemap problem.", %problem);
            }
            tracing::info!(
                message = "Sitemaps read.",
                files = found.files,
                urls = found.urls.len()
            );
            seeds.extend(found.urls);
        }
        let rules = ScopeRules::new(&config, &seeds);
        rules.count_seeds(&seeds);
        let added = frontier
            .add(seeds.iter().cloned().map(CrawlRequest::seed).collect())
            .await?;
        stats.add(&stats.discovered, added);
        tracing::info!(
            message = "Crawl started.",
            seeds = seeds.len(),
            concurrency = config.concurrency,
            threads = config.threads
        );

        let ctx = Arc::new(TaskContext {
            extraction: Arc::new((config.follow.clone(), config.items.clone())),
            rules,
            robots,
            max_crawl_delay: config.max_crawl_delay,
            max_depth: config.max_depth,
            max_body: config.max_body,
            policy,
            fetcher,
            pool,
            sinks: SinkSet::start(sinks)?,
            frontier: Arc::clone(&frontier),
            gate: Arc::clone(&gate),
            stats: Arc::clone(&stats),
            bodies_seen: std::sync::Mutex::new(std::collections::HashSet::new()),
        });
        let control = config.auto_concurrency.then(|| {
            tokio::spawn(control::control_loop(
                Arc::clone(&gate),
                Arc::clone(&stats),
                config.max_concurrency,
                config.per_host,
            ))
        });
        let scheduled = schedule(&ctx, &config, &stop).await;
        if let Some(control) = control {
            control.abort();
        }
        let ctx = Arc::into_inner(ctx).ok_or_else(|| {
            Error::Config(
                "internal: tasks still hold the crawl context after the scheduler ended".into(),
            )
        })?;
        // Flush the sinks even when the scheduler failed: what was written must be complete.
        let flushed = ctx.sinks.finish().await;
        let interrupted = scheduled?;
        flushed?;
        let counts = ctx.fetcher.request_counts();
        let requests = RequestTotals {
            sent: counts.sent.load(Ordering::Relaxed),
            redirects: counts.redirects.load(Ordering::Relaxed),
            robots: ctx.robots.as_ref().map_or(0, RobotsCache::requests),
        };
        let summary = Summary::from_stats(
            &stats,
            requests,
            config.concurrency_label(),
            config.threads,
            interrupted,
        );
        tracing::info!(
            message = "Crawl finished.",
            ok = summary.pages_ok,
            failed = summary.pages_failed
        );
        Ok(summary)
    }
}

fn open_sinks(
    config: &Config,
    extra: Vec<Box<dyn Sink>>,
    stats: &Arc<Stats>,
) -> Result<Vec<Box<dyn Sink>>, Error> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    if let Some(dir) = &config.out_dir {
        std::fs::create_dir_all(dir).map_err(|source| Error::OutputDir {
            path: dir.clone(),
            source,
        })?;
        sinks.push(Box::new(
            FilesSink::with_layout(dir, config.layout, config.dedup_content)
                .counting_in(Arc::clone(stats)),
        ));
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
