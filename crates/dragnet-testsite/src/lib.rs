//! The local fixture web of dragnet's tests, benchmarks and demo.
//!
//! A [`TestSite`] serves a deterministic synthetic site on 127.0.0.1 (one listener per host)
//! and misbehaves on request: latency with a heavy tail, 429s beyond a concurrency cap, a
//! per-host capacity queue, injected 500s and dropped connections (bounded per path, so
//! retrying clients always get through), bandwidth limits and robots.txt. Everything is a
//! pure function of the seed, the path and the attempt number on that path.
//!
//! Hosts can also serve a rate-limit [`Behaviour`](limits::Behaviour) each
//! ([`SiteConfig::behaviours`]): a concurrency cap, token bucket or fixed window that may change
//! mid-run, refusals as 429 or 503 at once or after the latency, `Retry-After` in seconds, as
//! a date or absent, and the limit announced in `RateLimit` / `X-RateLimit-*` headers.
//!
//! Three profiles: [`Profile::Countries`], the tutorial's job (a list page with 233 flag-icon
//! links to Wikipedia-like country pages of 150 KB to 1.2 MB), [`Profile::Web`], a generated
//! web of any size, and [`Profile::Real`], a folder of real web pages.
//!
//! Every profile also serves:
//! - `/files/{path}`, `/redirect/{n}`, `/loop`;
//! - `/robots.txt` (configured text, a status, or an oversized file: see [`SiteConfig`]),
//!   `/robots-test/` and `/robots-test/deeper`, `/private/{path}`, `/late/{path}`;
//! - `/redirect-out` (302 to a closed port) and `/redirect-private` (302 to `/private/x`);
//! - sitemaps: `/sitemap.xml`, `/sitemap.xml.gz`, `/sitemap_index.xml`,
//!   `/sitemaps/part-1.xml`, `/sitemaps/part-2.xml.gz` (see [`TestSite::sitemap_urls`]);
//! - crawler traps: `/traps/` (index), `/calendar/{year}/{month}`, `/repeat/{path}`,
//!   `/session/{1..5}?sid=…`, `/canonical/{n}`;
//! - `/__manifest.json`, `/__stats.json` and `/__requests.json` (never logged, counted,
//!   delayed or failed).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use dragnet_testsite::{SiteConfig, TestSite};
//! let site = TestSite::start(SiteConfig::default()).await?;
//! let list = site.list_url(); // http://127.0.0.1:PORT/wiki/List_of_countries_and_dependencies_by_population
//! # let _ = list;
//! assert_eq!(site.manifest().pages.len(), 234);
//! site.shutdown().await;
//! # Ok(()) }
//! ```

mod body;
mod config;
mod countries;
mod countries_names;
mod country_page;
mod faults;
mod limited;
pub mod limits;
mod manifest;
mod real;
mod request_log;
mod response;
mod rng;
mod robots;
mod server;
mod sitemaps;
mod stats;
mod text;
mod traps;
mod web;
mod wiki_chrome;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;
use url::Url;

pub use config::{Latency, Profile, SiteConfig};
pub use countries::country_names;
pub use manifest::{Manifest, ManifestPage};
pub use request_log::{REQUEST_LOG_LIMIT, RequestLog, RequestLogEntry};
pub use robots::ROBOTS_READ_LIMIT;
pub use stats::{HostStats, PER_PATH_LIMIT, SiteStats};

use countries::{Countries, LIST_PATH};
use faults::Faults;
use limited::HostLimits;
use real::RealPages;
use request_log::Recorder;
use server::{Content, SiteState};
use stats::Stats;
use web::Web;

/// A running test site. Dropping it stops the listeners and closes every connection.
#[derive(Debug)]
pub struct TestSite {
    state: Arc<SiteState>,
    addrs: Vec<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl TestSite {
    /// Starts the site on `127.0.0.1`, one listener on a free port per host.
    pub async fn start(config: SiteConfig) -> std::io::Result<TestSite> {
        TestSite::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts the site on `addr`. Host `i` listens on `addr`'s port + `i`, or on a free port
    /// each when the port is 0.
    pub async fn start_on(config: SiteConfig, addr: SocketAddr) -> std::io::Result<TestSite> {
        let hosts = config.host_count();
        let mut listeners = Vec::with_capacity(hosts);
        for i in 0..hosts {
            let port = if addr.port() == 0 {
                0
            } else {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| addr.port().checked_add(i))
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidInput,
                            "port range overflows",
                        )
                    })?
            };
            listeners.push(listen(SocketAddr::new(addr.ip(), port))?);
        }
        let addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<std::io::Result<Vec<_>>>()?;
        let origins: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
        let content = match &config.profile {
            Profile::Countries => {
                let seed = config.seed;
                let corpus = tokio::task::spawn_blocking(move || Countries::for_seed(seed))
                    .await
                    .map_err(std::io::Error::other)?;
                Content::Countries(corpus)
            }
            Profile::Web {
                pages,
                links_per_page,
                mean_page_bytes,
                ..
            } => Content::Web(Arc::new(Web::new(
                config.seed,
                *pages,
                *links_per_page,
                *mean_page_bytes,
                origins.clone(),
            ))),
            Profile::Real { dir } => {
                let dir = dir.clone();
                let pages = tokio::task::spawn_blocking(move || RealPages::load(&dir))
                    .await
                    .map_err(std::io::Error::other)??;
                Content::Real(Arc::new(pages))
            }
        };
        let state = Arc::new(SiteState {
            stats: Arc::new(Stats::new(hosts)),
            requests: Recorder::new(),
            faults: Faults::new(&config, hosts),
            limits: HostLimits::new(&config, hosts),
            config,
            content,
            origins,
            sitemaps: (0..hosts).map(|_| OnceLock::new()).collect(),
            oversized_robots: OnceLock::new(),
        });
        let tasks = listeners
            .into_iter()
            .enumerate()
            .map(|(host, listener)| {
                tokio::spawn(server::accept_loop(listener, host, Arc::clone(&state)))
            })
            .collect();
        tracing::info!(addrs = ?addrs, profile = ?state.config.profile, seed = state.config.seed, "test site started");
        Ok(TestSite {
            state,
            addrs,
            tasks,
        })
    }

    /// Generates (and hashes) every stored body now, so no request ever waits for generation.
    /// Only the countries profile stores bodies; the binary calls this before printing its URL.
    pub async fn warm_up(&self) {
        if let Content::Countries(c) = &self.state.content {
            let c = Arc::clone(c);
            if let Err(e) = tokio::task::spawn_blocking(move || {
                c.warm();
                c.manifest_entries();
            })
            .await
            {
                tracing::error!(error = %e, "warm-up failed");
            }
        }
    }

    /// The config the site runs with.
    pub fn config(&self) -> &SiteConfig {
        &self.state.config
    }

    /// Host 0's root, e.g. `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> Url {
        self.host_urls().swap_remove(0)
    }

    /// The root URL of every host, in host order.
    pub fn host_urls(&self) -> Vec<Url> {
        self.state
            .origins
            .iter()
            // An origin made of "http://" and a socket address always parses.
            .map(|o| Url::parse(&format!("{o}/")).expect("origin is a valid URL"))
            .collect()
    }

    /// Where a crawl starts: the list page for the countries profile, `/p/0` on host 0 for
    /// the web profile, the index `/real/` for the real profile.
    pub fn list_url(&self) -> Url {
        let path = match self.state.content {
            Content::Countries(_) => LIST_PATH,
            Content::Web(_) => "/p/0",
            Content::Real(_) => real::INDEX_PATH,
        };
        // Joining an absolute path onto an http URL always succeeds.
        self.base_url().join(path).expect("absolute path joins")
    }

    /// The socket address of every host.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Every content page with the sha256 of its body (same as `GET /__manifest.json`).
    /// The first call for a countries site generates and hashes all pages (~100 MB); for
    /// the web profile it generates every page, so prefer the streamed HTTP endpoint for
    /// millions of pages. Blocking: call it outside hot async paths.
    pub fn manifest(&self) -> Manifest {
        self.state.manifest()
    }

    /// Counters so far (same as `GET /__stats.json`).
    pub fn stats(&self) -> SiteStats {
        self.state.stats.snapshot()
    }

    /// Every request received so far, in arrival order, on every host (same as
    /// `GET /__requests.json`, which also carries the truncation flag). `/robots.txt` is
    /// included (unlike in [`stats`](TestSite::stats)); the `/__*` endpoints are not. At most
    /// [`REQUEST_LOG_LIMIT`] entries are kept.
    pub fn request_log(&self) -> Vec<RequestLogEntry> {
        self.state.requests.snapshot().entries
    }

    /// True when requests arrived after the request log was full (since the last reset).
    pub fn request_log_truncated(&self) -> bool {
        self.state.requests.snapshot().truncated
    }

    /// Every URL host 0's sitemaps list, in order: `/sitemap.xml` (and its gzip twin) lists
    /// them all, `/sitemaps/part-1.xml` the first half and `/sitemaps/part-2.xml.gz` the rest.
    /// The first is `/files/sitemap?x=1&y=2` (written with `&amp;`), then the 233 country
    /// pages, the first 1,000 web pages on the host, or every real page.
    pub fn sitemap_urls(&self) -> Vec<Url> {
        self.host_sitemap_urls(0)
    }

    /// Every URL the sitemaps of host `host` list (each host lists its own pages); empty for
    /// a host the site does not have.
    pub fn host_sitemap_urls(&self, host: usize) -> Vec<Url> {
        if host >= self.state.origins.len() {
            return Vec::new();
        }
        self.state
            .sitemaps(host)
            .urls()
            .iter()
            // The site's own origin plus an absolute path always parses.
            .map(|u| Url::parse(u).expect("sitemap URLs are valid"))
            .collect()
    }

    /// Zeroes the counters, clears the request log and forgets the attempt numbers per
    /// path, so injected faults start over exactly as on a fresh site.
    pub fn reset_stats(&self) {
        self.state.stats.reset();
        self.state.requests.reset();
        self.state.faults.reset();
        self.state.limits.reset();
    }

    /// Stops the listeners and closes every connection.
    pub async fn shutdown(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        tracing::info!(addrs = ?self.addrs, "test site stopped");
    }
}

impl Drop for TestSite {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Connections waiting to be accepted, per listener. `TcpListener::bind` asks for 128, and a
/// client opening more connections at once than that (curl --parallel-max 256 opens all 233 of
/// the reference job's) has its extra SYNs dropped: each costs it a one-second retransmit, so
/// the site, not the client, set the time. The kernel caps this at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restarted site can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}
