//! What a person watching sees: a progress bar on a terminal, a quiet line every few seconds
//! otherwise, and the summary at the end. All on stderr; stdout is for data (`links`).

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use dragnet::Summary;
use dragnet::stats::{Stats, StatsSnapshot};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;

/// How often the bar redraws.
const BAR_TICK: Duration = Duration::from_millis(200);
/// How often a line is written when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// A running progress display; stop it before printing the summary.
pub(crate) struct Progress {
    task: Option<JoinHandle<()>>,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn start(stats: Arc<Stats>, quiet: bool) -> Self {
        if quiet {
            return Self {
                task: None,
                bar: None,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            // Invariant: a constant template that indicatif accepts.
            let style = ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
            )
            .expect("valid progress template");
            bar.set_style(style);
            let handle = bar.clone();
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(BAR_TICK);
                loop {
                    tick.tick().await;
                    let s = stats.snapshot();
                    handle.set_length(s.discovered);
                    handle.set_position(s.pages_ok + s.pages_failed);
                    handle.set_message(format!(
                        "{:.1} pages/s, {} in flight (limit {}), {} errors, {} retries",
                        s.rate(),
                        s.in_flight,
                        s.limit,
                        s.pages_failed,
                        s.retries
                    ));
                }
            });
            Self {
                task: Some(task),
                bar: Some(bar),
            }
        } else {
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(LINE_EVERY);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    eprintln!("dragnet: {}", line(&stats.snapshot()));
                }
            });
            Self {
                task: Some(task),
                bar: None,
            }
        }
    }

    pub(crate) fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn line(s: &StatsSnapshot) -> String {
    format!(
        "{} done / {} discovered, {:.1} pages/s, {} in flight, {} errors",
        s.pages_ok + s.pages_failed,
        s.discovered,
        s.rate(),
        s.in_flight,
        s.pages_failed
    )
}

/// The end-of-crawl summary, for people.
pub(crate) fn summary_text(summary: &Summary) -> String {
    let mut text = format!(
        "dragnet: {} pages ok, {} failed, {} skipped in {:.2} s ({:.1} pages/s)\n",
        summary.pages_ok,
        summary.pages_failed,
        summary.pages_skipped,
        summary.wall_secs,
        summary.pages_per_sec
    );
    text += &format!(
        "  {}  latency p50 {} ms, p95 {} ms, max {} ms\n",
        human_bytes(summary.bytes),
        summary.latency_ms.p50,
        summary.latency_ms.p95,
        summary.latency_ms.max
    );
    text += &format!(
        "  peak in flight {} (concurrency {}), CPU pool busy {:.0}% of {} threads, {} retries, {} duplicate bodies\n",
        summary.peak_in_flight,
        summary.concurrency,
        summary.cpu_busy_share * 100.0,
        summary.threads,
        summary.retries,
        summary.duplicates
    );
    if !summary.failures_by_reason.is_empty() {
        let reasons: Vec<String> = summary
            .failures_by_reason
            .iter()
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect();
        text += &format!("  failures: {}\n", reasons.join(", "));
    }
    if !summary.skipped_by_reason.is_empty() {
        let reasons: Vec<String> = summary
            .skipped_by_reason
            .iter()
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect();
        text += &format!("  skipped: {}\n", reasons.join(", "));
    }
    if !summary.links_dropped_by_reason.is_empty() {
        let reasons: Vec<String> = summary
            .links_dropped_by_reason
            .iter()
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect();
        text += &format!("  links not followed: {}\n", reasons.join(", "));
    }
    if summary.tags_dropped > 0 || summary.stale_leases > 0 {
        text += &format!(
            "  {} tags dropped by the parser's caps, {} results dropped with stale leases\n",
            summary.tags_dropped, summary.stale_leases
        );
    }
    for (title, counts) in [
        ("saved, not parsed", &summary.not_parsed_by_reason),
        ("fetched, not saved", &summary.outputs_refused_by_reason),
    ] {
        if !counts.is_empty() {
            let reasons: Vec<String> = counts
                .iter()
                .map(|(reason, n)| format!("{reason} ×{n}"))
                .collect();
            text += &format!("  {title}: {}\n", reasons.join(", "));
        }
    }
    if summary.interrupted {
        text += "  interrupted: stopped before the frontier was empty\n";
    }
    text
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_readable() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(95_300_000), "95.3 MB");
    }
}
