//! Running a crawl from the command line: progress, Ctrl-C, summary, summary JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use dragnet::frontier::Frontier;
use dragnet::sink::Sink;
use dragnet::{Config, Crawler, Summary};

use crate::progress::{Progress, summary_text};

/// Where a crawl's outputs go, for the closing lines.
pub(crate) struct Report {
    pub(crate) summary_json: Option<PathBuf>,
    pub(crate) out_dir: Option<PathBuf>,
    pub(crate) pages_log: Option<PathBuf>,
    pub(crate) quiet: bool,
}

impl Report {
    pub(crate) fn new(config: &Config, summary_json: Option<&Path>, quiet: bool) -> Result<Self> {
        if let Some(path) = summary_json {
            // Fail before crawling, not after, when the summary cannot be written.
            std::fs::File::create(path)
                .with_context(|| format!("cannot write the summary to {}", path.display()))?;
        }
        Ok(Self {
            summary_json: summary_json.map(Path::to_owned),
            out_dir: config.out_dir.clone(),
            pages_log: config.pages_log.clone(),
            quiet,
        })
    }

    /// Prints the summary, writes the summary JSON, and picks the exit code.
    pub(crate) fn finish(&self, summary: &Summary) -> Result<ExitCode> {
        if !self.quiet {
            eprint!("{}", summary_text(summary));
            if let Some(dir) = &self.out_dir {
                eprintln!("  saved to {}", dir.display());
            }
            if let Some(log) = &self.pages_log {
                eprintln!("  pages log: {}", log.display());
            }
        }
        if let Some(path) = &self.summary_json {
            let json =
                serde_json::to_vec_pretty(summary).context("failed to encode the summary")?;
            std::fs::write(path, json)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        Ok(exit_code(summary))
    }
}

/// 130 when interrupted; 1 when URLs were tried and not one page was fetched (every seed
/// failed: a script should not go on as if it had pages); 0 otherwise, per-URL failures
/// included. A run with nothing to do (a finished job resumed) is 0.
pub(crate) fn exit_code(summary: &Summary) -> ExitCode {
    if summary.interrupted {
        ExitCode::from(130)
    } else if summary.pages_ok == 0 && summary.pages_failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a crawl on the in-memory frontier and reports it.
pub(crate) async fn crawl_and_report(
    config: Config,
    sinks: Vec<Box<dyn Sink>>,
    summary_json: Option<&Path>,
    quiet: bool,
) -> Result<ExitCode> {
    let report = Report::new(&config, summary_json, quiet)?;
    let mut crawler = Crawler::new(config).context("cannot start the crawl")?;
    for sink in sinks {
        crawler.add_sink(sink);
    }
    let summary = run_crawl(crawler, quiet).await?;
    report.finish(&summary)
}

/// Runs one crawl: the first Ctrl-C stops it gracefully (in-flight requests finish,
/// outputs flush); a second one exits at once.
pub(crate) async fn run_crawl<F: Frontier>(crawler: Crawler<F>, quiet: bool) -> Result<Summary> {
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
