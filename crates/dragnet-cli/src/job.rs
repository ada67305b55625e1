//! Resumable jobs in a folder (`--job DIR`, `resume`, `status`): the on-disk frontier, the
//! settings to continue with, and the pages log made whole when the job ends.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use dragnet::frontier::DiskFrontier;
use dragnet::sink::Sink;
use dragnet::{Config, Crawler};

use crate::run::{Report, run_crawl};

/// Runs (starts or continues) the job in `dir`. `argv` is the command line, stored so that
/// `dragnet resume DIR` can continue with the same settings.
pub(crate) async fn run(
    mut config: Config,
    sinks: Vec<Box<dyn Sink>>,
    dir: &Path,
    argv: &[String],
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    if config.pages_log.is_none() {
        config.pages_log = Some(dir.join("pages.jsonl"));
    }
    let report = Report::new(&config, summary_json, quiet)?;
    let pages_log = config.pages_log.clone();
    let frontier = DiskFrontier::open(dir, config.canonicalizer())
        .with_context(|| format!("cannot open the job in {}", dir.display()))?;
    let settings = serde_json::to_string(argv).context("failed to encode the job settings")?;
    frontier
        .save_settings(&settings)
        .context("cannot save the job settings")?;
    let recovered = frontier.recovered_hosts();
    if !recovered.is_empty() && !quiet {
        eprintln!(
            "dragnet: resuming {}: what the last run had in flight on {} host(s) goes back to the queue",
            dir.display(),
            recovered.len()
        );
    }
    let mut crawler = Crawler::with_frontier(config, frontier).context("cannot start the crawl")?;
    for sink in sinks {
        crawler.add_sink(sink);
    }
    crawler.hold_hosts(&recovered);
    let summary = run_crawl(crawler, quiet).await?;
    if !summary.interrupted {
        if let Some(log) = &pages_log {
            let removed = dragnet::sink::compact_pages_log(log)
                .with_context(|| format!("cannot compact the pages log {}", log.display()))?;
            if removed > 0 {
                tracing::info!(message = "Pages log compacted.", removed);
            }
        }
    }
    report.finish(&summary)
}

/// The command line the job in `dir` was started with.
pub(crate) fn saved_command(dir: &Path) -> Result<Vec<String>> {
    if !dir.join(dragnet::frontier::DB_FILE).exists() {
        bail!(
            "{} is not a dragnet job folder (no job store in it)",
            dir.display()
        );
    }
    let frontier = DiskFrontier::open(dir, Default::default())
        .with_context(|| format!("cannot open the job in {}", dir.display()))?;
    let settings = frontier
        .load_settings()
        .context("cannot read the job settings")?;
    drop(frontier);
    let settings =
        settings.with_context(|| format!("the job in {} has no saved settings", dir.display()))?;
    serde_json::from_str(&settings).context("the job's saved settings are not readable")
}

/// Prints a job's progress without disturbing a run that may be going on.
pub(crate) fn print_status(dir: &Path) -> Result<ExitCode> {
    let status = DiskFrontier::read_status(dir)
        .with_context(|| format!("cannot read the job in {}", dir.display()))?;
    println!("job {}", dir.display());
    println!("  queued    {}", status.queued);
    println!("  in flight {}", status.leased);
    println!("  done      {}", status.done);
    println!("  failed    {}", status.failed + status.dead);
    for (reason, count) in &status.failures {
        println!("    {reason:<24} {count}");
    }
    if status.queued == 0 && status.leased == 0 {
        println!("  finished");
    }
    Ok(ExitCode::SUCCESS)
}
