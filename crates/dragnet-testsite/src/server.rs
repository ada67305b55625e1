//! The HTTP side: one accept loop per host, and the request pipeline
//! (request log → stats → rate-limit behaviour or 429 cap → attempt plan → capacity queue →
//! latency → fault → routed body).

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::body::{Guards, SiteBody};
use crate::config::{Latency, SiteConfig};
use crate::countries::{Countries, LIST_PATH, WikiPage};
use crate::faults::{Fault, Faults};
use crate::limited::HostLimits;
use crate::manifest::{self, Manifest, ManifestPage};
use crate::real::{self, RealPages};
use crate::request_log::Recorder;
use crate::response::{JSON, Routed, json_response, respond};
use crate::sitemaps::{self, Sitemaps};
use crate::stats::{InFlight, Open, Stats};
use crate::text::{decode_path, escape};
use crate::web::Web;
use crate::{robots, traps};

/// What the site serves.
#[derive(Debug)]
pub(crate) enum Content {
    Countries(Arc<Countries>),
    Web(Arc<Web>),
    Real(Arc<RealPages>),
}

/// Everything a request handler needs, shared by all hosts and connections.
#[derive(Debug)]
pub(crate) struct SiteState {
    pub(crate) config: SiteConfig,
    pub(crate) stats: Arc<Stats>,
    pub(crate) requests: Recorder,
    pub(crate) faults: Faults,
    /// The rate-limit behaviours' limiters, per host.
    pub(crate) limits: HostLimits,
    pub(crate) content: Content,
    /// `http://127.0.0.1:PORT` per host.
    pub(crate) origins: Vec<String>,
    /// Each host's sitemaps, rendered on first use.
    pub(crate) sitemaps: Vec<OnceLock<Sitemaps>>,
    /// The oversized robots.txt, generated on first use.
    pub(crate) oversized_robots: OnceLock<Bytes>,
}

impl SiteState {
    /// The manifest (may take a while for large web profiles: call off the async threads).
    pub(crate) fn manifest(&self) -> Manifest {
        let entries = match &self.content {
            Content::Countries(c) => c.manifest_entries(),
            Content::Real(r) => r.manifest_entries(),
            Content::Web(w) => {
                return Manifest {
                    pages: (0..w.pages())
                        .map(|id| manifest::web_page_entry(w, id))
                        .collect(),
                };
            }
        };
        let pages = entries
            .into_iter()
            .map(|(path, sha256, bytes, kind)| ManifestPage {
                url: format!("{}{path}", self.origins[0]),
                sha256,
                bytes,
                kind: kind.to_owned(),
            })
            .collect();
        Manifest { pages }
    }

    /// The sitemaps of `host`.
    pub(crate) fn sitemaps(&self, host: usize) -> &Sitemaps {
        self.sitemaps[host].get_or_init(|| {
            Sitemaps::build(
                &self.origins[host],
                &sitemaps::paths_for(&self.content, host),
            )
        })
    }

    async fn handle(
        self: &Arc<Self>,
        host: usize,
        req: Request<hyper::body::Incoming>,
    ) -> Response<SiteBody> {
        let uri = req.uri();
        let path = uri.path();
        if path.starts_with("/__") {
            return self.internal(path).await;
        }
        let target = uri.path_and_query().map_or(path, |pq| pq.as_str());
        let (slot, now) = self.requests.arrive(host, target);
        let resp = self.serve(host, path, uri.query(), now).await;
        self.requests.finish(slot, resp.status().as_u16());
        resp
    }

    /// The `/__*` endpoints: never logged, counted, delayed or failed.
    async fn internal(self: &Arc<Self>, path: &str) -> Response<SiteBody> {
        match path {
            "/__stats.json" => json_response(&self.stats.snapshot()),
            "/__manifest.json" => self.manifest_response().await,
            "/__requests.json" => json_response(&self.requests.snapshot()),
            _ => Routed::not_found().into_response(),
        }
    }

    async fn serve(
        self: &Arc<Self>,
        host: usize,
        path: &str,
        query: Option<&str>,
        now: Duration,
    ) -> Response<SiteBody> {
        if path == "/robots.txt" {
            return robots::robots_response(
                &self.config,
                &self.origins[host],
                &self.oversized_robots,
            )
            .into_response();
        }
        self.stats.arrived(host, path);
        let open = self.stats.open(host);
        if let Some(admission) = self.limits.admit(host, now, &self.stats) {
            return self.serve_limited(host, path, query, admission, open).await;
        }
        let Some(in_flight) = self.stats.admit(host, self.config.cap_429) else {
            self.stats.refusal_answered(host);
            let mut resp = Routed::text(StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests\n")
                .into_response();
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.config.retry_after_secs),
            );
            return resp;
        };
        let latency = self.config.latency;
        self.serve_admitted(host, path, query, in_flight, open, &latency)
            .await
    }

    /// An admitted request: its attempt plan, the capacity queue, `latency`, the injected
    /// fault, then the routed body (which holds the guards until it is sent).
    pub(crate) async fn serve_admitted(
        self: &Arc<Self>,
        host: usize,
        path: &str,
        query: Option<&str>,
        mut in_flight: InFlight,
        open: Open,
        latency: &Latency,
    ) -> Response<SiteBody> {
        let plan = self.faults.plan(path, latency);
        let permit = self.faults.acquire(host).await;
        in_flight.activate();
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let guards = Guards {
            in_flight: Some(in_flight),
            permit,
            open: Some(open),
        };
        if plan.fault == Fault::Error {
            self.stats.sent_500();
            let error = Routed::text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "500 Internal Server Error (injected)\n",
            );
            let body = SiteBody::full(error.body.clone()).with_guards(guards);
            return respond(error, body);
        }
        let drop_mid_body = plan.fault == Fault::Drop;
        if drop_mid_body {
            self.stats.dropped();
        }
        let routed = self.route(host, path, query).await;
        let body = SiteBody::paced(
            routed.body.clone(),
            self.config.bandwidth_bytes_per_sec,
            drop_mid_body,
        );
        respond(routed, body.with_guards(guards))
    }

    async fn route(self: &Arc<Self>, host: usize, path: &str, query: Option<&str>) -> Routed {
        if let Some(rest) = path.strip_prefix("/files/") {
            return Routed::html(files_page(rest));
        }
        if let Some(n) = path.strip_prefix("/redirect/") {
            return match n.parse::<u32>() {
                Ok(0) => Routed::html(
                    "<!DOCTYPE html>\n<title>Redirect target</title>\n<h1>End of the redirect chain</h1>\n",
                ),
                Ok(n) => Routed::redirect(format!("/redirect/{}", n - 1)),
                Err(_) => Routed::not_found(),
            };
        }
        if path == "/loop" {
            return Routed::redirect("/loop".to_owned());
        }
        if let Some(routed) = robots::route(path)
            .or_else(|| traps::route(self.config.seed, path, query))
            .or_else(|| {
                sitemaps::is_sitemap_path(path)
                    .then(|| self.sitemaps(host).route(path))
                    .flatten()
            })
        {
            return routed;
        }
        match &self.content {
            Content::Countries(c) => self.route_countries(c, path).await,
            Content::Web(w) => {
                if path == "/" && host == 0 {
                    return Routed::redirect("/p/0".to_owned());
                }
                match w.page_at(host, path) {
                    Some(id) => Routed::html(w.page(id)),
                    None => Routed::not_found(),
                }
            }
            Content::Real(r) => {
                if path == "/" {
                    return Routed::redirect(real::INDEX_PATH.to_owned());
                }
                r.route(path).unwrap_or_else(Routed::not_found)
            }
        }
    }

    async fn route_countries(&self, c: &Arc<Countries>, path: &str) -> Routed {
        if path == "/" {
            return Routed::html(format!(
                "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"UTF-8\"><title>dragnet test site</title></head>\n<body>\n<h1>dragnet test site</h1>\n<ul>\n<li><a href=\"{LIST_PATH}\">List of countries and dependencies by population</a></li>\n<li><a href=\"/wiki/Main_Page\">Main page</a></li>\n</ul>\n</body>\n</html>\n"
            ));
        }
        if path == "/w/index.php" {
            return Routed::html(Countries::stub("Index"));
        }
        let Some(raw) = path.strip_prefix("/wiki/").filter(|t| !t.is_empty()) else {
            return Routed::not_found();
        };
        let title = decode_path(raw);
        match c.lookup(&title) {
            WikiPage::List => Routed::html(c.list()),
            WikiPage::Stub => Routed::html(Countries::stub(&title)),
            WikiPage::Country(i) => {
                if let Some(body) = c.cached(i) {
                    return Routed::html(body);
                }
                let corpus = Arc::clone(c);
                match tokio::task::spawn_blocking(move || corpus.country(i)).await {
                    Ok(body) => Routed::html(body),
                    Err(e) => {
                        tracing::error!(error = %e, "country page generation failed");
                        Routed::text(StatusCode::INTERNAL_SERVER_ERROR, "generation failed\n")
                    }
                }
            }
        }
    }

    async fn manifest_response(self: &Arc<Self>) -> Response<SiteBody> {
        match &self.content {
            Content::Web(w) => {
                let (tx, rx) = mpsc::channel(16);
                let web = Arc::clone(w);
                tokio::task::spawn_blocking(move || manifest::stream_web_manifest(&web, &tx));
                respond(Routed::ok(JSON, ""), SiteBody::channel(rx))
            }
            Content::Countries(_) | Content::Real(_) => {
                let state = Arc::clone(self);
                match tokio::task::spawn_blocking(move || state.manifest()).await {
                    Ok(m) => json_response(&m),
                    Err(e) => {
                        tracing::error!(error = %e, "manifest failed");
                        Routed::text(StatusCode::INTERNAL_SERVER_ERROR, "manifest failed\n")
                            .into_response()
                    }
                }
            }
        }
    }
}

/// The page served for `/files/{rest}`: it names the path it was asked for.
fn files_page(rest: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>File {raw}</title></head>\n<body>\n<h1>File</h1>\n<p>Requested path: <code>/files/{raw}</code></p>\n<p>Decoded: <code>{decoded}</code></p>\n</body>\n</html>\n",
        raw = escape(rest),
        decoded = escape(&decode_path(rest)),
    )
}

/// Accepts connections for host `host` until the task is aborted; aborting it also ends every
/// connection it accepted.
pub(crate) async fn accept_loop(listener: TcpListener, host: usize, state: Arc<SiteState>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    conns.spawn(async move {
                        let svc = service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(state.handle(host, req).await) }
                        });
                        let conn = http1::Builder::new()
                            .timer(TokioTimer::new())
                            .serve_connection(TokioIo::new(stream), svc);
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}
