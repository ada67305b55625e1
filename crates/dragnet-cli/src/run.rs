//! Running a crawl from the command line: progress, Ctrl-C, summary, summary JSON.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use dragnet::{Config, Crawler, Summary};

use crate::progress::{Progress, summary_text};

/// Runs the crawl with a progress display and Ctrl-C handling; prints the summary.
pub(crate) async fn crawl_and_report(
    config: Config,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    if let Some(path) = summary_json {
        // Fail before crawling, not after, when the summary cannot be written.
        std::fs::File::create(path)
            .with_context(|| format!("cannot write the summary to {}", path.display()))?;
    }
    let out_dir = config.out_dir.clone();
    let pages_log = config.pages_log.clone();
    let summary = run_crawl(config, quiet).await?;
    if !quiet {
        eprint!("{}", summary_text(&summary));
        if let Some(dir) = &out_dir {
            eprintln!("  saved to {}", dir.display());
        }
        if let Some(log) = &pages_log {
            eprintln!("  pages log: {}", log.display());
        }
    }
    if let Some(path) = summary_json {
        write_summary_json(&summary, path)?;
    }
    Ok(if summary.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs one crawl: the first Ctrl-C stops it gracefully (in-flight requests finish,
/// outputs flush); a second one exits at once.
pub(crate) async fn run_crawl(config: Config, quiet: bool) -> Result<Summary> {
    let crawler = Crawler::new(config).context("cannot start the crawl")?;
    let stop = crawler.stop_handle();
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "dragnet: stopping: finishing requests in flight (Ctrl-C again to quit at once)"
            );
            stop.stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let progress = Progress::start(crawler.stats(), quiet);
    let result = crawler.run().await;
    progress.finish();
    watcher.abort();
    result.context("crawl failed")
}

fn write_summary_json(summary: &Summary, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(summary).context("failed to encode the summary")?;
    std::fs::write(path, json).with_context(|| format!("failed to write {}", path.display()))
}
