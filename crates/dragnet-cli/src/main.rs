//! The `dragnet` command. Parses arguments, builds a `dragnet::Config`, runs, reports.
//! Exit codes: 0 when the crawl ran (per-URL failures are in the summary), 1 when not a
//! single page could be fetched, 2 for fatal errors (bad arguments, unwritable output),
//! 130 when interrupted (`args::EXIT_CODES` is the text `--help` shows).

mod args;
mod demo;
mod fleet;
mod job;
mod logging;
mod outputs;
mod progress;
mod run;
mod settings;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use dragnet::{Config, LinkSelector};

use crate::args::{Cli, Command, CrawlArgs, FetchArgs, FleetArgs, LinksArgs, WorkerArgs};
use crate::fleet::FleetJob;
use crate::settings::{
    apply_knobs, apply_output, parse_duration, parse_patterns, parse_scope, parse_selector,
    parse_url, read_url_list,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.verbose, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("dragnet: error: failed to start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(error) => {
            // One line, whatever the underlying messages contain, so scripts can grep it.
            let message = format!("{error:#}")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("dragnet: error: {message}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let quiet = cli.quiet;
    match cli.command {
        // The command line is kept with a job, for `dragnet resume`.
        Command::Crawl(args) => crawl(args, quiet, std::env::args().skip(1).collect()).await,
        Command::Fetch(args) => fetch(args, quiet).await,
        Command::Links(args) => links(args).await,
        Command::Demo(args) => demo::run(args, quiet).await,
        Command::Resume(args) => {
            let argv = job::saved_command(&args.dir)?;
            let (crawl_args, saved_quiet) = saved_crawl(&argv)?;
            Box::pin(crawl(crawl_args, quiet || saved_quiet, argv)).await
        }
        Command::Status(args) => match (&args.frontier, &args.job, &args.dir) {
            (Some(url), Some(job), _) => fleet::print_status(url, job).await,
            (_, _, Some(dir)) => job::print_status(dir),
            _ => anyhow::bail!("status needs a job folder, or --frontier URL --job NAME"),
        },
        Command::Worker(args) => worker(args, quiet).await,
        Command::Drain(args) => fleet::drain(&args.frontier, &args.job).await,
    }
}

/// The configuration a crawl command asks for.
fn crawl_config(args: &CrawlArgs) -> Result<Config> {
    let seeds = args
        .urls
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<Vec<_>>>()?;
    let mut config = Config::new(seeds);
    config.follow = Some(match &args.follow {
        Some(css) => parse_selector(css, "--follow")?,
        None => LinkSelector::all_links(),
    });
    config.max_depth = args.depth;
    config.scope = parse_scope(&args.scope, args.same_host)?;
    config.sitemaps = args
        .sitemap
        .iter()
        .map(|u| parse_url(u))
        .collect::<Result<_>>()?;
    config.robots_sitemaps = args.sitemaps;
    config.allow = parse_patterns(&args.allow, "--allow")?;
    config.deny = parse_patterns(&args.deny, "--deny")?;
    config.max_pages_per_host = args.max_pages_per_host;
    config.strip_query = args.strip_query.clone();
    apply_knobs(&mut config, &args.knobs)?;
    apply_output(&mut config, &args.output)?;
    outputs::apply_items(&mut config, &args.output)?;
    Ok(config)
}

async fn crawl(args: CrawlArgs, quiet: bool, argv: Vec<String>) -> Result<ExitCode> {
    let config = crawl_config(&args)?;
    let summary_json = args.output.summary_json.as_deref();
    match (&args.frontier, &args.job) {
        (Some(url), Some(job)) => {
            let job = FleetJob {
                url: url.clone(),
                name: job.to_string_lossy().into_owned(),
                lease_ttl: parse_duration(&args.lease_ttl).context("--lease-ttl")?,
            };
            let sinks = outputs::open(&config, &args.output, None)?;
            fleet::seed_and_work(config, sinks, &job, &argv, summary_json, quiet).await
        }
        (None, Some(dir)) => {
            let sinks = outputs::open(&config, &args.output, None)?;
            job::run(config, sinks, dir, &argv, summary_json, quiet).await
        }
        _ => {
            let sinks = outputs::open(&config, &args.output, None)?;
            run::crawl_and_report(config, sinks, summary_json, quiet).await
        }
    }
}

/// Parses a saved command line back into crawl arguments.
fn saved_crawl(argv: &[String]) -> Result<(CrawlArgs, bool)> {
    let full = std::iter::once("dragnet".to_owned()).chain(argv.iter().cloned());
    let cli = Cli::try_parse_from(full).context("the job's saved command no longer parses")?;
    match cli.command {
        Command::Crawl(args) => Ok((args, cli.quiet)),
        _ => anyhow::bail!("the job's saved command is not a crawl"),
    }
}

async fn worker(args: WorkerArgs, quiet: bool) -> Result<ExitCode> {
    let FleetArgs { frontier, job } = &args.fleet;
    let argv = fleet::saved_command(frontier, job).await?;
    let (crawl_args, _) = saved_crawl(&argv)?;
    let mut config = crawl_config(&crawl_args)?;
    if let Some(out) = &args.out {
        config.out_dir = Some(out.clone());
    }
    let job = FleetJob {
        url: frontier.clone(),
        name: job.clone(),
        lease_ttl: parse_duration(&crawl_args.lease_ttl).context("--lease-ttl")?,
    };
    fleet::work_with_settings(
        config,
        &crawl_args.output,
        &job,
        args.summary_json.as_deref(),
        quiet,
    )
    .await
}

async fn fetch(args: FetchArgs, quiet: bool) -> Result<ExitCode> {
    let (urls, bad) = read_url_list(&args.input)?;
    for problem in &bad {
        eprintln!("dragnet: skipped {problem}");
    }
    anyhow::ensure!(!urls.is_empty(), "no URLs in {}", args.input.display());
    let mut config = Config::new(urls);
    config.max_depth = 0;
    apply_knobs(&mut config, &args.knobs)?;
    apply_output(&mut config, &args.output)?;
    outputs::apply_items(&mut config, &args.output)?;
    let sinks = outputs::open(&config, &args.output, None)?;
    run::crawl_and_report(config, sinks, args.output.summary_json.as_deref(), quiet).await
}

async fn links(args: LinksArgs) -> Result<ExitCode> {
    let url = parse_url(&args.url)?;
    let selector = parse_selector(&args.select, "--select")?;
    let mut config = Config::new(vec![url.clone()]);
    apply_knobs(&mut config, &args.knobs)?;
    let links = dragnet::links::select_links(&config, &url, &selector)
        .await
        .with_context(|| format!("could not list the links of {url}"))?;
    let mut out = String::with_capacity(links.len() * 64);
    for link in &links {
        out.push_str(link.as_str());
        out.push('\n');
    }
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        // A closed pipe (`| head`) is the reader saying it has enough.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other.context("failed to write to stdout")?,
    }
    Ok(ExitCode::SUCCESS)
}
