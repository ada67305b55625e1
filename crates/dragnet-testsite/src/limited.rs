//! Serving a host's rate-limit [`Behaviour`]: each arriving request goes through the host's
//! [`Limiter`] (time since the site started, requests in flight on the host); a refusal is
//! answered with the behaviour's status, at once or after the usual latency, with
//! `Retry-After` in the drawn form; every response of the host carries a `Date` and, when the
//! behaviour announces its limit, the IETF `RateLimit` / `RateLimit-Policy` fields or the
//! `X-RateLimit-*` ones.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Response, StatusCode};

use crate::body::{Guards, SiteBody};
use crate::config::SiteConfig;
use crate::limits::{Announce, Behaviour, Limiter, RefusalTiming, RetryAfterForm, Verdict};
use crate::response::{Routed, respond};
use crate::rng;
use crate::server::SiteState;
use crate::stats::{InFlight, Open, Stats};

/// The limiters of the hosts that have a behaviour.
#[derive(Debug)]
pub(crate) struct HostLimits {
    /// Per host; `None` where the host has no behaviour.
    hosts: Vec<Option<Mutex<Limiter>>>,
    /// Refusals answered after a latency so far: the attempt number of their latency draw.
    delayed_refusals: AtomicU64,
}

/// What a host's limiter decided for one arriving request.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Served: counted in flight from now on.
    Admitted(InFlight, Verdict, Box<Behaviour>),
    /// Refused.
    Refused(Verdict, Box<Behaviour>),
}

impl HostLimits {
    pub(crate) fn new(config: &SiteConfig, hosts: usize) -> HostLimits {
        HostLimits {
            hosts: (0..hosts)
                .map(|h| {
                    config
                        .behaviour(h)
                        .cloned()
                        .map(Limiter::new)
                        .map(Mutex::new)
                })
                .collect(),
            delayed_refusals: AtomicU64::new(0),
        }
    }

    /// Runs a request arriving on `host` at `now` (since the site started) through the
    /// host's limiter; `None` when the host has no behaviour.
    pub(crate) fn admit(
        &self,
        host: usize,
        now: Duration,
        stats: &Arc<Stats>,
    ) -> Option<Admission> {
        let limiter = self.hosts.get(host)?.as_ref()?;
        // Poisoning would only follow a panic inside the pure limiter: its state is still
        // usable.
        let mut limiter = limiter.lock().unwrap_or_else(|e| e.into_inner());
        // Counting the admitted request in flight under the limiter's lock keeps every
        // decision consistent with the count the next one sees.
        let verdict = limiter.admit(now.as_secs_f64() * 1000.0, stats.in_flight(host));
        let behaviour = Box::new(limiter.behaviour().clone());
        Some(if verdict.admitted {
            Admission::Admitted(stats.enter(host), verdict, behaviour)
        } else {
            Admission::Refused(verdict, behaviour)
        })
    }

    /// Fresh limiters (full buckets, empty windows), as on a new site.
    pub(crate) fn reset(&self) {
        for limiter in self.hosts.iter().flatten() {
            let mut limiter = limiter.lock().unwrap_or_else(|e| e.into_inner());
            *limiter = Limiter::new(limiter.behaviour().clone());
        }
        self.delayed_refusals.store(0, Relaxed);
    }
}

impl SiteState {
    /// Answers a request on a host with a behaviour, as its limiter decided.
    pub(crate) async fn serve_limited(
        self: &Arc<Self>,
        host: usize,
        path: &str,
        query: Option<&str>,
        admission: Admission,
        open: Open,
    ) -> Response<SiteBody> {
        let (mut resp, verdict, behaviour) = match admission {
            Admission::Admitted(in_flight, verdict, behaviour) => {
                let latency = behaviour.latency();
                let resp = self
                    .serve_admitted(host, path, query, in_flight, open, &latency)
                    .await;
                (resp, verdict, behaviour)
            }
            Admission::Refused(verdict, behaviour) => {
                let resp = self.refuse(host, path, &behaviour, open).await;
                (resp, verdict, behaviour)
            }
        };
        let now = SystemTime::now();
        let headers = resp.headers_mut();
        headers.insert(header::DATE, http_date(now));
        if let (false, Some(wait)) = (verdict.admitted, verdict.retry_after) {
            match behaviour.retry_after {
                RetryAfterForm::Absent => {}
                RetryAfterForm::Seconds => {
                    headers.insert(
                        header::RETRY_AFTER,
                        HeaderValue::from(whole_secs(wait).max(1)),
                    );
                }
                RetryAfterForm::HttpDate => {
                    headers.insert(header::RETRY_AFTER, http_date_rounded_up(now + wait));
                }
            }
        }
        announce(headers, behaviour.announce, &verdict);
        resp
    }

    /// A refusal: the behaviour's status and a short body, after the drawn latency when the
    /// behaviour says so.
    async fn refuse(
        self: &Arc<Self>,
        host: usize,
        path: &str,
        behaviour: &Behaviour,
        open: Open,
    ) -> Response<SiteBody> {
        if behaviour.timing == RefusalTiming::AfterLatency {
            let n = self.limits.delayed_refusals.fetch_add(1, Relaxed);
            let seed = self.faults.seed();
            let attempt = u32::try_from(n % u64::from(u32::MAX)).unwrap_or(0);
            let delay =
                behaviour
                    .latency()
                    .delay(seed, rng::hash_str(seed ^ 0x7ef0, path), attempt);
            tokio::time::sleep(delay).await;
        }
        let status =
            StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
        self.stats.refused(host, status.as_u16());
        self.stats.refusal_answered(host);
        let text = format!(
            "{} {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("Refused")
        );
        let routed = Routed::text(status, text);
        let body = SiteBody::full(routed.body.clone()).with_guards(Guards {
            open: Some(open),
            ..Guards::default()
        });
        respond(routed, body)
    }
}

/// `d` in whole seconds, rounded up.
fn whole_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// An IMF-fixdate, e.g. `Fri, 04 Dec 2026 20:31:37 GMT` (truncated to the second).
fn http_date(t: SystemTime) -> HeaderValue {
    // An IMF-fixdate is plain ASCII, always a valid header value.
    HeaderValue::from_str(&httpdate::fmt_http_date(t)).expect("an HTTP date is ASCII")
}

/// `t` rounded up to the next whole second, as an HTTP date: a client that waits until then
/// never comes back early.
fn http_date_rounded_up(t: SystemTime) -> HeaderValue {
    let since_epoch = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    http_date(UNIX_EPOCH + Duration::from_secs(whole_secs(since_epoch)))
}

/// The limit as the behaviour announces it, when the verdict carries one.
fn announce(headers: &mut HeaderMap, how: Announce, verdict: &Verdict) {
    let Some((quota, window)) = verdict.quota else {
        return;
    };
    let remaining = verdict.remaining.unwrap_or(0);
    let reset = verdict.reset.map(whole_secs);
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    match how {
        Announce::None => {}
        Announce::Ietf => {
            let policy = match window {
                Some(w) => format!("\"default\";q={quota};w={}", whole_secs(w).max(1)),
                None => format!("\"default\";q={quota};qu=\"concurrent-requests\""),
            };
            put("ratelimit-policy", policy);
            let mut current = format!("\"default\";r={remaining}");
            if let Some(t) = reset {
                current.push_str(&format!(";t={t}"));
            }
            put("ratelimit", current);
        }
        Announce::XRateLimit => {
            put("x-ratelimit-limit", quota.to_string());
            put("x-ratelimit-remaining", remaining.to_string());
            if let Some(t) = reset {
                put("x-ratelimit-reset", t.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(whole_secs(Duration::from_millis(1)), 1);
        assert_eq!(whole_secs(Duration::from_millis(1000)), 1);
        assert_eq!(whole_secs(Duration::from_millis(1001)), 2);
        assert_eq!(whole_secs(Duration::ZERO), 0);
    }

    #[test]
    fn dates_round_up_to_the_next_second() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_416_297_250);
        assert_eq!(
            http_date_rounded_up(t),
            HeaderValue::from_static("Fri, 04 Dec 2026 20:31:38 GMT")
        );
        assert_eq!(
            http_date(t),
            HeaderValue::from_static("Fri, 04 Dec 2026 20:31:37 GMT")
        );
    }

    #[test]
    fn announced_fields() {
        let mut h = HeaderMap::new();
        let verdict = Verdict {
            admitted: true,
            retry_after: None,
            quota: Some((30, Some(Duration::from_secs(2)))),
            remaining: Some(7),
            reset: Some(Duration::from_millis(1200)),
        };
        announce(&mut h, Announce::Ietf, &verdict);
        assert_eq!(h["ratelimit-policy"], "\"default\";q=30;w=2");
        assert_eq!(h["ratelimit"], "\"default\";r=7;t=2");
        let mut h = HeaderMap::new();
        announce(&mut h, Announce::XRateLimit, &verdict);
        assert_eq!(h["x-ratelimit-limit"], "30");
        assert_eq!(h["x-ratelimit-remaining"], "7");
        assert_eq!(h["x-ratelimit-reset"], "2");
        let cap = Verdict {
            quota: Some((5, None)),
            remaining: Some(4),
            reset: None,
            ..verdict
        };
        let mut h = HeaderMap::new();
        announce(&mut h, Announce::Ietf, &cap);
        assert_eq!(
            h["ratelimit-policy"],
            "\"default\";q=5;qu=\"concurrent-requests\""
        );
        assert_eq!(h["ratelimit"], "\"default\";r=4");
        let mut h = HeaderMap::new();
        announce(&mut h, Announce::None, &cap);
        assert!(h.is_empty());
    }
}
