//! `dragnet-testsite serve ...`: runs a test site until killed, for benchmarks and demos.
//!
//! The first line on stdout is the base URL (host 0), the second the crawl start URL (the
//! list page for `countries`, `/p/0` for `web`, `/real/` for `real`); further lines list the
//! other hosts.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use dragnet_testsite::{Latency, Profile, SiteConfig, TestSite};
use tracing_subscriber::EnvFilter;

mod behaviour_args;

use behaviour_args::{BehaviourArgs, Legacy};

/// The dragnet fixture web.
#[derive(Parser, Debug)]
#[command(name = "dragnet-testsite", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a site on 127.0.0.1 until SIGINT or SIGTERM.
    Serve(ServeArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ProfileName {
    Countries,
    Web,
    Real,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Which site to serve.
    #[arg(long, value_enum, default_value = "countries")]
    profile: ProfileName,
    /// Port of host 0 (other hosts use the following ports); 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Seed of every deterministic choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Mean latency before the response headers, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Uniform jitter around the mean latency, in ms.
    #[arg(long, default_value_t = 0)]
    jitter_ms: u64,
    /// Share of requests that take --tail-ms instead.
    #[arg(long, default_value_t = 0.0)]
    tail_share: f64,
    /// Latency of tail requests, in ms.
    #[arg(long, default_value_t = 0)]
    tail_ms: u64,
    /// Per host: answer 429 when this many requests are already in flight.
    #[arg(long)]
    cap_429: Option<usize>,
    /// Seconds sent in Retry-After with a 429 (default 1); with a bucket or window given by
    /// flags, every refusal says this instead of the limit's own wait.
    #[arg(long)]
    retry_after: Option<u64>,
    /// Per host: work on at most this many requests at once, queue the rest.
    #[arg(long)]
    capacity: Option<usize>,
    /// Share of requests answered 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share of requests whose connection is dropped mid-body.
    #[arg(long, default_value_t = 0.0)]
    drop_rate: f64,
    /// Injected failures per path before it always succeeds.
    #[arg(long, default_value_t = 2)]
    max_errors_per_path: u32,
    /// Per connection body bandwidth, in bytes per second.
    #[arg(long)]
    bandwidth: Option<u64>,
    /// Web profile: number of pages.
    #[arg(long, default_value_t = 10_000)]
    pages: u64,
    /// Web profile: number of hosts.
    #[arg(long, default_value_t = 1)]
    hosts: usize,
    /// Web profile: links per page.
    #[arg(long, default_value_t = 10)]
    links: usize,
    /// Web profile: mean page size in bytes.
    #[arg(long, default_value_t = 20_000)]
    page_bytes: usize,
    /// Real profile: the folder of `*.html` files (and `INDEX.json`) to serve.
    #[arg(long, required_if_eq("profile", "real"))]
    real_dir: Option<PathBuf>,
    /// File served as /robots.txt (404 without it); `{origin}` in it becomes the host's origin.
    #[arg(long)]
    robots: Option<PathBuf>,
    /// Answer /robots.txt with this status instead (e.g. 403 or 503).
    #[arg(long)]
    robots_status: Option<u16>,
    /// Serve an oversized /robots.txt of this many bytes instead.
    #[arg(long)]
    robots_bytes: Option<usize>,
    #[command(flatten)]
    limits: BehaviourArgs,
}

impl ServeArgs {
    fn config(&self) -> std::io::Result<SiteConfig> {
        let profile = match self.profile {
            ProfileName::Countries => Profile::Countries,
            ProfileName::Web => Profile::Web {
                pages: self.pages,
                hosts: self.hosts,
                links_per_page: self.links,
                mean_page_bytes: self.page_bytes,
            },
            ProfileName::Real => Profile::Real {
                dir: self.real_dir.clone().ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "--profile real needs --real-dir",
                    )
                })?,
            },
        };
        let robots_txt = self
            .robots
            .as_ref()
            .map(std::fs::read_to_string)
            .transpose()?;
        let latency =
            Latency::new(self.latency_ms, self.jitter_ms).with_tail(self.tail_share, self.tail_ms);
        let behaviours = self.limits.behaviours(&Legacy {
            latency,
            cap_429: self.cap_429,
            retry_after: self.retry_after,
            capacity: self.capacity,
        })?;
        Ok(SiteConfig {
            profile,
            seed: self.seed,
            latency,
            cap_429: self.cap_429,
            retry_after_secs: self.retry_after.unwrap_or(1),
            capacity: self.capacity,
            error_rate: self.error_rate,
            drop_rate: self.drop_rate,
            max_errors_per_path: self.max_errors_per_path,
            bandwidth_bytes_per_sec: self.bandwidth,
            robots_txt,
            robots_status: self.robots_status,
            robots_bytes: self.robots_bytes,
            behaviours,
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Serve(args) = Cli::parse().command;
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dragnet-testsite: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> std::io::Result<()> {
    let config = args.config()?;
    if args.limits.print() {
        let json =
            serde_json::to_string_pretty(&config.behaviours).map_err(std::io::Error::other)?;
        println!("{json}");
        return Ok(());
    }
    let site =
        TestSite::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await?;
    site.warm_up().await;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", site.base_url())?;
    writeln!(out, "{}", site.list_url())?;
    for url in site.host_urls().iter().skip(1) {
        writeln!(out, "{url}")?;
    }
    out.flush()?;
    drop(out);
    wait_for_signal().await?;
    site.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r,
        _ = term.recv() => Ok(()),
    }
}
