//! A routed response before faults are applied, and turning it into a hyper response.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::SiteBody;
use crate::text::escape;

pub(crate) const HTML: &str = "text/html; charset=utf-8";
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
pub(crate) const JSON: &str = "application/json";
pub(crate) const XML: &str = "application/xml";
pub(crate) const GZIP: &str = "application/gzip";

/// A routed response before faults are applied.
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Cow<'static, str>,
    pub(crate) location: Option<String>,
    pub(crate) body: Bytes,
}

impl Routed {
    /// A 200 with this content type and body.
    pub(crate) fn ok(content_type: impl Into<Cow<'static, str>>, body: impl Into<Bytes>) -> Routed {
        Routed {
            status: StatusCode::OK,
            content_type: content_type.into(),
            location: None,
            body: body.into(),
        }
    }

    /// A 200 HTML page (UTF-8).
    pub(crate) fn html(body: impl Into<Bytes>) -> Routed {
        Routed::ok(HTML, body)
    }

    /// A small HTML 404 page.
    pub(crate) fn not_found() -> Routed {
        Routed {
            status: StatusCode::NOT_FOUND,
            ..Routed::ok(
                HTML,
                "<!DOCTYPE html>\n<title>Not found</title>\n<h1>404 Not found</h1>\n",
            )
        }
    }

    /// A 302 to `to` (sent as is in `Location`), with a small HTML body.
    pub(crate) fn redirect(to: String) -> Routed {
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

    /// A plain-text response with any status.
    pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Routed {
        Routed {
            status,
            ..Routed::ok(TEXT, body)
        }
    }

    /// This response with its own body sent whole.
    pub(crate) fn into_response(self) -> Response<SiteBody> {
        let body = SiteBody::full(self.body.clone());
        respond(self, body)
    }
}

/// The status and headers of `routed` around `body` (which may differ from `routed.body`, e.g.
/// throttled or cut off).
pub(crate) fn respond(routed: Routed, body: SiteBody) -> Response<SiteBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = routed.status;
    let headers = resp.headers_mut();
    let content_type = HeaderValue::from_str(&routed.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, content_type);
    if let Some(location) = routed.location
        && let Ok(v) = HeaderValue::from_str(&location)
    {
        headers.insert(header::LOCATION, v);
    }
    resp
}

/// `value` as a JSON response (a 500 if it cannot be serialised).
pub(crate) fn json_response<T: serde::Serialize>(value: &T) -> Response<SiteBody> {
    match serde_json::to_vec(value) {
        Ok(json) => respond(Routed::ok(JSON, ""), SiteBody::full(json)),
        Err(e) => {
            tracing::error!(error = %e, "serialising JSON failed");
            Routed::text(StatusCode::INTERNAL_SERVER_ERROR, "serialisation failed\n")
                .into_response()
        }
    }
}
