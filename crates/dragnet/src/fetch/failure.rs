//! Why a URL failed: a value, not an error. Counted in the summary and written to the
//! pages log; the crawl goes on.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;
use url::Url;

/// The kind of failure, with a stable label for logs and summaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// The server answered with a status that is not success (after redirects).
    Status(u16),
    /// The request or body took longer than the time limit.
    Timeout,
    /// The connection could not be made (refused, DNS, reset).
    Connect,
    /// The TLS handshake failed: the server's certificate was refused (unknown issuer,
    /// wrong name, expired, or no roots on this machine) or the server refused ours. Not
    /// retried: a certificate does not change between attempts.
    Tls,
    /// The connection broke while the body was being read.
    BodyInterrupted,
    /// The body, after decompression, was larger than the limit.
    BodyTooLarge,
    /// The body claimed a content encoding and could not be decoded with it.
    Decode,
    /// More redirects than allowed, or a redirect loop.
    RedirectLimit,
    /// A redirect with a missing or unusable Location.
    BadRedirect,
    /// The address is private or loopback and the crawl does not allow those.
    PrivateAddress,
    /// The URL is not something this crawler can fetch (scheme, host).
    BadUrl,
    /// Retry-After asked for a longer wait than the crawl honours.
    RetryAfterTooLong,
    /// Skipped: robots.txt disallows it for our user agent.
    RobotsDisallowed,
    /// Skipped: the host's robots.txt could not be read (5xx, network), which means
    /// "disallow everything" until it can be (RFC 9309 §2.3.1.4).
    RobotsUnreachable,
    /// Skipped: a redirect led out of the crawl's scope.
    OutOfScope,
    /// Skipped: the URL matches a `--deny` pattern or no `--allow` pattern.
    DeniedByPattern,
    /// Skipped: the URL looks like a crawler trap (the label says which guard).
    Trap(&'static str),
    /// Skipped: the URL redirects to a page the crawl already has under its own URL (queued,
    /// fetched, or reached by another redirect), which is fetched once, there.
    RedirectToSeen,
    /// Anything else the HTTP client reported.
    Other,
}

impl FailureKind {
    /// The stable label (`http_404`, `timeout`, ...).
    pub fn label(&self) -> String {
        match self {
            Self::Status(code) => format!("http_{code}"),
            Self::Trap(label) => (*label).to_owned(),
            other => other.static_label().to_owned(),
        }
    }

    fn static_label(&self) -> &'static str {
        match self {
            Self::Status(_) => "http_status",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::BodyInterrupted => "body_interrupted",
            Self::BodyTooLarge => "body_too_large",
            Self::Decode => "decode",
            Self::RedirectLimit => "redirect_limit",
            Self::BadRedirect => "bad_redirect",
            Self::PrivateAddress => "private_address",
            Self::BadUrl => "bad_url",
            Self::RetryAfterTooLong => "retry_after_too_long",
            Self::RobotsDisallowed => "robots_disallowed",
            Self::RobotsUnreachable => "robots_unreachable",
            Self::OutOfScope => "out_of_scope",
            Self::DeniedByPattern => "denied_by_pattern",
            Self::Trap(label) => label,
            Self::RedirectToSeen => "redirect_to_seen",
            Self::Other => "other",
        }
    }

    /// Whether another attempt may succeed: network trouble, 5xx, 408 and 429.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status(code) => matches!(code, 408 | 429 | 500..=599),
            Self::Timeout | Self::Connect | Self::BodyInterrupted => true,
            _ => false,
        }
    }

    /// Whether the URL was skipped by the crawl's own rules rather than failed by the server.
    pub fn is_skip(&self) -> bool {
        matches!(
            self,
            Self::RobotsDisallowed
                | Self::RobotsUnreachable
                | Self::OutOfScope
                | Self::DeniedByPattern
                | Self::Trap(_)
                | Self::RedirectToSeen
        )
    }

    /// Whether the server asked us to slow down (the host should pause).
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::Status(429 | 503))
    }
}

/// One failed attempt at a URL.
#[derive(Clone, Debug)]
pub struct FetchFailure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// Human-readable detail.
    pub message: String,
    /// The URL the failure happened at (after redirects).
    pub final_url: Url,
    /// The server's Retry-After, if it sent one.
    pub retry_after: Option<Duration>,
    /// Time spent on this attempt.
    pub elapsed: Duration,
}

impl FetchFailure {
    pub(crate) fn new(kind: FailureKind, message: impl Into<String>, url: &Url) -> Self {
        Self {
            kind,
            message: message.into(),
            final_url: url.clone(),
            retry_after: None,
            elapsed: Duration::ZERO,
        }
    }

    pub(crate) fn from_reqwest(error: &reqwest::Error, url: &Url) -> Self {
        let kind = if error.is_timeout() {
            FailureKind::Timeout
        } else if error.is_connect() {
            FailureKind::Connect
        } else if error.is_body() || error.is_decode() {
            FailureKind::BodyInterrupted
        } else if error.is_builder() {
            FailureKind::BadUrl
        } else if error.is_request() {
            // Hyper reports a connection closed before the response as a request error;
            // it is worth another attempt like any connection trouble.
            FailureKind::BodyInterrupted
        } else {
            FailureKind::Other
        };
        let mut message = error.to_string();
        let mut tls = false;
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            tls |= is_rustls(cause);
            source = cause.source();
        }
        let kind = if message.contains(super::resolve::PRIVATE_ADDRESS_MESSAGE) {
            FailureKind::PrivateAddress
        } else if tls {
            FailureKind::Tls
        } else {
            kind
        };
        Self::new(kind, message, url)
    }
}

/// Whether `cause` is rustls's error (a refused certificate or a failed handshake), not
/// the network under it. The connector nests it in io::Errors, whose `source` skips the
/// error they wrap: look inside them.
fn is_rustls(mut cause: &(dyn std::error::Error + 'static)) -> bool {
    loop {
        if cause.is::<rustls::Error>() {
            return true;
        }
        match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => cause = inner,
            None => return false,
        }
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

/// Awaits one step of an exchange (the answer, or the next piece of its body) until
/// `deadline`. Past it, a timeout failure saying what was `late`; a transport error becomes
/// the failure reqwest's error maps to.
pub(crate) async fn by_deadline<T>(
    deadline: Instant,
    step: impl Future<Output = reqwest::Result<T>>,
    late: &'static str,
    url: &Url,
) -> Result<T, FetchFailure> {
    match tokio::time::timeout_at(deadline, step).await {
        Err(_) => Err(FetchFailure::new(FailureKind::Timeout, late, url)),
        Ok(result) => result.map_err(|error| FetchFailure::from_reqwest(&error, url)),
    }
}
