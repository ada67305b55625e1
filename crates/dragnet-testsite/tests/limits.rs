//! Rate-limit behaviours served over HTTP: a cap, a token bucket and a fixed window refuse
//! what they should, refusals after the latency take it, `Retry-After` forms parse, the
//! announced fields carry the limiter's numbers, 503 instead of 429, a limit that changes
//! mid-run, and fifty drawn behaviours served at once with consistent stats.

use std::time::{Duration, Instant, SystemTime};

use dragnet_testsite::limits::{
    Announce, Behaviour, Limit, LimitChange, Limiter, RefusalTiming, RetryAfterForm,
};
use dragnet_testsite::{Profile, RequestLogEntry, SiteConfig, SiteStats, TestSite};
use reqwest::header::HeaderMap;

mod common;
use common::client;

/// A web of small pages over `hosts` hosts, host `i` serving `behaviours[i % len]`.
async fn site(hosts: usize, behaviours: Vec<Behaviour>) -> TestSite {
    TestSite::start(SiteConfig {
        profile: Profile::Web {
            pages: 400,
            hosts,
            links_per_page: 3,
            mean_page_bytes: 500,
        },
        behaviours,
        ..SiteConfig::default()
    })
    .await
    .expect("start")
}

/// A behaviour with no latency unless set, answering refusals at once.
fn behaviour(limit: Limit) -> Behaviour {
    Behaviour {
        latency_ms: 0,
        jitter_ms: 0,
        limit: Some(limit),
        ..Behaviour::default()
    }
}

/// GET page `id` of a one-host site: status and headers (the body is read to the end).
async fn page(client: &reqwest::Client, site: &TestSite, id: u64) -> (u16, HeaderMap) {
    let url = site.base_url().join(&format!("/p/{id}")).expect("url");
    let resp = client.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    resp.bytes().await.expect("body");
    (status, headers)
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().expect("ascii header"))
}

async fn stats(client: &reqwest::Client, site: &TestSite) -> SiteStats {
    let url = site.base_url().join("/__stats.json").expect("url");
    let body = client.get(url).send().await.expect("stats").bytes().await;
    serde_json::from_slice(&body.expect("stats body")).expect("stats json")
}

fn millis(e: &RequestLogEntry) -> f64 {
    e.started.as_secs_f64() * 1000.0
}

#[tokio::test]
async fn a_cap_refuses_exactly_beyond_it_and_counts_what_follows_the_refusal() {
    let site = site(
        1,
        vec![Behaviour {
            latency_ms: 1500,
            announce: Announce::Ietf,
            ..behaviour(Limit::Cap { max: 4 })
        }],
    )
    .await;
    let client = client();
    let slow: Vec<_> = (0..4)
        .map(|id| {
            let (client, url) = (client.clone(), site.base_url().join(&format!("/p/{id}")));
            tokio::spawn(async move { client.get(url.expect("url")).send().await })
        })
        .collect();
    while stats(&client, &site).await.per_host[0].peak_concurrency < 4 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in 4..6 {
        let (status, headers) = page(&client, &site, id).await;
        assert_eq!(status, 429);
        assert_eq!(header(&headers, "retry-after"), Some("1"));
        assert_eq!(
            header(&headers, "ratelimit-policy"),
            Some("\"default\";q=4;qu=\"concurrent-requests\"")
        );
        assert_eq!(header(&headers, "ratelimit"), Some("\"default\";r=0"));
    }
    let mut left = Vec::new();
    for task in slow {
        let resp = task.await.expect("task").expect("response");
        assert_eq!(resp.status(), 200);
        left.push(
            header(resp.headers(), "ratelimit")
                .expect("announced")
                .to_owned(),
        );
    }
    left.sort();
    // Each admission took one of the four slots.
    let expected: Vec<String> = (0..4).map(|r| format!("\"default\";r={r}")).collect();
    assert_eq!(left, expected);
    let (status, headers) = page(&client, &site, 7).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "ratelimit"), Some("\"default\";r=3"));
    let host = &stats(&client, &site).await.per_host[0];
    assert_eq!((host.requests, host.sent_429, host.sent_503), (7, 2, 0));
    assert_eq!(host.peak_concurrency, 4);
    // The second refusal arrived with four in flight after the first was answered.
    assert_eq!(host.peak_after_refusal, 5);
}

#[tokio::test]
async fn a_bucket_admits_its_burst_then_its_rate() {
    let b = Behaviour {
        announce: Announce::XRateLimit,
        ..behaviour(Limit::Bucket {
            per_sec: 4.0,
            burst: 3,
        })
    };
    let site = site(1, vec![b.clone()]).await;
    let client = client();
    let mut seen = Vec::new();
    for id in 0..40 {
        seen.push(page(&client, &site, id).await);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = site.request_log();
    assert_eq!(log.len(), seen.len());
    // The site's decisions are the limiter's on the arrival times it logged.
    let mut replay = Limiter::new(b);
    for (entry, (status, headers)) in log.iter().zip(&seen) {
        let verdict = replay.admit(millis(entry), 0);
        assert_eq!(
            *status,
            if verdict.admitted { 200 } else { 429 },
            "{entry:?}"
        );
        assert_eq!(entry.status, *status);
        let remaining = verdict.remaining.expect("announced").to_string();
        assert_eq!(header(headers, "x-ratelimit-remaining"), Some(&*remaining));
        // A refill of 3 tokens at 4/s takes under a second: one-second windows of 4.
        assert_eq!(header(headers, "x-ratelimit-limit"), Some("4"));
        if *status == 429 {
            assert_eq!(
                header(headers, "retry-after"),
                Some("1"),
                "a token comes within 1 s"
            );
        }
    }
    let admitted = seen.iter().filter(|(s, _)| *s == 200).count();
    let span_s = (millis(&log[log.len() - 1]) - millis(&log[0])) / 1000.0;
    assert!(admitted > 3, "the bucket refills: {admitted}");
    assert!(
        admitted as f64 <= 3.0 + 4.0 * span_s + 1.0,
        "{admitted} admitted in {span_s} s"
    );
    assert!(
        seen.iter().any(|(s, _)| *s == 429),
        "40 requests outrun 4/s"
    );
}

#[tokio::test]
async fn a_window_refuses_until_its_reset() {
    let b = Behaviour {
        announce: Announce::XRateLimit,
        ..behaviour(Limit::Window {
            quota: 3,
            window_ms: 1000,
        })
    };
    let site = site(1, vec![b]).await;
    let client = client();
    let mut seen = Vec::new();
    for id in 0..8 {
        seen.push(page(&client, &site, id).await);
    }
    let (_, last_refusal) = seen
        .iter()
        .rev()
        .find(|(s, _)| *s == 429)
        .expect("8 quick requests overrun 3 per second");
    let wait: u64 = header(last_refusal, "retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=1).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    seen.push(page(&client, &site, 9).await);
    assert_eq!(seen[8].0, 200, "admitted again after Retry-After");
    // Per window (from the site's start), the first three pass and the rest are refused.
    let log = site.request_log();
    let mut per_window = std::collections::BTreeMap::<u64, u32>::new();
    for (entry, (status, headers)) in log.iter().zip(&seen) {
        let n = per_window
            .entry(entry.started.as_millis() as u64 / 1000)
            .or_default();
        *n += 1;
        let expected = if *n <= 3 { 200 } else { 429 };
        assert_eq!(*status, expected, "{entry:?}");
        let remaining = 3u32.saturating_sub(*n).to_string();
        assert_eq!(header(headers, "x-ratelimit-remaining"), Some(&*remaining));
        assert_eq!(header(headers, "x-ratelimit-limit"), Some("3"));
        assert_eq!(header(headers, "x-ratelimit-reset"), Some("1"));
    }
}

#[tokio::test]
async fn a_refusal_after_latency_takes_the_latency_and_can_be_a_503() {
    let site = site(
        1,
        vec![Behaviour {
            latency_ms: 400,
            status: 503,
            timing: RefusalTiming::AfterLatency,
            ..behaviour(Limit::Cap { max: 1 })
        }],
    )
    .await;
    let client = client();
    let url = site.base_url().join("/p/0").expect("url");
    let first = tokio::spawn(client.get(url).send());
    while stats(&client, &site).await.per_host[0].peak_concurrency < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let asked = Instant::now();
    let (status, headers) = page(&client, &site, 1).await;
    let took = asked.elapsed();
    assert_eq!(status, 503);
    assert!(took >= Duration::from_millis(400), "{took:?}");
    assert_eq!(header(&headers, "retry-after"), Some("1"));
    assert_eq!(first.await.expect("task").expect("first").status(), 200);
    let s = stats(&client, &site).await;
    assert_eq!((s.sent_503, s.sent_429, s.per_host[0].sent_503), (1, 0, 1));
}

#[tokio::test]
async fn retry_after_comes_as_seconds_as_a_date_or_not_at_all() {
    let window = Limit::Window {
        quota: 1,
        window_ms: 3000,
    };
    let forms = [
        RetryAfterForm::Seconds,
        RetryAfterForm::HttpDate,
        RetryAfterForm::Absent,
    ];
    let behaviours = forms
        .iter()
        .map(|&retry_after| Behaviour {
            retry_after,
            ..behaviour(window)
        })
        .collect();
    let site = site(3, behaviours).await;
    let client = client();
    for (host, form) in forms.iter().enumerate() {
        let mut last = None;
        // Pages on host `host` are the ids equal to it modulo 3.
        for id in [host, host + 3] {
            let url = site.host_urls()[host]
                .join(&format!("/p/{id}"))
                .expect("url");
            let resp = client.get(url).send().await.expect("request");
            let date = header(resp.headers(), "date").expect("every response has a Date");
            httpdate::parse_http_date(date).expect("Date parses");
            last = Some((resp.status().as_u16(), resp.headers().clone()));
        }
        let (status, headers) = last.expect("two requests");
        assert_eq!(status, 429, "{form:?}: one per 3 s");
        let value = header(&headers, "retry-after");
        match form {
            RetryAfterForm::Seconds => {
                let secs: u64 = value.expect("seconds").parse().expect("whole seconds");
                assert!((1..=3).contains(&secs), "{secs}");
            }
            RetryAfterForm::HttpDate => {
                let at = httpdate::parse_http_date(value.expect("date")).expect("a date");
                let date = httpdate::parse_http_date(header(&headers, "date").expect("date"))
                    .expect("Date parses");
                let ahead = at.duration_since(date).expect("Retry-After after Date");
                assert!(ahead >= Duration::from_secs(1), "{ahead:?}");
                assert!(ahead <= Duration::from_secs(4), "{ahead:?}");
                assert!(at > SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
            }
            RetryAfterForm::Absent => assert_eq!(value, None),
        }
    }
}

#[tokio::test]
async fn announced_ietf_fields_carry_the_window() {
    let site = site(
        1,
        vec![Behaviour {
            announce: Announce::Ietf,
            ..behaviour(Limit::Window {
                quota: 5,
                window_ms: 2000,
            })
        }],
    )
    .await;
    let client = client();
    let (status, headers) = page(&client, &site, 0).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        Some("\"default\";q=5;w=2")
    );
    let current = header(&headers, "ratelimit").expect("RateLimit");
    let t: u64 = current
        .strip_prefix("\"default\";r=4;t=")
        .expect("four left")
        .parse()
        .expect("t");
    assert!((1..=2).contains(&t), "{current}");
    assert_eq!(header(&headers, "x-ratelimit-limit"), None);
}

#[tokio::test]
async fn a_limit_can_change_mid_run() {
    let change_ms = 1500;
    let site = site(
        1,
        vec![Behaviour {
            change: Some(LimitChange {
                at_ms: change_ms,
                limit: None,
            }),
            ..behaviour(Limit::Window {
                quota: 1,
                window_ms: 60_000,
            })
        }],
    )
    .await;
    let client = client();
    for id in 0..3 {
        page(&client, &site, id).await;
    }
    let until_change =
        Duration::from_millis(change_ms).saturating_sub(site.request_log()[0].started);
    tokio::time::sleep(until_change + Duration::from_millis(50)).await;
    for id in 3..6 {
        page(&client, &site, id).await;
    }
    let log = site.request_log();
    assert_eq!(log.len(), 6);
    assert_eq!(log[0].status, 200);
    for entry in &log[1..] {
        let expected = if millis(entry) >= change_ms as f64 {
            200
        } else {
            429
        };
        assert_eq!(entry.status, expected, "{entry:?}");
    }
    assert_eq!(log[5].status, 200, "the limit is lifted");
}

#[tokio::test]
async fn fifty_drawn_behaviours_serve_with_consistent_stats() {
    let draws: Vec<Behaviour> = (0..50).map(Behaviour::draw).collect();
    let hosts = draws.len();
    let site = site(hosts, draws.clone()).await;
    let client = client();
    let per_host = 6;
    let mut tasks = Vec::new();
    for host in 0..hosts {
        for k in 0..per_host {
            let id = host + k * hosts;
            let url = site.host_urls()[host]
                .join(&format!("/p/{id}"))
                .expect("url");
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let resp = client.get(url).send().await.expect("request");
                let status = resp.status().as_u16();
                resp.bytes().await.expect("body");
                (host, status)
            }));
        }
    }
    let mut statuses = vec![Vec::new(); hosts];
    for task in tasks {
        let (host, status) = task.await.expect("no panic");
        statuses[host].push(status);
    }
    let s = stats(&client, &site).await;
    let mut refused_total = 0;
    for (host, b) in draws.iter().enumerate() {
        let got = &statuses[host];
        let admitted = got.iter().filter(|&&st| st == 200).count();
        let refused = got.len() - admitted;
        refused_total += refused;
        assert!(
            got.iter().all(|&st| st == 200 || st == b.status),
            "host {host}: {got:?} {b:?}"
        );
        let h = &s.per_host[host];
        assert_eq!(h.requests, per_host as u64, "host {host}");
        assert_eq!(h.sent_429 + h.sent_503, refused as u64, "host {host}");
        assert!(h.peak_concurrency <= per_host as u64, "host {host}");
        assert!(admitted >= 1, "host {host}: {got:?} {b:?}");
        match b.limit {
            None => assert_eq!(refused, 0, "host {host}"),
            Some(Limit::Cap { max }) => assert!(admitted >= max.min(per_host), "host {host}"),
            Some(_) => {}
        }
        if refused == 0 {
            assert_eq!(h.peak_after_refusal, 0, "host {host}");
        }
    }
    assert_eq!((s.sent_429 + s.sent_503) as usize, refused_total);
    assert!(refused_total > 0, "some of fifty draws refuse six at once");
}
