//! Rate limits as a family, not a list: how a site refuses (a concurrency cap, a token
//! bucket, a fixed window), how it says so (429 or 503, at once or after the usual latency,
//! `Retry-After` absent, in seconds or as a date, limits announced in headers or not), how
//! fast it is (latency with jitter and a heavy tail, a capacity queue) and whether its
//! limit changes mid-crawl. [`Behaviour::draw`] picks one member from a seed; the test site
//! serves it and the controller's simulator (in the `dragnet` crate) runs the same
//! [`Limiter`], so both judge the controller on the same family.
//!
//! [`Limiter`] is pure: time is given, never read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::Latency;
use crate::rng::Rng;

/// What refuses requests beyond the site's limit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Limit {
    /// A request that arrives while `max` are in flight (queued ones included) is refused.
    Cap {
        /// Requests allowed in flight at once.
        max: usize,
    },
    /// A token bucket: `per_sec` tokens a second, at most `burst` saved up; a request takes
    /// one token or is refused.
    Bucket {
        /// Sustained requests per second.
        per_sec: f64,
        /// Requests allowed at once after a quiet spell (at least 1).
        burst: u32,
    },
    /// A fixed window: at most `quota` requests per `window_ms`, windows counted from the
    /// site's start.
    Window {
        /// Requests allowed per window.
        quota: u32,
        /// The window's length.
        window_ms: u64,
    },
}

/// When a refusal is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalTiming {
    /// Before any latency: the refusal comes from a proxy or the socket layer.
    AtOnce,
    /// After the usual latency: the refusal comes from the application, as in many real
    /// servers.
    AfterLatency,
}

/// How a refusal says when to come back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterForm {
    /// No `Retry-After` header.
    Absent,
    /// `Retry-After: 2` (whole seconds, rounded up).
    Seconds,
    /// `Retry-After: Fri, 04 Dec 2026 20:31:37 GMT` (rounded up to the next second).
    HttpDate,
}

/// Whether and how the site announces its limit on every response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Announce {
    /// Nothing: the limit must be found by being refused.
    None,
    /// The IETF fields: `RateLimit-Policy: "default";q=Q;w=W` and
    /// `RateLimit: "default";r=R;t=T` (`qu="concurrent-requests"` for a cap).
    Ietf,
    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (delta seconds).
    XRateLimit,
}

/// A change of the limit during the crawl.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LimitChange {
    /// From this many milliseconds after the site started ...
    pub at_ms: u64,
    /// ... this limit holds (`None`: no limit).
    pub limit: Option<Limit>,
}

/// One member of the family of site behaviours: speed, limit, and how refusals look.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Behaviour {
    /// Typical time to answer, unloaded.
    pub latency_ms: u64,
    /// Half-width of the uniform jitter around it.
    pub jitter_ms: u64,
    /// Share of requests that take `tail_ms` instead.
    pub tail_share: f64,
    /// Latency of a tail request.
    pub tail_ms: u64,
    /// Requests worked on at once; the rest queue (latency grows with load).
    pub capacity: Option<usize>,
    /// What refuses requests, if anything.
    pub limit: Option<Limit>,
    /// The refusal's status: 429, or 503 as nginx's `limit_req` and Envoy send.
    pub status: u16,
    /// When a refusal is answered.
    pub timing: RefusalTiming,
    /// How the refusal says when to come back.
    pub retry_after: RetryAfterForm,
    /// `Retry-After` of a cap's refusal (a cap has no natural reset time), in seconds.
    pub cap_retry_after_secs: u64,
    /// When set, every refusal says this many seconds, whatever the limit's own wait (as
    /// servers that send a constant `Retry-After` do). Never drawn: set by hand for the
    /// benchmark's profiles.
    #[serde(default)]
    pub fixed_retry_after_secs: Option<u64>,
    /// Whether the limit is announced in headers.
    pub announce: Announce,
    /// A change of the limit mid-crawl.
    pub change: Option<LimitChange>,
}

impl Default for Behaviour {
    /// 100 ± 30 ms, no limit, no queue.
    fn default() -> Self {
        Behaviour {
            latency_ms: 100,
            jitter_ms: 30,
            tail_share: 0.0,
            tail_ms: 0,
            capacity: None,
            limit: None,
            status: 429,
            timing: RefusalTiming::AtOnce,
            retry_after: RetryAfterForm::Seconds,
            cap_retry_after_secs: 1,
            fixed_retry_after_secs: None,
            announce: Announce::None,
            change: None,
        }
    }
}

/// Log-uniform in `[lo, hi]`: as many small limits as large ones.
fn log_uniform(rng: &mut Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.unit() * (hi.ln() - lo.ln())).exp()
}

impl Behaviour {
    /// One member of the family, a pure function of `seed`.
    ///
    /// Latency 20-500 ms (log-uniform) with up to ±40 % jitter and, one time in four, a
    /// heavy tail (1-5 % of requests 3-10× slower); a capacity queue one time in five. The
    /// limit is a concurrency cap of 4-64, a token bucket or a fixed window whose rate
    /// allows 2-48 requests in flight at the unloaded latency (Little's law), or none (one
    /// time in eight). Refusals are 503 one time in five, answered after the latency half
    /// of the time; `Retry-After` is absent one time in five, a date three times in ten;
    /// one site in three announces its limit; one in five changes it (halved or doubled)
    /// 3-15 s in.
    pub fn draw(seed: u64) -> Behaviour {
        let mut rng = Rng::new(seed ^ 0x6c69_6d69_7473);
        let latency_ms = log_uniform(&mut rng, 20.0, 500.0).round() as u64;
        let jitter_ms = (latency_ms as f64 * rng.unit() * 0.4).round() as u64;
        let (tail_share, tail_ms) = if rng.chance(0.25) {
            let share = 0.01 + rng.unit() * 0.04;
            let ms = latency_ms as f64 * (3.0 + rng.unit() * 7.0);
            (share, ms.round() as u64)
        } else {
            (0.0, 0)
        };
        let capacity = rng
            .chance(0.2)
            .then(|| log_uniform(&mut rng, 4.0, 64.0).round() as usize);
        let limit = Self::draw_limit(&mut rng, latency_ms);
        let status = if rng.chance(0.2) { 503 } else { 429 };
        let timing = if rng.chance(0.5) {
            RefusalTiming::AfterLatency
        } else {
            RefusalTiming::AtOnce
        };
        let retry_after = match rng.unit() {
            u if u < 0.2 => RetryAfterForm::Absent,
            u if u < 0.5 => RetryAfterForm::HttpDate,
            _ => RetryAfterForm::Seconds,
        };
        let announce = match rng.unit() {
            _ if limit.is_none() => Announce::None,
            u if u < 0.17 => Announce::Ietf,
            u if u < 0.33 => Announce::XRateLimit,
            _ => Announce::None,
        };
        let change = match limit {
            Some(limit) if rng.chance(0.2) => Some(LimitChange {
                at_ms: rng.range(3_000, 15_000),
                limit: Some(limit.scaled(if rng.chance(0.5) { 0.5 } else { 2.0 })),
            }),
            _ => None,
        };
        Behaviour {
            latency_ms,
            jitter_ms,
            tail_share,
            tail_ms,
            capacity,
            limit,
            status,
            timing,
            retry_after,
            cap_retry_after_secs: 1,
            fixed_retry_after_secs: None,
            announce,
            change,
        }
    }

    fn draw_limit(rng: &mut Rng, latency_ms: u64) -> Option<Limit> {
        let kind = rng.unit();
        if kind < 0.125 {
            return None;
        }
        if kind < 0.5 {
            let max = log_uniform(rng, 4.0, 64.0).round() as usize;
            return Some(Limit::Cap { max });
        }
        // A rate that allows this many requests in flight at the unloaded latency.
        let in_flight = log_uniform(rng, 2.0, 48.0);
        let per_sec = in_flight * 1000.0 / latency_ms as f64;
        if kind < 0.8 {
            let burst = (per_sec * (0.1 + rng.unit() * 0.9)).round().max(1.0) as u32;
            return Some(Limit::Bucket {
                per_sec: (per_sec * 10.0).round() / 10.0,
                burst,
            });
        }
        let window_ms = rng.range(1, 5) * 1000;
        let quota = (per_sec * window_ms as f64 / 1000.0).round().max(1.0) as u32;
        Some(Limit::Window { quota, window_ms })
    }

    /// The limit in force `at_ms` after the start.
    pub fn limit_at(&self, at_ms: f64) -> Option<Limit> {
        match self.change {
            Some(change) if at_ms >= change.at_ms as f64 => change.limit,
            _ => self.limit,
        }
    }

    /// The most pages per second any client can get at `at_ms`, ignoring latency: the
    /// limit's rate, or the cap or capacity over the unloaded latency.
    pub fn best_rate(&self, at_ms: f64) -> f64 {
        let latency_s = self.mean_latency_ms() / 1000.0;
        let mut rate = f64::INFINITY;
        if let Some(k) = self.capacity {
            rate = rate.min(k as f64 / latency_s);
        }
        match self.limit_at(at_ms) {
            Some(Limit::Cap { max }) => rate = rate.min(max as f64 / latency_s),
            Some(Limit::Bucket { per_sec, .. }) => rate = rate.min(per_sec),
            Some(Limit::Window { quota, window_ms }) => {
                rate = rate.min(f64::from(quota) * 1000.0 / window_ms as f64);
            }
            None => {}
        }
        rate
    }

    /// The latency as the test site draws it per request.
    pub fn latency(&self) -> Latency {
        Latency::new(self.latency_ms, self.jitter_ms).with_tail(self.tail_share, self.tail_ms)
    }

    /// The mean unloaded latency, tail included.
    pub fn mean_latency_ms(&self) -> f64 {
        (1.0 - self.tail_share) * self.latency_ms as f64 + self.tail_share * self.tail_ms as f64
    }
}

impl Limit {
    /// The same kind of limit, `factor` times as generous.
    pub fn scaled(self, factor: f64) -> Limit {
        let scale = |n: f64| (n * factor).round().max(1.0);
        match self {
            Limit::Cap { max } => Limit::Cap {
                max: scale(max as f64) as usize,
            },
            Limit::Bucket { per_sec, burst } => Limit::Bucket {
                per_sec: (per_sec * factor).max(0.1),
                burst: scale(f64::from(burst)) as u32,
            },
            Limit::Window { quota, window_ms } => Limit::Window {
                quota: scale(f64::from(quota)) as u32,
                window_ms,
            },
        }
    }
}

/// What the limiter says about one arriving request, and what the response announces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Verdict {
    /// Served (`true`) or refused.
    pub admitted: bool,
    /// For a refusal: when the limit will let a request through again (the cap's
    /// configured seconds for a cap). `None` on a success.
    pub retry_after: Option<Duration>,
    /// What the site announces, when it does: its quota and window (for a cap, the cap
    /// and no window) ...
    pub quota: Option<(u32, Option<Duration>)>,
    /// ... the requests left in the current window (for a cap: free slots) ...
    pub remaining: Option<u32>,
    /// ... and when the window resets (or the bucket is full again).
    pub reset: Option<Duration>,
}

/// One host's limiter state. Pure: the caller says when a request arrives and how many are
/// in flight then.
#[derive(Clone, Debug)]
pub struct Limiter {
    behaviour: Behaviour,
    /// Tokens in the bucket, and when they were counted (ms).
    tokens: f64,
    tokens_at: f64,
    /// The window being counted (its index) and the requests admitted in it.
    window: u64,
    in_window: u32,
    /// The limit last applied: a change resets the bucket and the window count.
    current: Option<Limit>,
}

impl Limiter {
    /// A limiter for `behaviour`, with a full bucket.
    pub fn new(behaviour: Behaviour) -> Self {
        let current = behaviour.limit;
        let tokens = match current {
            Some(Limit::Bucket { burst, .. }) => f64::from(burst.max(1)),
            _ => 0.0,
        };
        Limiter {
            behaviour,
            tokens,
            tokens_at: 0.0,
            window: 0,
            in_window: 0,
            current,
        }
    }

    /// The behaviour this limiter enforces.
    pub fn behaviour(&self) -> &Behaviour {
        &self.behaviour
    }

    /// A request arrives `now_ms` after the start while `in_flight` others are in flight
    /// (queued ones included): admitted or refused, and what the response announces.
    pub fn admit(&mut self, now_ms: f64, in_flight: usize) -> Verdict {
        let limit = self.behaviour.limit_at(now_ms);
        if limit != self.current {
            self.current = limit;
            self.in_window = 0;
            if let Some(Limit::Bucket { burst, .. }) = limit {
                self.tokens = f64::from(burst.max(1));
                self.tokens_at = now_ms;
            }
        }
        let announce = self.behaviour.announce != Announce::None;
        let cap_wait = Duration::from_secs(self.behaviour.cap_retry_after_secs);
        let mut verdict = Verdict {
            admitted: true,
            retry_after: None,
            quota: None,
            remaining: None,
            reset: None,
        };
        match limit {
            None => {}
            Some(Limit::Cap { max }) => {
                verdict.admitted = in_flight < max;
                if !verdict.admitted {
                    verdict.retry_after = Some(cap_wait);
                }
                if announce {
                    verdict.quota = Some((max as u32, None));
                    let used = (in_flight + usize::from(verdict.admitted)).min(max);
                    verdict.remaining = Some((max - used) as u32);
                }
            }
            Some(Limit::Bucket { per_sec, burst }) => {
                let burst = f64::from(burst.max(1));
                let per_ms = per_sec.max(1e-3) / 1000.0;
                self.tokens =
                    (self.tokens + (now_ms - self.tokens_at).max(0.0) * per_ms).min(burst);
                self.tokens_at = now_ms;
                verdict.admitted = self.tokens >= 1.0;
                if verdict.admitted {
                    self.tokens -= 1.0;
                } else {
                    let wait_ms = (1.0 - self.tokens) / per_ms;
                    verdict.retry_after = Some(Duration::from_secs_f64(wait_ms / 1000.0));
                }
                if announce {
                    // Announced as a window of whole seconds (the IETF `w` is an integer)
                    // that a full bucket refills in, with the quota the rate allows in it:
                    // announcing `burst` per refill time instead would understate a fast
                    // bucket with a small burst (10 per 1/6 s announced as 10 per second).
                    let window_s = (burst / per_sec.max(1e-3)).ceil().max(1.0);
                    let quota = (per_sec * window_s).round().max(1.0) as u32;
                    verdict.quota = Some((quota, Some(Duration::from_secs_f64(window_s))));
                    verdict.remaining = Some(self.tokens.floor().max(0.0) as u32);
                    let full_ms = (burst - self.tokens).max(0.0) / per_ms;
                    verdict.reset = Some(Duration::from_secs_f64(full_ms / 1000.0));
                }
            }
            Some(Limit::Window { quota, window_ms }) => {
                let window_ms = window_ms.max(1);
                let index = (now_ms.max(0.0) as u64) / window_ms;
                if index != self.window {
                    self.window = index;
                    self.in_window = 0;
                }
                verdict.admitted = self.in_window < quota;
                if verdict.admitted {
                    self.in_window += 1;
                }
                let reset_ms = ((index + 1) * window_ms) as f64 - now_ms;
                let reset = Duration::from_secs_f64(reset_ms.max(0.0) / 1000.0);
                if !verdict.admitted {
                    verdict.retry_after = Some(reset);
                }
                if announce {
                    verdict.quota = Some((quota, Some(Duration::from_millis(window_ms))));
                    verdict.remaining = Some(quota - self.in_window);
                    verdict.reset = Some(reset);
                }
            }
        }
        if let (false, Some(secs)) = (verdict.admitted, self.behaviour.fixed_retry_after_secs) {
            verdict.retry_after = Some(Duration::from_secs(secs));
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_deterministic_and_cover_the_family() {
        let draws: Vec<Behaviour> = (0..400).map(Behaviour::draw).collect();
        assert_eq!(draws[7], Behaviour::draw(7));
        let count = |f: &dyn Fn(&Behaviour) -> bool| draws.iter().filter(|b| f(b)).count();
        assert!(count(&|b| matches!(b.limit, Some(Limit::Cap { .. }))) > 80);
        assert!(count(&|b| matches!(b.limit, Some(Limit::Bucket { .. }))) > 60);
        assert!(count(&|b| matches!(b.limit, Some(Limit::Window { .. }))) > 40);
        assert!(count(&|b| b.limit.is_none()) > 20);
        assert!(count(&|b| b.status == 503) > 40);
        assert!(count(&|b| b.timing == RefusalTiming::AfterLatency) > 120);
        assert!(count(&|b| b.retry_after == RetryAfterForm::Absent) > 40);
        assert!(count(&|b| b.retry_after == RetryAfterForm::HttpDate) > 80);
        assert!(count(&|b| b.announce != Announce::None) > 60);
        assert!(count(&|b| b.change.is_some()) > 40);
        assert!(count(&|b| b.capacity.is_some()) > 40);
        assert!(count(&|b| b.tail_share > 0.0) > 60);
        for b in &draws {
            assert!((20..=500).contains(&b.latency_ms), "{b:?}");
            if let Some(Limit::Cap { max }) = b.limit {
                assert!((4..=64).contains(&max), "{b:?}");
            }
        }
    }

    #[test]
    fn a_cap_refuses_exactly_beyond_it() {
        let mut limiter = Limiter::new(Behaviour {
            limit: Some(Limit::Cap { max: 3 }),
            announce: Announce::Ietf,
            ..Behaviour::default()
        });
        assert!(limiter.admit(0.0, 2).admitted);
        let refused = limiter.admit(0.0, 3);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(refused.quota, Some((3, None)));
    }

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let mut limiter = Limiter::new(Behaviour {
            limit: Some(Limit::Bucket {
                per_sec: 10.0,
                burst: 5,
            }),
            ..Behaviour::default()
        });
        let burst = (0..20).filter(|_| limiter.admit(0.0, 0).admitted).count();
        assert_eq!(burst, 5);
        let refused = limiter.admit(50.0, 0);
        assert!(!refused.admitted);
        // Half a token at 50 ms: the next one comes 50 ms later.
        let wait = refused.retry_after.unwrap().as_secs_f64();
        assert!((wait - 0.05).abs() < 1e-6, "{wait}");
        // One request every 100 ms from then on: 10 in the next second.
        let admitted = (1..=100)
            .filter(|i| limiter.admit(50.0 + f64::from(*i) * 10.0, 0).admitted)
            .count();
        assert_eq!(admitted, 10);
    }

    #[test]
    fn a_window_refuses_until_its_reset_whatever_the_concurrency() {
        let mut limiter = Limiter::new(Behaviour {
            limit: Some(Limit::Window {
                quota: 4,
                window_ms: 1000,
            }),
            announce: Announce::XRateLimit,
            ..Behaviour::default()
        });
        for _ in 0..4 {
            assert!(limiter.admit(100.0, 0).admitted);
        }
        let refused = limiter.admit(250.0, 0);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Some(Duration::from_millis(750)));
        assert_eq!(refused.remaining, Some(0));
        assert!(limiter.admit(1000.0, 0).admitted);
    }

    #[test]
    fn a_fixed_retry_after_overrides_the_limits_wait() {
        let mut limiter = Limiter::new(Behaviour {
            limit: Some(Limit::Bucket {
                per_sec: 60.0,
                burst: 1,
            }),
            fixed_retry_after_secs: Some(2),
            announce: Announce::Ietf,
            ..Behaviour::default()
        });
        let ok = limiter.admit(0.0, 0);
        assert!(ok.admitted);
        assert_eq!(ok.retry_after, None);
        // A bucket of 60/s with a burst of 1 announces 60 per whole second.
        assert_eq!(ok.quota, Some((60, Some(Duration::from_secs(1)))));
        let refused = limiter.admit(1.0, 0);
        assert!(!refused.admitted);
        assert_eq!(refused.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_change_replaces_the_limit() {
        let mut limiter = Limiter::new(Behaviour {
            limit: Some(Limit::Cap { max: 8 }),
            change: Some(LimitChange {
                at_ms: 1000,
                limit: Some(Limit::Cap { max: 2 }),
            }),
            ..Behaviour::default()
        });
        assert!(limiter.admit(999.0, 5).admitted);
        assert!(!limiter.admit(1000.0, 5).admitted);
    }
}
