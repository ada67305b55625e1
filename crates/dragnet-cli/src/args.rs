//! The command line, as typed. `settings.rs` turns it into a `dragnet::Config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// What `dragnet --help` says about exit codes, for scripts.
const EXIT_CODES: &str = "\
Exit codes:
  0    the crawl ran (URLs that failed are counted in the summary and the pages log)
  1    not a single page could be fetched: every URL tried failed (e.g. every seed)
  2    bad arguments, or an output that cannot be written (one line on stderr says which)
  130  interrupted (Ctrl-C); a job folder can be resumed with `dragnet resume DIR`

Addresses: the URLs you type (seeds, --input lists, --sitemap URLs, --resolve entries) may be
private or loopback, and so may every URL on the same host and port as one of them. Links,
redirects and sitemap entries leading to any other private, loopback or link-local address
are refused (`private_address` in the pages log) unless --allow-private is given.";

/// dragnet: a web crawler and scraper. Fetches concurrently, parses on every core.
#[derive(Debug, Parser)]
#[command(
    name = "dragnet",
    version,
    about,
    propagate_version = true,
    after_long_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// No progress and no summary on stderr (errors still show).
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing buys nothing"
)]
pub(crate) enum Command {
    /// Crawl from seed URLs, following links, saving pages.
    ///
    /// The reference job: dragnet crawl URL --follow 'td .flagicon + a' --depth 1 --out countries/
    Crawl(CrawlArgs),
    /// Print the links a selector finds on one page, resolved, one per line.
    Links(LinksArgs),
    /// Download a list of URLs (one per line; `-` for stdin) without following links.
    Fetch(FetchArgs),
    /// Run the reference job on a local copy of the countries site: no network, no set-up.
    Demo(DemoArgs),
    /// Continue a job (`crawl ... --job DIR`) with the settings it was started with.
    Resume(ResumeArgs),
    /// Show a job's progress: queued, in flight, done, failed by reason (a job folder, or
    /// `--frontier redis://… --job NAME`).
    Status(StatusArgs),
    /// Join a distributed job on Redis and work on it until it is done.
    Worker(WorkerArgs),
    /// Ask every worker of a distributed job to stop cleanly.
    Drain(FleetArgs),
}

#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// The Redis frontier, e.g. redis://127.0.0.1:6379/0.
    #[arg(long, value_name = "URL")]
    pub(crate) frontier: String,
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) job: String,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    pub(crate) fleet: FleetArgs,
    /// Where this worker saves pages (and its pages-WORKER.jsonl); default: the seeding
    /// command's --out.
    #[arg(long, short, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Write this worker's summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ResumeArgs {
    /// The job folder.
    pub(crate) dir: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The job folder (for a job started with `--job DIR`).
    #[arg(required_unless_present = "frontier")]
    pub(crate) dir: Option<PathBuf>,
    /// The Redis frontier of a distributed job.
    #[arg(long, value_name = "URL", requires = "job")]
    pub(crate) frontier: Option<String>,
    /// The distributed job's name.
    #[arg(long, value_name = "NAME")]
    pub(crate) job: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CrawlArgs {
    /// Seed URLs (depth 0).
    #[arg(required_unless_present = "sitemap")]
    pub(crate) urls: Vec<String>,
    /// CSS selector for the links to follow (full CSS: `td .flagicon + a`). Default: every link.
    #[arg(long, value_name = "CSS")]
    pub(crate) follow: Option<String>,
    /// Link depth to crawl to (seeds are depth 0).
    #[arg(long, default_value_t = 1)]
    pub(crate) depth: u32,
    /// Which discovered links to keep: host, domain, subdomains, prefix or any.
    #[arg(long, default_value = "host", conflicts_with = "same_host")]
    pub(crate) scope: String,
    /// Same as --scope host.
    #[arg(long)]
    pub(crate) same_host: bool,
    /// Keep the job's state in this folder: it survives a crash or Ctrl-C, and running the
    /// same command again (or `dragnet resume DIR`) continues it. The pages log defaults to
    /// DIR/pages.jsonl. With --frontier, the job's NAME in Redis instead.
    #[arg(long, value_name = "DIR|NAME")]
    pub(crate) job: Option<PathBuf>,
    /// Share the frontier with other workers in Redis (redis://HOST:PORT/DB); needs
    /// --job NAME. Join from other machines with `dragnet worker`.
    #[arg(long, value_name = "URL", requires = "job")]
    pub(crate) frontier: Option<String>,
    /// With --frontier: how long a worker's lease on a URL lasts without a heartbeat; a
    /// dead or stalled worker's URLs go to the others after this.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub(crate) lease_ttl: String,
    /// Seed from this sitemap or sitemap index (plain, gzip or text; repeatable).
    #[arg(long, value_name = "URL")]
    pub(crate) sitemap: Vec<String>,
    /// Also seed from the `Sitemap:` lines of the seed hosts' robots.txt.
    #[arg(long)]
    pub(crate) sitemaps: bool,
    /// Only crawl URLs matching this regular expression (repeatable: any may match).
    #[arg(long, value_name = "REGEX")]
    pub(crate) allow: Vec<String>,
    /// Never crawl URLs matching this regular expression (repeatable).
    #[arg(long, value_name = "REGEX")]
    pub(crate) deny: Vec<String>,
    /// Most pages queued per host.
    #[arg(long, value_name = "N")]
    pub(crate) max_pages_per_host: Option<u64>,
    /// Query parameters ignored when deciding whether two URLs are the same page
    /// (globs, repeatable): --strip-query 'utm_*' --strip-query sessionid
    #[arg(long, value_name = "GLOB")]
    pub(crate) strip_query: Vec<String>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// File with one URL per line (`-` reads stdin). Blank lines and `#` comments are skipped.
    #[arg(long, short)]
    pub(crate) input: PathBuf,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct LinksArgs {
    /// The page.
    pub(crate) url: String,
    /// CSS selector for the links (default: every link).
    #[arg(long, value_name = "CSS", default_value = "a[href], area[href]")]
    pub(crate) select: String,
    #[command(flatten)]
    pub(crate) knobs: Knobs,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo saves pages (one folder per run).
    #[arg(long, default_value = "dragnet-demo")]
    pub(crate) out: PathBuf,
    /// Mean added latency per request on the local site, ms.
    #[arg(long, default_value_t = 100)]
    pub(crate) latency_ms: u64,
    /// Latency jitter (±), ms.
    #[arg(long, default_value_t = 30)]
    pub(crate) jitter_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct OutputArgs {
    /// Save each page into this folder as `<last path segment>.html`, with a pages log
    /// (pages.jsonl) beside them.
    #[arg(long, short, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Where to write the pages log (default: DIR/pages.jsonl when --out is given).
    #[arg(long, value_name = "FILE")]
    pub(crate) pages_log: Option<PathBuf>,
    /// How pages are laid out in DIR: flat (`<segment>.html`, the tutorial's) or mirror
    /// (`host/path/...`, like wget -x). In mirror, a file whose name a folder also needs
    /// (`/feed` beside `/feed/atom`) is saved inside that folder as `index` plus its
    /// extension (`feed/index`), in whichever order they arrive. A symbolic link in DIR is
    /// never written through: that page is not saved and is counted in the summary.
    #[arg(long, value_name = "flat|mirror", default_value = "flat")]
    pub(crate) layout: String,
    /// Do not save a body already saved for another URL (it is still logged, with
    /// `"duplicate": true`).
    #[arg(long)]
    pub(crate) dedup_content: bool,
    /// Archive every response as WARC/1.1: a FILE (`.warc` or `.warc.gz`), or a folder for
    /// size-rotated `.warc.gz` files.
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) warc: Option<PathBuf>,
    /// Size at which a WARC folder starts a new file, e.g. 1G.
    #[arg(long, value_name = "SIZE", default_value = "1G")]
    pub(crate) warc_max_size: String,
    /// Make one item per element matching this CSS selector (e.g. one per table row);
    /// without it, one item per page.
    #[arg(long, value_name = "CSS")]
    pub(crate) item: Option<String>,
    /// An item field: `name=CSS` (its text) or `name=CSS@attr` (an attribute; URLs are
    /// resolved). Repeatable.
    #[arg(long = "extract", value_name = "NAME=CSS[@ATTR]")]
    pub(crate) fields: Vec<String>,
    /// Where items go: FILE.jsonl, FILE.csv, or a postgres://… URL (table created if missing,
    /// rows written in batches with COPY).
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) items: Option<String>,
    /// The PostgreSQL table for items.
    #[arg(long, value_name = "NAME", default_value = "items")]
    pub(crate) items_table: String,
    /// Write the end-of-crawl summary as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) summary_json: Option<PathBuf>,
}

/// Knobs shared by every command that fetches.
#[derive(Debug, Args, Clone)]
pub(crate) struct Knobs {
    /// Requests in flight at once, over all hosts: `auto` (default) finds the sweet spot per
    /// host and overall from throughput, latency and 429s; a number fixes it.
    #[arg(long, short = 'c', value_name = "auto|N")]
    pub(crate) concurrency: Option<String>,
    /// The most `--concurrency auto` may reach.
    #[arg(long, value_name = "N")]
    pub(crate) max_concurrency: Option<usize>,
    /// Requests in flight at once to one host.
    #[arg(long, value_name = "N")]
    pub(crate) per_host: Option<usize>,
    /// One request at a time (same as --concurrency 1).
    #[arg(long, conflicts_with_all = ["concurrency"])]
    pub(crate) sequential: bool,
    /// Threads for parsing and extraction (default: all cores).
    #[arg(long, value_name = "N")]
    pub(crate) threads: Option<usize>,
    /// Retries for timeouts, connection errors, 5xx and 429.
    #[arg(long, value_name = "N")]
    pub(crate) retries: Option<u32>,
    /// Time limit per request, e.g. 30s, 1500ms, 2m (a bare number is seconds).
    #[arg(long, value_name = "DURATION")]
    pub(crate) timeout: Option<String>,
    /// Largest body kept after decompression, e.g. 16M, 512K (bytes when bare).
    #[arg(long, value_name = "SIZE")]
    pub(crate) max_body: Option<String>,
    /// The User-Agent header.
    #[arg(long, value_name = "TEXT")]
    pub(crate) user_agent: Option<String>,
    /// Stop after this many pages.
    #[arg(long, value_name = "N")]
    pub(crate) max_pages: Option<u64>,
    /// Allow links and redirects to private, loopback and link-local addresses (refused by
    /// default, except on the hosts and ports of the URLs you typed).
    #[arg(long)]
    pub(crate) allow_private: bool,
    /// Resolve HOST:PORT to ADDR, like curl: --resolve example.com:443:127.0.0.2 (repeatable).
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    pub(crate) resolve: Vec<String>,
    /// robots.txt: obey (RFC 9309) or ignore.
    #[arg(long, value_name = "obey|ignore", default_value = "obey")]
    pub(crate) robots: String,
    /// Longest robots.txt Crawl-delay honoured, e.g. 10s.
    #[arg(long, value_name = "DURATION")]
    pub(crate) max_crawl_delay: Option<String>,
    /// Minimum gap between request starts to one host, e.g. 500ms (Crawl-delay may ask more).
    #[arg(long, value_name = "DURATION")]
    pub(crate) delay: Option<String>,
}
