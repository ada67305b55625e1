//! `dragnet demo`: the reference job on a local copy of the countries site, run the
//! tutorial's way (sequential, 16, 32 in flight), with the tutorial's table at the end.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dragnet::Config;
use dragnet_testsite::{Latency, Profile, SiteConfig, TestSite};

use crate::args::DemoArgs;
use crate::run::run_crawl;
use crate::settings::parse_selector;

/// The reference job's selector.
const COUNTRY_LINKS: &str = "td .flagicon + a";

/// The runs: a label, a folder name, and the concurrency (`None`: auto).
const RUNS: [(&str, &str, Option<usize>); 4] = [
    ("sequential", "sequential", Some(1)),
    ("16 in flight", "c16", Some(16)),
    ("32 in flight", "c32", Some(32)),
    ("auto", "auto", None),
];

struct Row {
    label: &'static str,
    wall: Duration,
    saved: usize,
    failed: u64,
    peak: usize,
}

pub(crate) async fn run(args: DemoArgs, quiet: bool) -> Result<ExitCode> {
    let site = TestSite::start(SiteConfig {
        profile: Profile::Countries,
        latency: Latency::new(args.latency_ms, args.jitter_ms),
        ..SiteConfig::default()
    })
    .await
    .context("failed to start the local countries site")?;
    site.warm_up().await;
    let list = site.list_url();
    eprintln!(
        "dragnet demo: local copy of the countries site at {list}\n  {} ms ± {} ms added per request; the reference job: follow '{COUNTRY_LINKS}' at depth 1",
        args.latency_ms, args.jitter_ms
    );
    let selector = parse_selector(COUNTRY_LINKS, "selector")?;
    let mut rows = Vec::new();
    for (label, folder, concurrency) in RUNS {
        let out = args.out.join(folder);
        clear_demo_folder(&out)?;
        let mut config = Config::new(vec![list.clone()]);
        config.follow = Some(selector.clone());
        config.max_depth = 1;
        match concurrency {
            Some(n) => {
                config.concurrency = n;
                config.per_host = n;
            }
            None => {
                config.auto_concurrency = true;
                config.per_host = config.max_concurrency;
            }
        }
        config.allow_private = true;
        config.out_dir = Some(out.clone());
        config.pages_log = Some(out.join("pages.jsonl"));
        eprintln!("  running {label} ...");
        let crawler = dragnet::Crawler::new(config).context("cannot start the demo crawl")?;
        let summary = run_crawl(crawler, quiet).await?;
        rows.push(Row {
            label,
            wall: Duration::from_secs_f64(summary.wall_secs),
            saved: count_pages(&out)?,
            failed: summary.pages_failed,
            peak: summary.peak_in_flight,
        });
    }
    site.shutdown().await;
    println!(
        "{:<14} {:>10} {:>12} {:>8} {:>15}",
        "mode", "wall time", "pages saved", "failed", "peak in flight"
    );
    for row in &rows {
        println!(
            "{:<14} {:>8.2} s {:>12} {:>8} {:>15}",
            row.label,
            row.wall.as_secs_f64(),
            row.saved,
            row.failed,
            row.peak
        );
    }
    println!(
        "\nThe tutorial's Python on the real site: sequential 137 s, 16 threads 11.2 s, 32 threads 4.6 s.\n\
         Pages saved under {}/{{sequential,c16,c32,auto}}/ (233 countries and the list page each), \
         with a pages.jsonl log in each folder.",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Empties a folder from an earlier demo run. Refuses folders that do not look like one, so
/// a mistyped --out cannot delete someone's files.
fn clear_demo_folder(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.join("pages.jsonl").exists() {
        bail!(
            "{} exists and is not an earlier demo's output; choose another --out",
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("failed to clear {}", dir.display()))
}

fn count_pages(dir: &Path) -> Result<usize> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("failed to read {}", dir.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".html"))
        .count())
}
