//! Many machines, one crawl: the Redis frontier from the command line. `crawl --frontier
//! redis://… --job NAME` seeds a job and works on it; `worker` joins one with the seeding
//! command's settings; `status` and `drain` watch and stop the fleet.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use dragnet::sink::Sink;
use dragnet::{Config, Crawler};

use crate::args::OutputArgs;
use dragnet_redis::{RedisFrontier, RedisOptions};

use crate::run::{Report, run_crawl};

/// How often a worker checks whether the job is being drained.
const DRAIN_POLL: Duration = Duration::from_secs(1);

/// A distributed job: where its frontier is, its name, and its workers' lease length.
pub(crate) struct FleetJob {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) lease_ttl: Duration,
}

impl FleetJob {
    /// The frontier options every worker of the job must share.
    fn options(&self, config: &Config) -> RedisOptions {
        RedisOptions {
            canon: config.canonicalizer(),
            per_host_leases: config.per_host,
            host_delay: config.delay,
            lease_ttl: self.lease_ttl,
            ..RedisOptions::default()
        }
    }
}

async fn connect(url: &str, job: &str, options: RedisOptions) -> Result<RedisFrontier> {
    RedisFrontier::connect(url, job, options)
        .await
        .with_context(|| format!("cannot join job {job:?} at {url}"))
}

/// Seeds the job (saving `argv` for the workers that join later) and works on it.
pub(crate) async fn seed_and_work(
    config: Config,
    sinks: Vec<Box<dyn Sink>>,
    job: &FleetJob,
    argv: &[String],
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    let frontier = connect(&job.url, &job.name, job.options(&config)).await?;
    let settings = serde_json::to_string(argv).context("failed to encode the job settings")?;
    frontier
        .save_settings(&settings)
        .await
        .context("cannot save the job settings")?;
    work(config, sinks, frontier, job, summary_json, quiet).await
}

/// The seeding command of job `job`, for a worker to parse.
pub(crate) async fn saved_command(url: &str, job: &str) -> Result<Vec<String>> {
    let frontier = connect(url, job, RedisOptions::default()).await?;
    let settings = frontier
        .load_settings()
        .await
        .context("cannot read the job settings")?;
    let settings = settings.with_context(|| {
        format!("job {job:?} has no saved settings (seed it with `dragnet crawl … --frontier {url} --job {job}`)")
    })?;
    serde_json::from_str(&settings).context("the job's saved settings are not readable")
}

/// Works on the job until nothing is queued or leased (or it is drained). Each worker writes
/// its own pages log, named after the worker.
pub(crate) async fn work_with_settings(
    mut config: Config,
    output: &OutputArgs,
    job: &FleetJob,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    let options = job.options(&config);
    let log_dir = config.out_dir.clone().unwrap_or_default();
    config.pages_log = Some(log_dir.join(format!("pages-{}.jsonl", options.worker_id)));
    let sinks = crate::outputs::open(&config, output, Some(&options.worker_id))?;
    let frontier = connect(&job.url, &job.name, options).await?;
    work(config, sinks, frontier, job, summary_json, quiet).await
}

async fn work(
    config: Config,
    sinks: Vec<Box<dyn Sink>>,
    frontier: RedisFrontier,
    job: &FleetJob,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    let report = Report::new(&config, summary_json, quiet)?;
    frontier
        .register_worker()
        .await
        .context("cannot register the worker")?;
    let watcher_frontier = connect(&job.url, &job.name, RedisOptions::default()).await?;
    let mut crawler = Crawler::with_frontier(config, frontier).context("cannot start the crawl")?;
    for sink in sinks {
        crawler.add_sink(sink);
    }
    let stop = crawler.stop_handle();
    let drain_watch = tokio::spawn(async move {
        loop {
            tokio::time::sleep(DRAIN_POLL).await;
            if watcher_frontier.is_draining().await {
                tracing::info!(message = "Job is draining; stopping.");
                stop.stop();
                return true;
            }
        }
    });
    let summary = run_crawl(crawler, quiet).await;
    let drained = if drain_watch.is_finished() {
        drain_watch.await.unwrap_or(false)
    } else {
        drain_watch.abort();
        false
    };
    let summary = summary?;
    let code = report.finish(&summary)?;
    // A drain is the fleet's own clean stop, not an interruption.
    Ok(if drained { ExitCode::SUCCESS } else { code })
}

/// Prints a job's progress: counts, workers alive, the busiest hosts.
pub(crate) async fn print_status(url: &str, job: &str) -> Result<ExitCode> {
    let frontier = connect(url, job, RedisOptions::default()).await?;
    let status = frontier
        .status()
        .await
        .context("cannot read the job status")?;
    let counts = status.counts;
    println!(
        "job {job} at {url}{}",
        if status.draining { " (draining)" } else { "" }
    );
    println!("  queued    {}", counts.queued);
    println!("  leased    {}", counts.leased);
    println!("  done      {}", counts.done);
    println!("  failed    {}", counts.failed);
    println!(
        "  reclaimed {} (leases of dead or stalled workers, handed out again)",
        status.reclaimed
    );
    for (reason, count) in &status.failures {
        println!("    {reason:<24} {count}");
    }
    println!("  workers alive: {}", status.workers.len());
    for worker in &status.workers {
        println!("    {:<40} {} leases", worker.id, worker.leases);
    }
    if !status.hosts.is_empty() {
        println!("  hosts (busiest first):");
        for host in &status.hosts {
            println!(
                "    {:<40} {:?}, {} leased, {} queued",
                host.host, host.state, host.active, host.queued
            );
        }
    }
    if counts.is_finished() {
        println!("  finished");
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks every worker of the job to stop cleanly.
pub(crate) async fn drain(url: &str, job: &str) -> Result<ExitCode> {
    let frontier = connect(url, job, RedisOptions::default()).await?;
    frontier
        .drain()
        .await
        .context("cannot set the drain flag")?;
    println!("job {job}: draining; workers finish what they hold and exit");
    Ok(ExitCode::SUCCESS)
}
