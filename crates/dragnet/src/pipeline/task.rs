//! One URL's task: robots.txt, fetch with retries, process on the CPU pool, hand the record
//! to the sinks, complete the lease with the links found.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use dragnet_extract::{ItemRules, LinkSelector};
use url::Url;

use crate::error::Error;
use crate::fetch::{
    Attempted, FailureKind, FetchFailure, Fetcher, RedirectGuard, Retrier, RetryPolicy,
    fetch_with_retries,
};
use crate::frontier::{Frontier, FrontierError, Lease, Outcome};
use crate::gate::{Gate, Permit};
use crate::process::{CpuPool, PageRules, process};
use crate::request::CrawlRequest;
use crate::robots::{RobotsCache, Verdict};
use crate::scope::ScopeRules;
use crate::sink::{PageRecord, SinkSet};
use crate::stats::Stats;

/// What every URL task needs, shared.
pub(super) struct TaskContext<F> {
    /// What to pull out of pages: links to follow and item rules. Shared with the CPU pool.
    pub(super) extraction: Arc<(Option<LinkSelector>, Option<ItemRules>)>,
    pub(super) rules: ScopeRules,
    pub(super) robots: Option<RobotsCache>,
    pub(super) max_crawl_delay: Duration,
    pub(super) max_depth: u32,
    pub(super) max_body: u64,
    pub(super) policy: RetryPolicy,
    pub(super) fetcher: Fetcher,
    pub(super) pool: CpuPool,
    pub(super) sinks: SinkSet,
    pub(super) frontier: Arc<F>,
    pub(super) gate: Arc<Gate>,
    pub(super) stats: Arc<Stats>,
    /// First 8 bytes of the sha256 of every body seen: 8 bytes a page (plus the set's
    /// overhead) to tell repeated content apart. A 64-bit prefix collides about once in
    /// 2^32 pages, which would only mark one page a duplicate by mistake.
    pub(super) bodies_seen: std::sync::Mutex<std::collections::HashSet<u64>>,
}

impl<F> TaskContext<F> {
    fn is_duplicate_body(&self, sha256_hex: &str) -> bool {
        let prefix = sha256_hex
            .get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or_default();
        let fresh = self
            .bodies_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(prefix);
        if !fresh {
            self.stats.add(&self.stats.duplicates, 1);
        }
        !fresh
    }
}

/// One URL, start to end: fetch (with retries), process on the pool, write, complete.
pub(super) async fn run_task<F: Frontier>(
    ctx: Arc<TaskContext<F>>,
    lease: Lease,
    host: String,
    permit: Permit,
) -> Result<(), Error> {
    let request = &lease.request;
    let (record, discovered) = match admit(&ctx, &request.url, &host, permit).await {
        Ok(permit) => fetch_and_process(&ctx, &lease, &host, permit).await,
        Err(skip) => (failed_record(request, 0, &skip, None), Vec::new()),
    };
    let attempts = record.attempts;
    if attempts > 0 {
        ctx.stats.add(&ctx.stats.pages_requested, 1);
    }
    let outcome = match &record.error {
        None => Outcome::Done { attempts },
        Some(reason) => {
            if attempts == 0 || *reason == FailureKind::RedirectToSeen.label() {
                ctx.stats.record_skip(reason);
            } else {
                ctx.stats.record_failure(reason);
            }
            tracing::debug!(message = "URL not fetched.", url = %record.url, reason = %reason);
            Outcome::Failed {
                reason: reason.clone(),
                attempts,
            }
        }
    };
    if ctx.frontier.is_durable() {
        ctx.sinks.send_durable(Arc::new(record)).await?;
    } else {
        ctx.sinks.send(Arc::new(record)).await?;
    }
    let sent = discovered.len() as u64;
    match ctx.frontier.complete(&lease, outcome, discovered).await {
        Ok(added) => {
            ctx.stats.add(&ctx.stats.discovered, added);
            ctx.stats.add(&ctx.stats.links_queued, added);
            ctx.stats
                .add(&ctx.stats.links_duplicate, sent.saturating_sub(added));
        }
        // The lease expired and went to another worker (a shared frontier): its result will
        // be recorded there. Ours is dropped; the only cost is the duplicate fetch.
        Err(FrontierError::StaleLease { key, .. }) => {
            tracing::warn!(message = "Lease lost before completion; result dropped.", %key);
            ctx.stats.add(&ctx.stats.stale_leases, 1);
            ctx.stats.record_dropped_links_n("stale_lease", sent);
        }
        Err(error) => return Err(error.into()),
    }
    Ok(())
}

/// robots.txt for `url`'s host: skip the URL, or go ahead (after the host's Crawl-delay
/// when robots.txt was just read and asks for one).
async fn admit<F: Frontier>(
    ctx: &TaskContext<F>,
    url: &Url,
    host: &str,
    permit: Permit,
) -> Result<Permit, FetchFailure> {
    let Some(robots) = &ctx.robots else {
        return Ok(permit);
    };
    match robots.verdict(url).await {
        Verdict::Disallowed => Err(FetchFailure::new(
            FailureKind::RobotsDisallowed,
            "robots.txt disallows it",
            url,
        )),
        Verdict::Unreachable => Err(FetchFailure::new(
            FailureKind::RobotsUnreachable,
            "robots.txt could not be read, so the host is off limits for now",
            url,
        )),
        Verdict::Allowed {
            crawl_delay: Some(delay),
            fresh: true,
        } => {
            ctx.gate
                .set_host_interval(host, delay.min(ctx.max_crawl_delay));
            drop(permit);
            Ok(ctx.gate.acquire(host).await)
        }
        Verdict::Allowed { .. } => Ok(permit),
    }
}

/// Fetches (with retries) and processes one URL: its record and the links to queue.
async fn fetch_and_process<F: Frontier>(
    ctx: &TaskContext<F>,
    lease: &Lease,
    host: &str,
    permit: Permit,
) -> (PageRecord, Vec<CrawlRequest>) {
    let request = &lease.request;
    let retrier = Retrier {
        fetcher: &ctx.fetcher,
        gate: &ctx.gate,
        stats: Some(&ctx.stats),
        policy: ctx.policy,
    };
    let Attempted { result, attempts } = fetch_with_retries(
        retrier,
        &request.url,
        host,
        permit,
        &LeaseGuard { ctx, lease },
    )
    .await;
    match result {
        Ok(fetched) => {
            let fetched = Arc::new(fetched);
            let follow_links = request.depth < ctx.max_depth;
            let max_body = ctx.max_body;
            let job = {
                let fetched = Arc::clone(&fetched);
                let extraction = Arc::clone(&ctx.extraction);
                move || {
                    let rules = PageRules {
                        follow: extraction.0.as_ref().filter(|_| follow_links),
                        items: extraction.1.as_ref(),
                    };
                    process(&fetched, &rules, max_body)
                }
            };
            match ctx.pool.run(job).await {
                Ok(processed) => {
                    ctx.stats
                        .record_ok(processed.body.len() as u64, fetched.elapsed);
                    let found = processed.links.len() as u64 + processed.unusable_links;
                    ctx.stats.add(&ctx.stats.links_found, found);
                    ctx.stats
                        .record_dropped_links_n("unusable_link", processed.unusable_links);
                    ctx.stats
                        .add(&ctx.stats.tags_dropped, processed.dropped_tags);
                    let discovered = admit_links(ctx, request.depth + 1, processed.links);
                    let duplicate = ctx.is_duplicate_body(&processed.sha256);
                    if let Some(label) = processed.not_parsed {
                        ctx.stats.record_not_parsed(label);
                    }
                    let record = PageRecord {
                        url: request.url.clone(),
                        final_url: Some(fetched.final_url.clone()),
                        status: Some(fetched.status),
                        depth: request.depth,
                        attempts,
                        fetch_ms: fetched.elapsed.as_millis() as u64,
                        fetched_at: SystemTime::now(),
                        content_type: fetched.content_type().map(str::to_owned),
                        body: Some(processed.body),
                        sha256: Some(processed.sha256),
                        is_html: processed.is_html,
                        duplicate,
                        canonical: processed.canonical,
                        not_parsed: processed.not_parsed,
                        error: None,
                        error_message: None,
                        exchange: Some(Arc::clone(&fetched)),
                        items: processed.items,
                    };
                    (record, discovered)
                }
                Err(decode) => {
                    let mut failure =
                        FetchFailure::new(decode.kind, decode.message, &fetched.final_url);
                    failure.elapsed = fetched.elapsed;
                    (
                        failed_record(request, attempts, &failure, Some(fetched.status)),
                        Vec::new(),
                    )
                }
            }
        }
        Err(failure) => {
            let status = match failure.kind {
                FailureKind::Status(code) => Some(code),
                _ => None,
            };
            (
                failed_record(request, attempts, &failure, status),
                Vec::new(),
            )
        }
    }
}

/// Redirects pass the same checks as links: scope, patterns, traps, robots.txt.
impl<F: Frontier> RedirectGuard for TaskContext<F> {
    fn check<'a>(
        &'a self,
        target: &'a Url,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchFailure>> + Send + 'a>>
    {
        Box::pin(async move {
            self.rules
                .check(target)
                .map_err(|kind| FetchFailure::new(kind, format!("redirect to {target}"), target))?;
            let verdict = match &self.robots {
                Some(robots) => robots.verdict(target).await,
                None => return Ok(()),
            };
            match verdict {
                Verdict::Allowed { .. } => Ok(()),
                Verdict::Disallowed => Err(FetchFailure::new(
                    FailureKind::RobotsDisallowed,
                    format!("redirect to {target}, which robots.txt disallows"),
                    target,
                )),
                Verdict::Unreachable => Err(FetchFailure::new(
                    FailureKind::RobotsUnreachable,
                    format!("redirect to {target}, whose robots.txt could not be read"),
                    target,
                )),
            }
        })
    }
}

/// The redirect checks of one lease: the crawl's rules, then a claim on the target in the
/// frontier, so a page reached by a redirect and by a link is fetched once, under the URL
/// that reached it first (the other is logged as `redirect_to_seen`, with the target as its
/// final URL).
struct LeaseGuard<'a, F> {
    ctx: &'a TaskContext<F>,
    lease: &'a Lease,
}

impl<F: Frontier> RedirectGuard for LeaseGuard<'_, F> {
    fn check<'a>(
        &'a self,
        target: &'a Url,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), FetchFailure>> + Send + 'a>>
    {
        Box::pin(async move {
            self.ctx.check(target).await?;
            match self.ctx.frontier.claim_redirect(self.lease, target).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(FetchFailure::new(
                    FailureKind::RedirectToSeen,
                    format!("redirect to {target}, which this crawl fetches under its own URL"),
                    target,
                )),
                Err(error) => Err(FetchFailure::new(
                    FailureKind::Other,
                    format!("redirect to {target} could not be recorded: {error}"),
                    target,
                )),
            }
        })
    }
}

fn failed_record(
    request: &CrawlRequest,
    attempts: u32,
    failure: &FetchFailure,
    status: Option<u16>,
) -> PageRecord {
    PageRecord {
        url: request.url.clone(),
        final_url: Some(failure.final_url.clone()),
        status,
        depth: request.depth,
        attempts,
        fetch_ms: failure.elapsed.as_millis() as u64,
        fetched_at: SystemTime::now(),
        content_type: None,
        body: None,
        sha256: None,
        is_html: false,
        duplicate: false,
        canonical: None,
        not_parsed: None,
        error: Some(failure.kind.label()),
        error_message: Some(failure.message.clone()),
        exchange: None,
        items: Vec::new(),
    }
}

/// The discovered links that may be crawled: within depth, in scope, not traps, within
/// the host's budget. The others are counted by reason.
fn admit_links<F>(ctx: &TaskContext<F>, depth: u32, links: Vec<Url>) -> Vec<CrawlRequest> {
    if depth > ctx.max_depth {
        ctx.stats
            .record_dropped_links_n("too_deep", links.len() as u64);
        return Vec::new();
    }
    let mut dropped: Vec<String> = Vec::new();
    let kept = links
        .into_iter()
        .filter(|link| match ctx.rules.admit_link(link) {
            Ok(()) => true,
            Err(reason) => {
                dropped.push(reason);
                false
            }
        })
        .map(|url| CrawlRequest { url, depth })
        .collect();
    ctx.stats.record_dropped_links(dropped);
    kept
}
