//! The HTTP side: one accept loop per host, and the request pipeline
//! (stats → 429 cap → attempt plan → capacity queue → latency → fault → routed body).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::body::{Guards, SiteBody};
use crate::config::SiteConfig;
use crate::countries::{Countries, LIST_PATH, WikiPage};
use crate::faults::{Fault, Faults};
use crate::manifest::{self, Manifest, ManifestPage};
use crate::stats::Stats;
use crate::text::{decode_path, escape};
use crate::web::Web;

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// What the site serves.
#[derive(Debug)]
pub(crate) enum Content {
    Countries(Arc<Countries>),
    Web(Arc<Web>),
}

/// Everything a request handler needs, shared by all hosts and connections.
#[derive(Debug)]
pub(crate) struct SiteState {
    pub(crate) config: SiteConfig,
    pub(crate) stats: Arc<Stats>,
    pub(crate) faults: Faults,
    pub(crate) content: Content,
    /// `http://127.0.0.1:PORT` per host.
    pub(crate) origins: Vec<String>,
}

/// A routed response before faults are applied.
struct Routed {
    status: StatusCode,
    content_type: &'static str,
    location: Option<String>,
    body: Bytes,
}

impl Routed {
    fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Routed {
        Routed {
            status: StatusCode::OK,
            content_type,
            location: None,
            body: body.into(),
        }
    }

    fn html(body: impl Into<Bytes>) -> Routed {
        Routed::ok(HTML, body)
    }

    fn not_found() -> Routed {
        Routed {
            status: StatusCode::NOT_FOUND,
            ..Routed::ok(
                HTML,
                "<!DOCTYPE html>\n<title>Not found</title>\n<h1>404 Not found</h1>\n",
            )
        }
    }

    fn redirect(to: String) -> Routed {
        let body = format!(
            "<!DOCTYPE html>\n<title>Found</title>\n<p>Moved to <a href=\"{0}\">{0}</a>.</p>\n",
            escape(&to)
        );
        Routed {
            status: StatusCode::FOUND,
            location: Some(to),
            ..Routed::html(body)
        }
    }
}

impl SiteState {
    /// The manifest (may take a while for large web profiles: call off the async threads).
    pub(crate) fn manifest(&self) -> Manifest {
        let pages = match &self.content {
            Content::Countries(c) => c
                .manifest_entries()
                .into_iter()
                .map(|(path, sha256, bytes, kind)| ManifestPage {
                    url: format!("{}{path}", self.origins[0]),
                    sha256,
                    bytes,
                    kind: kind.to_owned(),
                })
                .collect(),
            Content::Web(w) => (0..w.pages())
                .map(|id| manifest::web_page_entry(w, id))
                .collect(),
        };
        Manifest { pages }
    }

    async fn handle(
        self: &Arc<Self>,
        host: usize,
        req: Request<hyper::body::Incoming>,
    ) -> Response<SiteBody> {
        let path = req.uri().path();
        match path {
            "/__stats.json" => return json_response(&self.stats.snapshot()),
            "/__manifest.json" => return self.manifest_response().await,
            "/robots.txt" => {
                return match &self.config.robots_txt {
                    Some(robots) => respond(
                        Routed::ok(TEXT, robots.clone()),
                        SiteBody::full(robots.clone()),
                    ),
                    None => respond(
                        Routed::not_found(),
                        SiteBody::full(Routed::not_found().body),
                    ),
                };
            }
            _ if path.starts_with("/__") => {
                return respond(
                    Routed::not_found(),
                    SiteBody::full(Routed::not_found().body),
                );
            }
            _ => {}
        }
        self.stats.arrived(host, path);
        let Some(mut in_flight) = self.stats.admit(host, self.config.cap_429) else {
            let mut resp = respond(
                Routed::ok(TEXT, ""),
                SiteBody::full("429 Too Many Requests\n"),
            );
            *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.config.retry_after_secs),
            );
            return resp;
        };
        let plan = self.faults.plan(path);
        let permit = self.faults.acquire(host).await;
        in_flight.activate();
        if !plan.delay.is_zero() {
            tokio::time::sleep(plan.delay).await;
        }
        let guards = Guards {
            in_flight: Some(in_flight),
            permit,
        };
        if plan.fault == Fault::Error {
            self.stats.sent_500();
            let mut resp = respond(
                Routed::ok(TEXT, ""),
                SiteBody::full("500 Internal Server Error (injected)\n").with_guards(guards),
            );
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return resp;
        }
        let drop_mid_body = plan.fault == Fault::Drop;
        if drop_mid_body {
            self.stats.dropped();
        }
        let routed = self.route(host, path).await;
        let body = SiteBody::paced(
            routed.body.clone(),
            self.config.bandwidth_bytes_per_sec,
            drop_mid_body,
        );
        respond(routed, body.with_guards(guards))
    }

    async fn route(self: &Arc<Self>, host: usize, path: &str) -> Routed {
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
                        Routed {
                            status: StatusCode::INTERNAL_SERVER_ERROR,
                            ..Routed::ok(TEXT, "generation failed\n")
                        }
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
            Content::Countries(_) => {
                let state = Arc::clone(self);
                match tokio::task::spawn_blocking(move || state.manifest()).await {
                    Ok(m) => json_response(&m),
                    Err(e) => {
                        tracing::error!(error = %e, "manifest failed");
                        let mut resp =
                            respond(Routed::ok(TEXT, ""), SiteBody::full("manifest failed\n"));
                        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                        resp
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

fn respond(routed: Routed, body: SiteBody) -> Response<SiteBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = routed.status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(routed.content_type),
    );
    if let Some(location) = routed.location
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        headers.insert(header::LOCATION, v);
    }
    resp
}

fn json_response<T: serde::Serialize>(value: &T) -> Response<SiteBody> {
    match serde_json::to_vec(value) {
        Ok(json) => respond(Routed::ok(JSON, ""), SiteBody::full(json)),
        Err(e) => {
            tracing::error!(error = %e, "serialising JSON failed");
            let mut resp = respond(
                Routed::ok(TEXT, ""),
                SiteBody::full("serialisation failed\n"),
            );
            *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            resp
        }
    }
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
